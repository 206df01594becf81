"""`python -m emulators.fly --port 4280 [--token T] [--org O]`: serve the emulator and its proxy until Ctrl-C."""

from __future__ import annotations

import argparse
import threading

from emulators.fly.faults import ORG_LIMITS
from emulators.fly.server import FlyEmulator
from emulators.fly.speeds import REFERENCE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.fly", description=__doc__)
    parser.add_argument("--port", type=int, default=4280, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--token", default="test-fly-token", help="accepted API token")
    parser.add_argument("--org", default="personal", help="org slug the token may create apps in")
    parser.add_argument("--no-rate-limit", action="store_true", help="turn off every rate limit")
    rate, burst = ORG_LIMITS["apps.create"]
    parser.add_argument(
        "--app-create-limit",
        type=_limit,
        default=(rate, burst),
        metavar="RATE,BURST",
        help=f"org-wide app creates per second and burst (default {rate:g},{burst}; Fly publishes no number)",
    )
    parser.add_argument(
        "--transition", type=float, default=REFERENCE.transition, help="seconds in each transient state"
    )
    parser.add_argument("--proxy-port", type=int, default=0, help="port of Fly's proxy on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--cross-network-replay", action="store_true", help="the org allows fly-replay across private networks"
    )
    args = parser.parse_args(argv)
    emu = FlyEmulator(
        token=args.token,
        org=args.org,
        rate_limit=not args.no_rate_limit,
        org_limits={"apps.create": args.app_create_limit},
        transition=args.transition,
        port=args.port,
        proxy_port=args.proxy_port,
        cross_network_replay=args.cross_network_replay,
    )
    emu.start()
    print(f"Fly Machines API emulator listening on {emu.url}", flush=True)
    print(f"Fly proxy (send a Host header) listening on {emu.proxy_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


def _limit(text: str) -> tuple[float, int]:
    """`RATE,BURST`: a positive number of requests per second and a whole burst of at least 1."""
    rate, sep, burst = text.partition(",")
    try:
        limit = (float(rate), int(burst))
    except ValueError:
        limit = (0.0, 0)
    if not sep or not limit[0] > 0 or limit[1] < 1:
        raise argparse.ArgumentTypeError(f"expected RATE,BURST such as 1,3 (rate > 0, burst >= 1), got {text!r}")
    return limit


if __name__ == "__main__":
    raise SystemExit(main())
