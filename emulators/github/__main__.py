"""Serve the GitHub stand-in: `python -m emulators.github [--repo owner/name] [--token T] [--port P]`.

Prints `listening <url>` once ready and serves until killed or until stdin closes. Point the alerts
script at it with `GITHUB_API_URL=<url> GITHUB_REPOSITORY=<repo> GITHUB_TOKEN=<token>`.
"""

from __future__ import annotations

import argparse
import sys

from emulators.github.server import serve
from emulators.github.state import GitHubWorld


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.github", description=__doc__)
    parser.add_argument("--repo", default="octo/alerts", help="the one repository served (owner/name)")
    parser.add_argument("--token", default="ghp_emulator", help="the token requests must present")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--per-page-max", type=int, default=100, help="largest page served (to test pagination)")
    args = parser.parse_args(argv)
    world = GitHubWorld(repository=args.repo, token=args.token)
    with serve(world, port=args.port, max_per_page=args.per_page_max) as (url, _):
        print(f"listening {url}", flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


if __name__ == "__main__":
    sys.exit(main())
