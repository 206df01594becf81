"""`python -m scripts.changed_tenants --stack S --base REF`: what an `up` of S must touch, as `--target` URNs.

When a change is only roster lines, an `up` of the stack needs to touch only the tenants whose entries
changed (added, edited or removed) and, on the domain's edge host, the edge and the signup site (their
map and names follow every shard's roster). A full `up` of a shard evaluates the whole program and
diffs every resource; a targeted one still evaluates the program but steps only the targets
(`bench.program_eval`: 25 s of program alone at 400 tenants, of the funnel's 60-second goal).

Prints one JSON object: `{"full": true}` when anything but roster lines changed for this stack (the
program, the stack file, a roster that does not parse) or more than `--max-tenants` tenants changed;
else `{"full": false, "tenants": [...], "targets": [...]}` with URN globs in the engine's own syntax
(pkg/resource/deploy/deployment.go `UrnTargets`: `*` is any run without `:`, `**` anything):
`urn:pulumi:<stack>::alex-hosted::**::<id>` (the component) and `...::**::<id>-*` (its children, whose
names all start with `<id>-`: ids are 6-20 of a-z and 0-9, so no other tenant's names match).

Exit codes: 0 printed, 2 could not run (git failed, no such stack).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from config.config_keys import NAMESPACE
from config.shards import hosts_edge
from config.stack_config import ConfigError, StackConfig, read_stack_file
from scripts import cli
from scripts.affected_stacks import changed_paths, is_program_path
from tenants.plans import Plan
from tenants.roster import REPO_ROOT, RosterEntry, RosterError, parse_roster

DEFAULT_MAX_TENANTS = 20
CONTROL_PLANE = ("edge", "signup")  # the host's own resources: edge-*, signup-*


def tenant_targets(stack: str, tenant_ids: Sequence[str]) -> list[str]:
    prefix = f"urn:pulumi:{stack}::{NAMESPACE}::**::"
    return [glob for tid in sorted(tenant_ids) for glob in (f"{prefix}{tid}", f"{prefix}{tid}-*")]


def control_plane_targets(stack: str) -> list[str]:
    prefix = f"urn:pulumi:{stack}::{NAMESPACE}::**::"
    return [glob for name in CONTROL_PLANE for glob in (f"{prefix}{name}", f"{prefix}{name}-*")]


def changed_entries(old: Sequence[RosterEntry], new: Sequence[RosterEntry]) -> list[str]:
    """Ids added, removed or edited between two versions of one roster."""
    before, after = {t.id: t for t in old}, {t.id: t for t in new}
    return sorted(tid for tid in before.keys() | after.keys() if before.get(tid) != after.get(tid))


def roster_at(ref: str, path: Path, root: Path, plans: Mapping[str, Plan]) -> list[RosterEntry] | None:
    """The roster as it was at `ref` ([] when it did not exist there); None when it cannot be read."""
    relative = path.resolve().relative_to(root.resolve()).as_posix()
    shown = subprocess.run(
        ["git", "show", f"{ref}:{relative}"], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    if shown.returncode != 0:
        return [] if "does not exist" in shown.stderr or "exists on disk, but not in" in shown.stderr else None
    try:
        return parse_roster(shown.stdout, f"{ref}:{relative}", plans)
    except RosterError:
        return None


def plan_targets(
    settings: StackConfig,
    paths: Sequence[str],
    old_rosters: dict[str, list[RosterEntry] | None],
    new_rosters: dict[str, list[RosterEntry]],
    max_tenants: int = DEFAULT_MAX_TENANTS,
) -> dict[str, object]:
    """The decision, from the changed paths and each shard's roster before and after."""
    stack = settings.stack
    own_files = {f"stacks/Pulumi.{stack}.yaml"}
    if any(is_program_path(p) or p in own_files for p in paths):
        return {"full": True, "why": "the program or the stack file changed"}
    if old_rosters.get(stack) is None:
        return {"full": True, "why": "the roster before the change cannot be read"}
    changed = changed_entries(old_rosters[stack] or [], new_rosters[stack])
    if len(changed) > max_tenants:
        return {"full": True, "why": f"{len(changed)} tenants changed (more than {max_tenants})"}
    targets = tenant_targets(stack, changed)
    others = [s for s in settings.domain_shards if s != stack]
    if hosts_edge(settings) and (changed or any(old_rosters.get(s) != new_rosters.get(s) for s in others)):
        targets += control_plane_targets(stack)
    return {"full": False, "tenants": changed, "targets": targets}


def decide(stack: str, base: str, max_tenants: int = DEFAULT_MAX_TENANTS) -> dict[str, object]:
    """What an `up` of `stack` must touch for the change since `base` (the JSON this script prints)."""
    root = REPO_ROOT
    try:
        settings = read_stack_file(stack)
        shards = {s: settings if s == stack else read_stack_file(s) for s in settings.domain_shards}
    except ConfigError as exc:
        raise cli.CliError(cli.one_line(str(exc))) from None
    paths = changed_paths(base, root)
    old: dict[str, list[RosterEntry] | None] = {}
    new: dict[str, list[RosterEntry]] = {}
    for name, shard in shards.items():
        old[name] = roster_at(base, shard.roster, root, shard.plans)
        try:
            new[name] = parse_roster(shard.roster.read_text(encoding="utf-8"), str(shard.roster), shard.plans)
        except (RosterError, OSError) as exc:
            raise cli.CliError(cli.one_line(str(exc))) from None
    return plan_targets(settings, paths, old, new, max_tenants)


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.stack_parser("changed_tenants", __doc__ or "")
    parser.add_argument("--base", required=True, metavar="REF", help="the commit the change is measured from")
    parser.add_argument(
        "--max-tenants", type=cli.whole_number, default=DEFAULT_MAX_TENANTS, metavar="N",
        help=f"above N changed tenants, a full up (default {DEFAULT_MAX_TENANTS})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    print(json.dumps(decide(args.stack, args.base, args.max_tenants)))
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("changed_tenants", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
