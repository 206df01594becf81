"""What both Stripe CLIs share: choosing the roster, reading the key and the API address."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from components.inputs import BadInput, check_http_url
from components.stack_config import ConfigError, read_stack_file
from scripts.cli import CliError, one_line, require_credential
from tenants.plans import DEFAULT_PLANS, Plan

API_KEY_ENV = "STRIPE_API_KEY"
API_BASE_ENV = "STRIPE_API_BASE"


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
        raise CliError(one_line(str(exc))) from None
    return config.roster, config.plans


def api_key() -> str:
    return require_credential(API_KEY_ENV, "a Stripe secret or restricted key with read access")


def api_base(args: argparse.Namespace) -> str | None:
    """--api-base, else $STRIPE_API_BASE, else None (Stripe's); CliError naming the one that is malformed."""
    name = "--api-base" if args.api_base else API_BASE_ENV
    value = args.api_base or os.environ.get(API_BASE_ENV)
    if not value:
        return None
    try:
        return check_http_url(value, name)
    except BadInput as exc:
        raise CliError(str(exc)) from None
