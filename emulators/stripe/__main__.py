"""Serve a generated fake Stripe account: `python -m emulators.stripe --generate N [--port P]`.

Prints `listening <url>` once ready and serves until killed or until stdin closes, so a parent
process (the benchmark) can run it out of its own memory.
"""

from __future__ import annotations

import argparse
import sys

from emulators.clock import FakeClock
from emulators.stripe.server import serve
from emulators.stripe.state import StripeWorld

# A spread of statuses and prices, repeated: mostly paying customers, some churn and dunning.
_MIX = (
    [("active", "reader_monthly")] * 10 + [("active", "library_monthly")] * 4 + [("active", "reader_yearly")] * 2
    + [("trialing", "library_yearly"), ("past_due", "reader_monthly"), ("unpaid", "reader_monthly"),
       ("canceled", "reader_monthly"), ("canceled", "library_monthly"), ("incomplete", "reader_monthly")]
)  # fmt: skip


_AMOUNTS = {"reader_monthly": 400, "reader_yearly": 4000, "library_monthly": 900, "library_yearly": 9000}


def generate(world: StripeWorld, count: int, start: int = 1_760_000_000) -> None:
    """`count` customers with one subscription each, deterministic; the mix's prices are registered, so a
    client can also sign up through Checkout (`POST /v1/checkout/sessions`, then the hosted page's Pay)."""
    for key, amount in _AMOUNTS.items():
        if world.price_for_key(key) is None:
            world.add_price(key, amount, interval="year" if key.endswith("_yearly") else "month")
    now = world.clock
    try:
        for n in range(count):
            status, key = _MIX[n % len(_MIX)]
            # Each change's events are dated when it happened, as in an account that grew over time.
            world.clock = FakeClock(epoch=start + n * 60)
            cus = world.add_customer(username=f"user{n:05d}", email=f"user{n:05d}@example.com", created=start + n * 60)
            sub = world.subscribe(cus, key, status="active" if status == "canceled" else status)
            if status == "canceled":
                world.clock = FakeClock(epoch=start + n * 60 + 86400 * 20)
                world.cancel(sub, at=start + n * 60 + 86400 * 20)
    finally:
        world.clock = now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.stripe", description=__doc__)
    parser.add_argument("--generate", type=int, default=0, metavar="N", help="customers to create")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sk_test_emulator")
    parser.add_argument("--api-version", default=None, help="require this Stripe-Version header")
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="delay every API answer (0.3: Stripe's real)"
    )
    args = parser.parse_args(argv)
    if args.latency < 0:
        parser.error("--latency: expected 0 or more seconds")
    world = StripeWorld(api_key=args.api_key, api_version=args.api_version)
    generate(world, args.generate)
    with serve(world, port=args.port, latency=args.latency) as (url, _):
        print(f"listening {url}", flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


if __name__ == "__main__":
    sys.exit(main())
