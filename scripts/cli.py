"""What every operator script shares: exit codes, the one user-facing error, progress, output.

Exit codes: 0 all is well, 1 done but something needs the operator's attention, 2 could not run.
A `CliError` is printed as one line on stderr (`<script>: error: <message>`) with its exit code; any
other exception is a bug and keeps its traceback. Progress goes to stderr so stdout stays the result
(a table, or with `--json` one envelope: `{"command", "stack", "exit_code", "data"}`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from components.inputs import BadInput, check_credential, check_http_url
from components.stack_config import ConfigError, StackConfig, read_stack_file
from tenants.roster import RosterEntry, RosterError, read_roster

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_FAILED = 2


class CliError(Exception):
    """A problem the operator can act on; printed as one stderr line, never with a traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def run(prog: str, body: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """Runs a script's body and turns CliError (and argparse's exits) into an exit code."""
    try:
        return body(argv)
    except CliError as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr, flush=True)
        return exc.code
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return 130


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog=f"python -m scripts.{prog}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("--stack", required=True, help="stack name: reads stacks/Pulumi.<stack>.yaml and its roster")
    result.add_argument("--roster", help="roster file to use instead of the stack's (e.g. a copy)")
    return result


# argparse's int() and float() take "١٢", "+5", "1_0", "nan" and "inf"; flags take plain ASCII numbers only.
_WHOLE = re.compile(r"-?[0-9]{1,9}")
_SECONDS = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")


def whole_number(text: str) -> int:
    """argparse type: a whole number in ASCII digits (range checks stay with each flag)."""
    if not _WHOLE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 (any free one) to 65535."""
    if not _WHOLE.fullmatch(text) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    if not _SECONDS.fullmatch(text) or float(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return float(text)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def require_env(name: str, purpose: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise CliError(f"{name} is not set in the environment ({purpose})")
    return value


def require_credential(name: str, purpose: str) -> str:
    """As require_env, for a value sent in an HTTP header: one line naming it if it cannot be (never quoting it)."""
    try:
        return check_credential(require_env(name, purpose), name)
    except BadInput as exc:
        raise CliError(str(exc)) from None


def env_url(name: str, default: str) -> str:
    """An http(s) URL from the environment (else `default`); one line naming it when malformed."""
    try:
        return check_http_url(os.environ.get(name) or default, name)
    except BadInput as exc:
        raise CliError(str(exc)) from None


def load_stack(stack: str, roster: str | None = None) -> tuple[StackConfig, list[RosterEntry]]:
    """The stack's settings and its validated roster; problems become one CliError listing them all."""
    config, tenants, _ = read_stack(stack, roster)
    return config, tenants


def read_stack(stack: str, roster: str | None = None) -> tuple[StackConfig, list[RosterEntry], str]:
    """As load_stack, plus the roster's text, for a later write_roster(expected=text)."""
    try:
        config = read_stack_file(stack)
    except ConfigError as exc:
        raise CliError(one_line(str(exc))) from None
    path = roster or config.roster
    try:
        tenants, text = read_roster(path, config.plans)
    except RosterError as exc:
        raise CliError(one_line(str(exc))) from None
    return config, tenants, text


def find_tenant(tenants: Sequence[RosterEntry], tenant_id: str, stack: str) -> RosterEntry:
    for tenant in tenants:
        if tenant.id == tenant_id:
            return tenant
    raise CliError(f"tenant {tenant_id!r} is not in the roster of stack {stack!r}")


def parse_now(value: str | None) -> datetime:
    """`--now` for tests and replays: a date (midnight) or an ISO timestamp; UTC when no offset is given."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)  # Python 3.11 reads a bare date and a trailing Z too
    except ValueError:
        raise CliError(f"--now: expected YYYY-MM-DD or an ISO timestamp, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def print_json(command: str, stack: str, exit_code: int, data: Any) -> None:
    envelope = {"command": command, "stack": stack, "exit_code": exit_code, "data": data}
    print(json.dumps(envelope, indent=2, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def one_line(text: str) -> str:
    """Multi-problem messages stay readable on one stderr line: problems joined with '; '."""
    parts = [part.strip().removeprefix("- ") for part in text.splitlines() if part.strip()]
    return "; ".join(parts)
