"""The one fault vocabulary both emulators (Fly and Stripe) understand.

A `Fault` says which requests it hits (`method`, `path`, `skip`, `times`) and what they get:

* `when="before_work"`: the emulator does not do the request's work; `when="after_work"`: it does
  the work (creates the machine, say), then misbehaves, as when an answer is lost on the way back.
* `status` answers that status (the emulator's real error body unless `body` is given); `drop`
  closes the connection without an answer instead; neither (`status=None`) answers normally.
* `delay` seconds of the emulator's clock pass first (a slow server, to outlast a client timeout).
* `skip`: the first `skip` matching requests pass untouched (to fail, say, the second page).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

When = Literal["before_work", "after_work"]
Request = TypeVar("Request")
_WHEN = ("before_work", "after_work")


@dataclass
class Fault:
    path: str
    method: str = "*"
    status: int | None = 500
    when: When = "before_work"
    drop: bool = False
    delay: float = 0.0
    times: int = 1
    skip: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.when not in _WHEN:
            raise ValueError(f"Fault.when must be one of {_WHEN}, got {self.when!r}")
        if self.when == "after_work" and self.status is None and not self.drop:
            raise ValueError("an after_work fault needs a status or drop=True: otherwise it changes nothing")
        re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method.upper()) and re.search(self.path, path) is not None

    def replaces_answer(self) -> bool:
        """Whether the client gets something other than the normal answer (an error or a drop)."""
        return self.drop or self.status is not None


class FaultBook:
    """Armed faults, used up in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching the request, with one of its `skip` or `times` used up."""
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    return fault
            return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as an emulator answered it, for tests that count calls and writes."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int

    @property
    def writes(self) -> bool:
        return self.method in ("POST", "PATCH", "PUT", "DELETE")


class LoggingFaultBook(FaultBook, Generic[Request]):
    """A fault book that also keeps every request, for emulators that answer every request themselves.

    Such an emulator cannot drop a connection (it may run without sockets), so `drop` faults are refused.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self._log_lock = threading.Lock()
        self.log: list[Request] = []

    def add(self, fault: Fault) -> None:
        if fault.drop:
            raise ValueError(f"the {self._name} answers every request: drop is not supported")
        super().add(fault)

    def record(self, request: Request) -> None:
        with self._log_lock:
            self.log.append(request)

    def requests(self) -> list[Request]:
        with self._log_lock:
            return list(self.log)


class FaultsAndLog(Generic[Request]):
    """The test controls of an emulator server that injects faults and logs every request it answers."""

    def __init__(self) -> None:
        self._faults = FaultBook()
        self._log_lock = threading.Lock()
        self._log: list[Request] = []

    def inject(self, fault: Fault) -> None:
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def requests(self) -> list[Request]:
        with self._log_lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._log_lock:
            self._log.clear()
