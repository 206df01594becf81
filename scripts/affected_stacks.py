"""`python -m scripts.affected_stacks --base REF`: the stacks a change touches, as a JSON list for a CI matrix.

A change to `tenants/<stack>.yaml` or `stacks/Pulumi.<stack>.yaml` affects that stack; a change to the
program (`__main__.py`, `Pulumi.yaml`, `components/`, `providers/`, `config/`, `common/`, `tenants/*.py`,
`requirements*.txt`) affects every stack. Only stacks that still have a stack file are listed (a removed stack
has nothing to preview).
The changed paths come from `git diff --name-only <base>...HEAD`, from `--paths` (tests, odd cases), or
`--stacks '["prod-2"]'` names the stacks directly (a manual or Stripe-sync apply; each must have a stack
file). `--base` of all zeros (a new branch pushed) counts as "everything changed".

Shards (config/shards.py): a domain's tenants are split across stacks listed, in the same order, in
each one's `alex-hosted:domainShards`; the first hosts the edge (the router whose map holds every shard's
hostnames) and the signup site, both built from every shard's roster. So a change to a shard also
affects the edge host of its domain, pulled in even when nothing of its own changed. A stack without the
key is a domain of one and hosts its own edge. `--wave` chooses what is printed:

  shards  the affected stacks that do not host an edge (`up` in parallel, first);
  edges   the affected edge hosts, directly or pulled in (`up` after the shards wave: their map then
          reaches the tenants the shards just created);
  all     both, sorted (the default: previews and the drift check, which need no order).

The stack files of the affected stacks and of their edge hosts are read (only the `domainShards` key is
used); one that cannot be read, or that names an edge host without a stack file or one that does not
list itself first, stops the run (exit 2, naming the file): a broken stack file must never silently
leave its edge out. With `--wave all` a change that affects every stack reads no stack file (every edge
is in the list anyway), so the drift check lists every stack even when one file is broken.

Exit codes: 0 printed the list (possibly empty), 2 could not run (e.g. git failed, a stack file broken).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from common.errors import OperationError
from config.config_keys import ConfigKey

# The key's one check, shared with the program's: a list of stack names, no repeats, this stack among them.
from config.stack_config import _domain_shards
from scripts import cli
from tenants.inputs import InputError, load_yaml, quote_value, read_text
from tenants.roster import REPO_ROOT

# Whole-string patterns (fullmatch): `$` would also accept a trailing newline.
_STACK_FILE_RE = re.compile(r"stacks/Pulumi\.([A-Za-z0-9_.-]+)\.yaml")
_ROSTER_RE = re.compile(r"tenants/([A-Za-z0-9_.-]+)\.yaml")
_PROGRAM_FILES = frozenset({"__main__.py", "Pulumi.yaml"})
_PROGRAM_DIRS = ("components/", "providers/", "config/", "common/")
_NULL_SHA = re.compile(r"0+")
WAVES = ("shards", "edges", "all")


class GitDiffFailed(OperationError):
    """git could not say which paths changed (no git, unknown ref, timeout)."""


class StackFileError(OperationError):
    """A stack file whose shards cannot be known: its edge host would be left out, so nothing is listed."""


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
    """The sorted stacks among `stacks` that the changed `paths` affect directly (no edge host pulled in)."""
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


def stack_file_name(stack: str) -> str:
    return f"stacks/Pulumi.{stack}.yaml"


def read_domain_shards(root: Path, stack: str) -> tuple[str, ...]:
    """The stack's `domainShards` (itself alone when absent); StackFileError names the file at fault."""
    name = stack_file_name(stack)
    try:
        data: Any = load_yaml(read_text(root / name))
    except InputError as exc:
        raise StackFileError(f"{name}: {exc}") from None
    if data is None:
        data = {}
    config: Any = (data.get("config") or {}) if isinstance(data, Mapping) else None
    if not isinstance(config, Mapping):
        raise StackFileError(f"{name}: expected a mapping with a 'config' mapping, as every stack file has")
    problems: list[str] = []
    shards = _domain_shards(stack, config.get(ConfigKey.DOMAIN_SHARDS.qualified), problems)
    if problems:
        raise StackFileError(f"{name}: {'; '.join(problems)}")
    return shards


@dataclass(frozen=True)
class Waves:
    """The affected stacks split by role: `shards` host no edge, `edges` do (directly affected or pulled in)."""

    shards: list[str]
    edges: list[str]
    pulled_in: list[str]

    def wave(self, name: str) -> list[str]:
        if name == "shards":
            return list(self.shards)
        if name == "edges":
            return list(self.edges)
        return sorted({*self.shards, *self.edges})


def waves(direct: Iterable[str], stacks: Sequence[str], shards_of: Callable[[str], tuple[str, ...]]) -> Waves:
    """Splits the directly affected stacks into shards and edge hosts, pulling in each shard's edge host.

    `shards_of(stack)` is the stack's `domainShards` (raising StackFileError for a file it cannot read).
    """
    known = set(stacks)
    cache: dict[str, tuple[str, ...]] = {}

    def listed(stack: str) -> tuple[str, ...]:
        if stack not in cache:
            cache[stack] = shards_of(stack)
        return cache[stack]

    shards: set[str] = set()
    edges: set[str] = set()
    direct_set = set(direct) & known
    for stack in sorted(direct_set):
        host = listed(stack)[0]
        if host == stack:
            edges.add(stack)
            continue
        shards.add(stack)
        if host not in known:
            raise StackFileError(
                f"{stack_file_name(stack)}: its edge host {quote_value(host)} (the first of domainShards) has no "
                f"stack file {stack_file_name(host)}"
            )
        if listed(host)[0] != host:
            raise StackFileError(
                f"{stack_file_name(stack)} names {host} as the domain's edge host (the first of domainShards), "
                f"but {stack_file_name(host)} lists {listed(host)[0]} first"
            )
        edges.add(host)
    return Waves(sorted(shards), sorted(edges), sorted(edges - direct_set))


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


def named_stacks(value: str, stacks: Sequence[str]) -> list[str]:
    """The `--stacks` JSON list: stack names, each with a stack file (a typo must not apply nothing)."""
    try:
        names: Any = json.loads(value)
    except ValueError:
        raise cli.UsageError(f"--stacks: expected a JSON list of stack names, got {quote_value(value)}") from None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise cli.UsageError(f"--stacks: expected a JSON list of stack names, got {quote_value(value)}")
    unknown = sorted(set(names) - set(stacks))
    if unknown:
        raise cli.CliError(f"--stacks: no stack file {stack_file_name(unknown[0])} for {quote_value(unknown[0])}")
    return sorted(set(names))


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.parser("affected_stacks", __doc__ or "")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--base", help="git ref to compare HEAD with (a merge base is used: base...HEAD)")
    source.add_argument("--paths", nargs="*", metavar="PATH", help="changed paths, relative to the repository root")
    source.add_argument("--stacks", metavar="JSON", help='stacks named directly, as a JSON list, e.g. ["prod-2"]')
    parser.add_argument(
        "--wave",
        choices=WAVES,
        default="all",
        help="shards: affected stacks hosting no edge; edges: the edge hosts to update after them; all: both",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    stacks = known_stacks(args.root)
    if args.stacks is not None:
        direct = named_stacks(args.stacks, stacks)
        what = f"{len(direct)} named stack(s)"
    else:
        if args.paths is not None:
            paths = args.paths
        elif _NULL_SHA.fullmatch(args.base):
            paths = ["Pulumi.yaml"]  # no previous commit to compare with: treat as a program change
        else:
            paths = changed_paths(args.base, args.root)
        direct = affected(paths, stacks)
        what = f"{len(paths)} changed path(s)"
    if args.wave == "all" and set(direct) == set(stacks):
        result = sorted(stacks)  # every edge host is already in: no stack file needs reading
        cli.progress(f"{what} affect all {len(stacks)} stack(s)")
    else:
        split = waves(direct, stacks, lambda stack: read_domain_shards(args.root, stack))
        result = split.wave(args.wave)
        pulled = f" ({', '.join(split.pulled_in)} pulled in as edge host)" if split.pulled_in else ""
        cli.progress(
            f"{what} affect {len(split.wave('all'))} of {len(stacks)} stack(s): shards wave "
            f"{len(split.shards)}, edges wave {len(split.edges)}{pulled}; printing wave {args.wave}"
        )
    print(json.dumps(result))
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("affected_stacks", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
