"""Run the signup site: `python -m signup --port N [--host H]`; settings from the environment (README.md).

The server is uvicorn (public_http.server), in this process, with the site's limits (signup/app.py)."""

from __future__ import annotations

import argparse
import os
import sys

from signup.app import SignupApp, make_server
from signup.availability import NamesFileError
from signup.settings import SettingsError, from_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m signup", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args(argv)
    try:
        app = SignupApp(from_env(os.environ))
    except (SettingsError, NamesFileError) as exc:
        print(f"signup: {exc}", file=sys.stderr)
        return 2
    try:
        server = make_server(app, args.host, args.port)
    except (OSError, OverflowError, ValueError, TypeError) as exc:
        print(f"signup: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"signup: listening on http://{args.host}:{server.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()  # until SIGTERM or SIGINT: uvicorn finishes the requests in flight first
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
