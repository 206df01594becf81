"""`python -m emulators.cloudflare --token T --account A [--port P] [--zone ID=NAME] [--s3 URL]`: serve until Ctrl-C."""

from __future__ import annotations

import argparse

from emulators.cloudflare.s3 import S3Objects
from emulators.cloudflare.server import DEFAULT_ZONE, CloudflareEmulator
from emulators.serving import serve_until_interrupted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.cloudflare", description=__doc__)
    parser.add_argument("--port", type=int, default=4290, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--token", required=True, help="the accepted API token (40-80 of A-Z a-z 0-9 - _)")
    parser.add_argument("--account", required=True, help="the account id (32 hex digits)")
    parser.add_argument("--zone", action="append", default=[], metavar="ID=NAME", help="a DNS zone served (repeatable)")
    parser.add_argument("--s3", metavar="URL", help="an S3 endpoint (moto) R2 buckets are mirrored into")
    args = parser.parse_args(argv)
    zones = dict(z.split("=", 1) for z in args.zone) if args.zone else dict([DEFAULT_ZONE])
    objects = S3Objects(args.s3) if args.s3 else None
    emulator = CloudflareEmulator(
        token=args.token, account_id=args.account, zones=zones, objects=objects, port=args.port
    )
    return serve_until_interrupted(
        emulator.start, emulator.stop, banner=lambda: [f"Cloudflare API emulator listening on {emulator.url}"]
    )


if __name__ == "__main__":
    raise SystemExit(main())
