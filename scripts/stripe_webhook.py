"""Receive Stripe webhooks and run the sync: `python -m scripts.stripe_webhook --stack NAME --port N`.

A Starlette app on uvicorn (public_http) around billing.webhook.WebhookHandler: POST a Stripe event to
any path; the Stripe-Signature header is verified with stripe-python (400 when bad or stale), events
other than customer.subscription.*, customer.deleted and customer.updated are acknowledged and
ignored, and the rest are acknowledged at once and coalesce into one run per burst, runs one after
another (billing.coalesce). Each run is incremental (billing.incremental): it reads Stripe's events
since the cursor beside the roster and re-reads the customers they name, never the event's payload;
it lists every subscription instead when the cursor cannot be used, and at least every two hours (the
safety net, billing.cursor.FULL_EVERY).

It faces the internet: uvicorn's parser answers bad framing (400) and oversized heads (400), the
server's hook drops a head that does not arrive in time (408) and caps connections per address (429),
and the guard takes at most `POOL.total` requests at once (503 beyond), `POOL.per_client` of one
address (429 beyond), a body only with a Content-Length (411) of at most 1 MiB (413) that arrives in
time (408). One log line per request, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billing.cursor import cursor_path
from billing.report import RunSummary
from billing.stripe_source import make_client
from billing.sync import SyncSettings, run_sync
from billing.webhook import DEBOUNCE_S, MAX_EVENT_BYTES, EventIntake, WebhookHandler
from public_http.guard import BODY_TIMEOUT_S, Pool, RequestGuard
from public_http.server import DEFAULT_LIMITS, PublicServer, ServerLimits
from public_http.server import make_server as make_public_server
from scripts import cli
from scripts.stripe_sync import free_limits

SECRET_ENV = "STRIPE_WEBHOOK_SECRET"
MAX_BODY = MAX_EVENT_BYTES
# Stripe delivers a few events at a time, from a dozen addresses; beyond these a delivery gets 503 or 429
# at once, and Stripe delivers it again later.
POOL = Pool("webhook", total=32, per_client=8, max_body=MAX_BODY)


async def _refused(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = "POST Stripe events here" if exc.status_code == 405 else exc.detail
    return JSONResponse({"error": error}, exc.status_code, headers=dict(exc.headers or {}))


def webhook_app(intake: EventIntake, *, body_timeout_s: float = BODY_TIMEOUT_S, pool: Pool = POOL) -> RequestGuard:
    """The receiver as an ASGI app: every path takes POSTed events; the guard reads the body first."""

    async def receive(request: Request) -> Response:
        # Verifying is a hash of a body of at most 1 MiB, and intake.handle never waits for the sync:
        # it runs on the event loop, never behind a thread pool shared with slow work.
        answer = intake.handle(await request.body(), dict(request.headers))
        return JSONResponse(answer.body, answer.status)

    app = Starlette(
        routes=[Route("/{path:path}", receive, methods=["POST"])],
        exception_handlers={404: _refused, 405: _refused},
    )
    return RequestGuard(app, (pool,), lambda _path: pool.name, name="stripe_webhook", body_timeout_s=body_timeout_s)


def make_server(
    handler: EventIntake,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: ServerLimits = DEFAULT_LIMITS,
    *,
    body_timeout_s: float = BODY_TIMEOUT_S,
    pool: Pool = POOL,
) -> PublicServer:
    app = webhook_app(handler, body_timeout_s=body_timeout_s, pool=pool)
    return make_public_server(app, host, port, limits, "stripe_webhook")


def build_parser() -> cli.Parser:
    parser = cli.parser(
        "stripe_webhook",
        "Verify Stripe webhooks and run the roster sync for the events that matter.",
        epilog=f"environment: {SECRET_ENV} (the endpoint's whsec_ secret) and STRIPE_API_KEY are required.\n"
        "exit codes: 0 stopped normally; 2 could not start (missing secret or key, bad stack, bad or busy port).",
    )
    cli.add_stack_arguments(parser, roster_alone=True)
    cli.add_stripe_api_base(parser)
    parser.add_argument("--port", type=cli.port_number, default=8787, help="port to listen on (default 8787)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    cli.add_grace_days(parser)
    parser.add_argument(
        "--debounce",
        type=cli.seconds,
        default=DEBOUNCE_S,
        metavar="SECONDS",
        help=f"events within this window of the first make one sync run (default {DEBOUNCE_S:g})",
    )
    return parser


def _body(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    secret = cli.require_env(SECRET_ENV, "the webhook endpoint's signing secret, whsec_...")
    target = cli.resolve_target(args, roster_alone=True)
    if target.config is not None and len(target.config.domain_shards) > 1:
        # One shard's roster alone would take every new tenant past its capacity and could not see the
        # names the other shards hold; the signup site's receiver dispatches the sync of all of them.
        raise cli.UsageError(
            f"stack {target.config.stack} is one of several shards ({', '.join(target.config.domain_shards)}): "
            "run the signup site's webhook receiver, which dispatches the Stripe sync of every shard"
        )
    key = cli.stripe_api_key()
    base = cli.stripe_api_base(args)
    client = make_client(key, api_base=base)
    free = free_limits(target.config)
    settings = SyncSettings(
        roster=target.roster,
        plans=target.plans,
        grace_days=args.grace_days,
        free=free,
        cursor=cursor_path(target.roster),
        incremental=True,
    )

    def sync() -> RunSummary:
        return run_sync(settings, client, datetime.now(UTC), secret=key)

    handler = WebhookHandler(secret, sync, debounce_s=args.debounce)
    try:
        server = make_server(handler, args.host, args.port)
    except (OSError, OverflowError, ValueError, TypeError) as exc:  # busy port, address not ours, bad host
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise cli.CliError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    print(f"stripe_webhook: listening on http://{args.host}:{server.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        handler.close()
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("stripe_webhook", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
