"""`python -m scripts.affected_stacks --base REF`: the stacks a change touches, as a JSON list for a CI matrix.

A change to `tenants/<stack>.yaml` or `stacks/Pulumi.<stack>.yaml` affects that stack; a change to the
program (`__main__.py`, `Pulumi.yaml`, `components/`, `tenants/*.py`, `requirements*.txt`) affects every
stack. Only stacks that still have a stack file are listed (a removed stack has nothing to preview).
The changed paths come from `git diff --name-only <base>...HEAD` or, for tests and odd cases, `--paths`.
`--base` of all zeros (a new branch pushed) counts as "everything changed".

Exit codes: 0 printed the list (possibly empty), 2 could not run (e.g. git failed).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from components.errors import OperationError
from scripts import cli
from tenants.roster import REPO_ROOT

# Whole-string patterns (fullmatch): `$` would also accept a trailing newline.
_STACK_FILE_RE = re.compile(r"stacks/Pulumi\.([A-Za-z0-9_.-]+)\.yaml")
_ROSTER_RE = re.compile(r"tenants/([A-Za-z0-9_.-]+)\.yaml")
_PROGRAM_FILES = frozenset({"__main__.py", "Pulumi.yaml"})
_PROGRAM_DIRS = ("components/",)
_NULL_SHA = re.compile(r"0+")


class GitDiffFailed(OperationError):
    """git could not say which paths changed (no git, unknown ref, timeout)."""


def known_stacks(root: Path) -> list[str]:
    return sorted(
        match.group(1)
        for path in (root / "stacks").glob("Pulumi.*.yaml")
        if (match := _STACK_FILE_RE.fullmatch(f"stacks/{path.name}"))
    )


def is_program_path(path: str) -> bool:
    pure = PurePosixPath(path)
    if path in _PROGRAM_FILES or path.startswith(_PROGRAM_DIRS):
        return True
    if pure.parent == PurePosixPath("tenants") and pure.suffix == ".py":
        return True
    return pure.parent == PurePosixPath(".") and pure.name.startswith("requirements") and pure.suffix == ".txt"


def affected(paths: Iterable[str], stacks: Sequence[str]) -> list[str]:
    """The sorted stacks among `stacks` that the changed `paths` affect."""
    hit: set[str] = set()
    for raw in paths:
        path = raw.strip().removeprefix("./")
        if not path:
            continue
        if is_program_path(path):
            return sorted(stacks)
        match = _STACK_FILE_RE.fullmatch(path) or _ROSTER_RE.fullmatch(path)
        if match:
            hit.add(match.group(1))
    return sorted(hit & set(stacks))


def changed_paths(base: str, root: Path) -> list[str]:
    try:
        result = subprocess.run(
            ["git", "diff", "--name-only", f"{base}...HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitDiffFailed(f"could not run git diff against {base!r}: {exc}") from None
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[:1] or ["no message"]
        raise GitDiffFailed(f"git diff --name-only {base}...HEAD failed: {detail[0]}")
    return result.stdout.splitlines()


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.parser("affected_stacks", __doc__ or "")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--base", help="git ref to compare HEAD with (a merge base is used: base...HEAD)")
    source.add_argument("--paths", nargs="*", metavar="PATH", help="changed paths, relative to the repository root")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    stacks = known_stacks(args.root)
    if args.paths is not None:
        paths = args.paths
    elif _NULL_SHA.fullmatch(args.base):
        paths = ["Pulumi.yaml"]  # no previous commit to compare with: treat as a program change
    else:
        paths = changed_paths(args.base, args.root)
    result = affected(paths, stacks)
    cli.progress(f"{len(paths)} changed path(s) affect {len(result)} of {len(stacks)} stack(s)")
    print(json.dumps(result))
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("affected_stacks", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
