"""`python -m scripts.pulumi_stack {preview,up,drift} --stack S`: the engine runs CI makes, in one place.

The workflows (preview.yml, apply.yml, drift.yml) and the end-to-end lane (tests/e2e) both run these, so
the `pulumi` invocations CI makes are the ones the tests prove against the real engine:

- `preview`: `pulumi preview --diff` (`--expect-no-changes` with `--no-changes`). Previews (and `drift`) run
  with `PULUMI_SKIP_CHECKPOINTS`: a preview persists nothing, yet without it the engine serializes the
  whole snapshot after every step it plans (at 50 tenants 86% of the engine's CPU in a preview; at 400 it
  made a preview take longer than the `up`).
- `up`: the roster and stack file are validated first (the checks `scripts.plan` makes, naming the key or
  tenant at fault); with `--base REF` a change that is only roster lines is applied with `--target` globs
  of the changed tenants (`scripts.changed_tenants`); then `pulumi up --yes --skip-preview --diff
  --continue-on-error`. `--continue-on-error` keeps one tenant's failure (a stuck purge, an API outage in
  one region) from holding back every other tenant's change; the run still exits non-zero, so the
  workflow fails and the failure is seen, and the next run retries what failed.
  `--bulk` (a new stack's first `up`, hundreds of tenants at once) runs it with `PULUMI_SKIP_CHECKPOINTS`:
  the file backend rewrites the whole checkpoint after every step, so a first `up` costs steps x state
  size (bench.engine: 4,809 bare resources take minutes of nothing but checkpoint writes); with it the
  state is written once, at the end, also when steps failed or the run was interrupted once with Ctrl-C.
  Only a killed process loses the run's record; the README's "A first `up` in bulk" says what that costs
  and how to recover. Refused for a stack that already has tenants in its state.
- `drift`: `pulumi preview --refresh --expect-no-changes --diff`.

Every run is `--non-interactive`; arguments after `--` go to `pulumi` unchanged (the tests add
`--event-log`). The CLI comes from PATH (Pulumi's installer, or `ALEX_PULUMI` naming the binary).
Exit codes: 0 done, 1 `pulumi` failed or found changes where none were expected, 2 could not run (no
`pulumi`, unusable roster or stack file, git failure).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from components.program import capacity_problem
from components.tenant import TENANT_TYPE
from config.shards import ShardError, load_shards
from scripts import cli
from scripts.changed_tenants import decide
from tenants.roster import REPO_ROOT

COMMANDS = ("preview", "up", "drift")


def pulumi_binary() -> str:
    named = os.environ.get("ALEX_PULUMI")
    found = named or shutil.which("pulumi")
    if not found:
        raise cli.CliError("no `pulumi` on PATH: install the CLI with Pulumi's installer (see the README)")
    return found


def pulumi_args(command: str, stack: str, *, targets: Sequence[str] = (), no_changes: bool = False) -> list[str]:
    """The arguments of the one `pulumi` run `command` makes for `stack`."""
    common = ["--stack", stack, "--non-interactive", "--diff"]
    if command == "preview":
        return ["preview", *common, *(["--expect-no-changes"] if no_changes else [])]
    if command == "drift":
        return ["preview", *common, "--refresh", "--expect-no-changes"]
    if command == "up":
        return ["up", *common, "--yes", "--skip-preview", "--continue-on-error", *(f"--target={t}" for t in targets)]
    raise cli.CliError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")


def up_targets(stack: str, base: str | None) -> list[str]:
    """The `--target` globs for an `up` measured from `base`; empty means the whole stack."""
    if not base:
        return []
    decision = decide(stack, base)
    print(f"pulumi_stack: change since {base}: {json.dumps(decision)}", file=sys.stderr, flush=True)
    targets = decision.get("targets")
    if decision.get("full", True) or not isinstance(targets, list):
        return []
    return [str(t) for t in targets]


def validate(stack: str) -> None:
    """The checks `scripts.plan` makes (stack file, roster, shards, capacity), before any engine run."""
    config = cli.stack_config(stack)
    roster, _ = cli.read_target(cli.Target(config, config.roster, config.plans))
    try:
        load_shards(config, roster)
    except ShardError as exc:
        raise cli.CliError(cli.one_line(str(exc))) from None
    problem = capacity_problem(config, roster)
    if problem:
        raise cli.CliError(problem)


def build_parser() -> cli.Parser:
    parser = cli.parser("pulumi_stack", (__doc__ or "").split("\n\n")[0])
    parser.add_argument("command", choices=COMMANDS, help="what to run")
    parser.add_argument("--stack", required=True, help="the stack (a file stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--base", metavar="REF", help="up: apply only the tenants changed since this commit")
    parser.add_argument("--no-changes", action="store_true", help="preview: fail if anything would change")
    parser.add_argument(
        "--bulk", action="store_true", help="up: a new stack's first up, its state written once at the end"
    )
    return parser


def stack_has_tenants(binary: str, stack: str) -> bool:
    """Whether the stack's state already holds a tenant (`pulumi stack export`; a new stack has none)."""
    export = subprocess.run(
        [binary, "stack", "export", "--stack", stack, "--non-interactive"],
        cwd=REPO_ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    if export.returncode != 0:
        raise cli.CliError(f"stack {stack}: could not read its state: {cli.one_line(export.stderr)[-300:]}")
    resources = json.loads(export.stdout or "{}").get("deployment", {}).get("resources") or []
    return any(str(r.get("type", "")) == TENANT_TYPE for r in resources)


def _body(argv: Sequence[str] | None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, extra = args_in[:cut], args_in[cut + 1 :]
    args = build_parser().parse_args(args_in)
    stack = args.stack
    targets: list[str] = []
    env = dict(os.environ)
    binary = pulumi_binary()
    if args.bulk and args.command != "up":
        raise cli.CliError("--bulk is for `up` only")
    if args.command in ("preview", "drift"):
        env["PULUMI_SKIP_CHECKPOINTS"] = "true"  # nothing is persisted: only the wasted serialization goes
    if args.command == "up":
        validate(stack)
        targets = up_targets(stack, args.base)
        if args.bulk:
            if stack_has_tenants(binary, stack):
                raise cli.CliError(
                    f"stack {stack}: --bulk is for a new stack's first up, and this one already has tenants;"
                    " run `up` without it (every step is then recorded as it happens)"
                )
            env["PULUMI_SKIP_CHECKPOINTS"] = "true"
            print(f"pulumi_stack: {stack}: bulk, the state is written at the end", file=sys.stderr, flush=True)
    command = [binary, *pulumi_args(args.command, stack, targets=targets, no_changes=args.no_changes), *extra]
    print(f"pulumi_stack: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    returncode = subprocess.run(command, cwd=REPO_ROOT, check=False, env=env).returncode
    return cli.EXIT_OK if returncode == 0 else cli.EXIT_ATTENTION


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("pulumi_stack", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
