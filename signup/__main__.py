"""Run the signup site: `python -m signup --port N [--host H]`; settings from the environment (README.md)."""

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
    except (OSError, OverflowError, ValueError) as exc:
        print(f"signup: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"signup: listening on http://{args.host}:{server.server_address[1]}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
