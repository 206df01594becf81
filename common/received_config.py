"""What a dynamic provider's configure() received from the stack config, kept for its later calls.

Providers are pickled by reference and keep no attributes (nothing may reach `__provider` in state), so
the values a provider process is configured with live here, per process, under a lock. Each user names
the keys it keeps; the environment still wins over them where a module says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Protocol


class ConfigLike(Protocol):
    def get(self, key: str) -> Any: ...


class ReceivedConfig:
    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(keys)
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}

    def remember(self, config: ConfigLike) -> None:
        """Keep each key's non-empty text value; a key now absent or empty is forgotten."""
        with self._lock:
            for key in self.keys:
                value = config.get(key)
                if isinstance(value, str) and value:
                    self._values[key] = value
                else:
                    self._values.pop(key, None)

    def forget(self) -> None:
        """Drop everything received (tests)."""
        with self._lock:
            self._values.clear()

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._values)
