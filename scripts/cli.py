"""The one CLI layer every operator script is built on: parse, run, map errors to exit codes and one line.

Exit codes: 0 all is well, 1 done but something needs the operator's attention, 2 could not run (a
usage error too). `run` is the skeleton: it parses with a `Parser` (whose usage errors raise
`UsageError` instead of exiting), runs the body, and turns a `CliError`, a library's typed
`OperationError` (common/errors.py) or a script's own mapped error into exactly one stderr line,
`<script>: error: <message>`, with every credential read through `require_env` scrubbed from it. Any
other exception is a bug and keeps its traceback. Progress goes to stderr so stdout stays the result
(a table, or with `--json` one envelope: `{"command", "stack", "exit_code", "data"}`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

from billing.reconcile import DEFAULT_GRACE_DAYS
from common import redact
from common.errors import OperationError
from common.sizes import human_bytes as human_bytes  # re-exported: scripts print sizes
from config.inputs import BadInput, check_credential, check_http_url
from config.stack_config import ConfigError, StackConfig, read_stack_file
from tenants.plans import DEFAULT_PLANS, Plan
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


class UsageError(CliError):
    """A bad flag or flag value: exit 2, like argparse, but through the same one-line error."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting (--help still exits 0)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# Secrets read during the current run (require_env, keep_secret); scrubbed from every error line.
_secrets: list[str] = []


def keep_secret(value: str) -> str:
    """Registers a secret that error lines of this run must never show; returns it."""
    _secrets.append(value)
    return value


def error_line(prog: str, message: str) -> str:
    return f"{prog}: error: {one_line(redact.scrub(message, _secrets))}"


def run(
    prog: str,
    body: Callable[[Sequence[str] | None], int],
    argv: Sequence[str] | None,
    codes: Mapping[type[Exception], int] | None = None,
) -> int:
    """Runs a script's body; CliError, OperationError and the types in `codes` become one line and a code.

    `codes` maps a script's own error types (say, a library error that means "needs attention") to exit
    codes; the first matching entry wins, before the defaults (CliError's code, OperationError: 2).
    """
    _secrets.clear()
    try:
        return body(argv)
    except SystemExit as exc:  # only --help and --version exit from inside argparse now
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:
        code = _code_of(exc, codes or {})
        if code is None:
            raise
        message = exc.message if isinstance(exc, CliError | OperationError) else str(exc)
        print(error_line(prog, message), file=sys.stderr, flush=True)
        return code
    finally:
        _secrets.clear()


def _code_of(exc: Exception, codes: Mapping[type[Exception], int]) -> int | None:
    for kind, code in codes.items():
        if isinstance(exc, kind):
            return code
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, OperationError):
        return EXIT_FAILED
    return None


def parser(prog: str, description: str, *, epilog: str | None = None) -> Parser:
    """A script's parser, named `python -m scripts.<prog>`; add the stack arguments with add_stack_arguments."""
    return Parser(
        prog=f"python -m scripts.{prog}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def stack_parser(prog: str, description: str, *, epilog: str | None = None) -> Parser:
    """A parser with the shared --stack (required) and --roster arguments."""
    result = parser(prog, description, epilog=epilog)
    add_stack_arguments(result)
    return result


def add_stack_arguments(
    parser: argparse.ArgumentParser, *, roster_alone: bool = False, positional: bool = False
) -> None:
    """--stack NAME (its settings, roster and plan table) and --roster PATH (a copy, checked with that table).

    `roster_alone`: --roster may come without --stack, checked with the default plan table (the Stripe
    scripts, for rosters outside any stack). `positional`: the stack may also be given bare (`plan dev`).
    """
    if positional:
        parser.add_argument("stack_name", nargs="?", metavar="STACK", help="the stack, as --stack takes it")
    required = not roster_alone and not positional
    parser.add_argument(
        "--stack",
        required=required,
        metavar="NAME",
        help="stack name: reads stacks/Pulumi.<NAME>.yaml, its roster and its plan table",
    )
    alone = " (without --stack: checked with the default plan table)" if roster_alone else ""
    parser.add_argument(
        "--roster", type=Path, metavar="PATH", help=f"roster file to use instead of the stack's (e.g. a copy){alone}"
    )


@dataclass(frozen=True)
class Target:
    """What the stack arguments chose: the stack's settings (None for a roster alone), roster and plans."""

    config: StackConfig | None
    roster: Path
    plans: Mapping[str, Plan]

    @property
    def stack(self) -> str:
        return self.config.stack if self.config else ""


def stack_name(args: argparse.Namespace) -> str | None:
    """The one stack the arguments name (positional or --stack), or None."""
    bare = getattr(args, "stack_name", None)
    if bare and args.stack and bare != args.stack:
        raise UsageError(f"two different stacks named: {bare!r} and --stack {args.stack!r}")
    name: str | None = bare or args.stack
    return name


def resolve_target(args: argparse.Namespace, *, roster_alone: bool = False) -> Target:
    """The roster file and plan table the stack arguments choose; a --roster copy keeps its stack's plans."""
    name = stack_name(args)
    if name is None:
        if roster_alone and args.roster is not None:
            return Target(None, Path(args.roster), DEFAULT_PLANS)
        raise UsageError("name a stack: --stack NAME" + (" or --roster PATH" if roster_alone else ""))
    config = stack_config(name)
    return Target(config, Path(args.roster) if args.roster else config.roster, config.plans)


def stack_config(stack: str) -> StackConfig:
    try:
        return read_stack_file(stack)
    except ConfigError as exc:
        raise CliError(one_line(str(exc))) from None


def add_grace_days(parser: argparse.ArgumentParser) -> None:
    """--grace-days, defined and validated here only (the Stripe sync and its webhook share it)."""
    parser.add_argument(
        "--grace-days",
        type=days,
        default=DEFAULT_GRACE_DAYS,
        metavar="N",
        help=f"days after a subscription ends before the tenant's data is purged (default {DEFAULT_GRACE_DAYS})",
    )


def read_target(target: Target) -> tuple[list[RosterEntry], str]:
    """The validated roster and its text (for a later write_roster(expected=text)); problems are one CliError."""
    try:
        return read_roster(target.roster, target.plans, domain=target.config.domain if target.config else None)
    except RosterError as exc:
        raise CliError(one_line(str(exc))) from None


def read_stack(args: argparse.Namespace) -> tuple[StackConfig, list[RosterEntry], str]:
    """For scripts that need the stack: its settings, the validated roster and the roster's text."""
    target = resolve_target(args)
    assert target.config is not None  # resolve_target without roster_alone always reads a stack
    tenants, text = read_target(target)
    return target.config, tenants, text


def load_stack(args: argparse.Namespace) -> tuple[StackConfig, list[RosterEntry]]:
    config, tenants, _ = read_stack(args)
    return config, tenants


# argparse's int() and float() take "١٢", "+5", "1_0", "nan" and "inf"; flags take plain ASCII numbers only.
_WHOLE = re.compile(r"-?[0-9]{1,9}")
_DAYS = re.compile(r"[0-9]{1,9}")
_SECONDS = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")
_FRACTION = re.compile(r"[0-9](?:\.[0-9]{1,9})?|\.[0-9]{1,9}")


def whole_number(text: str) -> int:
    """argparse type: a whole number in ASCII digits (range checks stay with each flag)."""
    if not _WHOLE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def days(text: str) -> int:
    """argparse type: a number of days, 0 or more, in ASCII digits."""
    if not _DAYS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected 0 or more days, got {text!r}")
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


def fraction(text: str) -> float:
    """argparse type: a plain decimal from 0 to 1."""
    if not _FRACTION.fullmatch(text) or not 0 <= float(text) <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return float(text)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def require_env(name: str, purpose: str) -> str:
    """A value from the environment, kept as a secret of this run (never shown in an error line)."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise CliError(f"{name} is not set in the environment ({purpose})")
    return keep_secret(value)


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
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def one_line(text: str) -> str:
    """Multi-problem messages stay readable on one stderr line: problems joined with '; '."""
    parts = [part.strip().removeprefix("- ") for part in text.splitlines() if part.strip()]
    return "; ".join(parts)


# The Stripe scripts (stripe_sync, stripe_webhook): the key and the API address.
STRIPE_API_KEY_ENV = "STRIPE_API_KEY"
STRIPE_API_BASE_ENV = "STRIPE_API_BASE"


def add_stripe_api_base(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-base",
        metavar="URL",
        help=f"Stripe API address (default: ${STRIPE_API_BASE_ENV}, else https://api.stripe.com); "
        "for tests and stripe-mock",
    )


def stripe_api_key() -> str:
    return require_credential(STRIPE_API_KEY_ENV, "a Stripe secret or restricted key with read access")


def stripe_api_base(args: argparse.Namespace) -> str | None:
    """--api-base, else $STRIPE_API_BASE, else None (Stripe's); CliError naming the one that is malformed."""
    name = "--api-base" if args.api_base else STRIPE_API_BASE_ENV
    value = args.api_base or os.environ.get(STRIPE_API_BASE_ENV)
    if not value:
        return None
    try:
        return check_http_url(value, name)
    except BadInput as exc:
        raise CliError(str(exc)) from None
