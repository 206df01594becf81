"""What both Stripe CLIs share: choosing the roster, reading the key, parsing --now."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from components.stack_config import ConfigError, read_stack_file
from tenants.plans import DEFAULT_PLANS, Plan

API_KEY_ENV = "STRIPE_API_KEY"
API_BASE_ENV = "STRIPE_API_BASE"


class UsageError(Exception):
    """A setting the run cannot start without; the message names it."""


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--roster", type=Path, metavar="PATH", help="the roster file to keep in step")
    target.add_argument("--stack", metavar="NAME", help="a stack: its roster (tenants/NAME.yaml) and its plan table")
    parser.add_argument(
        "--api-base",
        metavar="URL",
        help=f"Stripe API address (default: ${API_BASE_ENV}, else https://api.stripe.com); for tests and stripe-mock",
    )


def resolve_target(args: argparse.Namespace) -> tuple[Path, Mapping[str, Plan]]:
    if args.roster is not None:
        return Path(args.roster), DEFAULT_PLANS
    try:
        config = read_stack_file(args.stack)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return config.roster, config.plans


def api_key() -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"{API_KEY_ENV} is not set (a Stripe secret or restricted key with read access)")
    return key


def api_base(args: argparse.Namespace) -> str | None:
    return args.api_base or os.environ.get(API_BASE_ENV) or None


def parse_now(text: str | None) -> datetime:
    """`--now` as a date (midnight UTC) or an ISO timestamp; naive times are UTC."""
    if text is None:
        return datetime.now(UTC)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now: expected YYYY-MM-DD or an ISO timestamp, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
