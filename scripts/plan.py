"""Offline plan and cost of a stack: validates the roster and prints what the stack will hold.

Needs no credentials and no network: it reads `stacks/Pulumi.<stack>.yaml` and the roster, checks both
with the same rules as the Pulumi program, and prints per tenant and in total the Fly and Cloudflare
resources and their monthly cost at list prices (ops/pricing.py).
Exit codes: 0 valid, 1 the roster or stack config has problems (all listed, on one line), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from components.machine_config import bucket_name
from components.program import capacity_problem
from config.shards import ShardError, hosts_edge, load_shards
from config.stack_config import StackConfig
from scripts import cli, pricing
from tenants.roster import RosterEntry

# Published ceilings that cap tenants per stack or per account (DESIGN.md, references). DNS records and
# Let's Encrypt issuance no longer grow with tenants: the edge holds one wildcard certificate and one
# wildcard record for all of them (components/edge.py). Custom domains are each on the customer's own
# registered domain, so Let's Encrypt's per-domain limit is theirs, one certificate each.
LIMITS = {
    "account_tokens": 500,
}


@dataclass(frozen=True)
class TenantPlan:
    id: str
    username: str
    hostname: str
    app: str
    bucket: str
    plan: str
    state: str
    region: str
    machine: str  # running (scales to zero) | stopped | none
    volume_gb: int
    memory_mb: int
    quota_gb: float
    fly_month: float
    r2_month: float
    custom_domains: int = 0


def plan_tenant(entry: RosterEntry, settings: StackConfig, usage: pricing.Usage) -> TenantPlan:
    plan = settings.plans[entry.plan]
    month = pricing.tenant_month(plan, entry.state, usage)
    return TenantPlan(
        id=entry.id,
        username=entry.username,
        hostname=settings.hostname(entry.username),
        app=settings.app_name(entry.id),
        bucket=bucket_name(entry.id),
        plan=entry.plan,
        state=entry.state,
        region=entry.region or settings.fly_region,
        machine=month.machine,
        volume_gb=plan.volume_gb,
        memory_mb=plan.memory_mb,
        quota_gb=plan.quota_gb,
        fly_month=round(month.fly, 4),
        r2_month=round(month.r2, 4),
        custom_domains=len(entry.domains or ()) if entry.state != "purging" else 0,
    )


def totals(rows: Sequence[TenantPlan], settings: StackConfig, edge_domains: int | None = None) -> dict[str, object]:
    """`edge_domains`: custom domains on the edge, every shard's (None: this stack's). Only the domain's
    first shard pays for the edge and the signup site."""
    domains = sum(r.custom_domains for r in rows) if edge_domains is None else edge_domains
    host = hosts_edge(settings)
    edge = pricing.edge_month(len(settings.edge_regions), domains) if host else 0.0
    free_certs = min(domains, pricing.FLY_FREE_CERTS_PER_ORG) * pricing.FLY_CERT_MONTH
    quota = sum(r.quota_gb for r in rows)
    free_r2 = min(quota, pricing.R2_FREE_GB_MONTH) * pricing.R2_STORAGE_GB_MONTH
    signup = pricing.compute_month(256) if settings.signup_image and host else 0.0  # one always-on machine
    fly = max(sum(r.fly_month for r in rows) + edge + signup - free_certs, 0.0)
    r2 = max(sum(r.r2_month for r in rows) - free_r2, 0.0)
    return {
        "tenants": len(rows),
        "by_state": dict(sorted(Counter(r.state for r in rows).items())),
        "by_plan": dict(sorted(Counter(r.plan for r in rows).items())),
        "machines_running": sum(r.machine == "running" for r in rows),
        "volume_gb": sum(r.volume_gb for r in rows),
        "edge_routers": len(settings.edge_regions),
        "custom_domains": domains,
        "edge_month": round(edge, 2),
        "signup_month": round(signup, 2),
        "r2_quota_gb": round(quota, 2),
        "fly_month": round(fly, 2),
        "r2_month": round(r2, 2),
        "total_month": round(fly + r2, 2),
    }


@dataclass(frozen=True)
class ShardUse:
    stack: str
    tenants: int
    capacity: int
    hosts_edge: bool


def shard_warnings(shards: Sequence[ShardUse]) -> list[str]:
    warnings = [
        f"shard {s.stack} holds {s.tenants} of its {s.capacity} tenants: add a shard to alex-hosted:domainShards "
        "before new customers are refused"
        for s in shards
        if s.tenants >= s.capacity * 0.9
    ]
    if shards and all(s.tenants >= s.capacity for s in shards):
        warnings.append("every shard is full: the Stripe sync refuses new tenants until a shard is added")
    return warnings


def limit_warnings(rows: Sequence[TenantPlan]) -> list[str]:
    # Every tenant's token counts, purging ones too: the token lives until the tenant leaves the roster.
    count = len(rows)
    warnings = []
    if count > LIMITS["account_tokens"] * 0.9:
        warnings.append(
            f"{count} bucket tokens: a Cloudflare account holds {LIMITS['account_tokens']} tokens, "
            "the operator's own included"
        )
    return warnings


def _counts(values: Sequence[str]) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(Counter(values).items())) or "none"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def render_text(
    settings: StackConfig,
    roster: Path,
    rows: Sequence[TenantPlan],
    usage: pricing.Usage,
    shards: Sequence[ShardUse] = (),
    warnings: Sequence[str] = (),
    edge_domains: int | None = None,
) -> str:
    header = (
        "ID",
        "USERNAME",
        "PLAN",
        "STATE",
        "REGION",
        "MACHINE",
        "VOLUME",
        "MEMORY",
        "R2 QUOTA",
        "FLY $/MO",
        "R2 $/MO",
    )
    cells = [
        (
            r.id, r.username, r.plan, r.state, r.region, r.machine, f"{r.volume_gb} GB", f"{r.memory_mb} MB",
            f"{r.quota_gb:g} GB", f"{r.fly_month:.2f}", f"{r.r2_month:.2f}",
        )
        for r in rows
    ]  # fmt: skip
    lines = [f"Stack {settings.stack}: {len(rows)} tenant(s) under {settings.domain}, roster {_shown(roster)}"]
    lines.append(cli.table(header, cells))
    t = totals(rows, settings, edge_domains)
    if hosts_edge(settings):
        edge = (
            f"the edge ({t['edge_routers']} routers, the wildcard and {t['custom_domains']} custom domain "
            f"certificate(s): ${t['edge_month']:.2f}), the signup site: ${t['signup_month']:.2f}"
        )
    else:
        edge = f"the edge and the signup site are shard {settings.domain_shards[0]}'s"
    lines += [
        "",
        f"Totals: {t['tenants']} tenant(s): {_counts([r.state for r in rows])}; "
        f"plans: {_counts([r.plan for r in rows])}",
        f"  Fly: {t['machines_running']} machine(s) scaling to zero, {t['volume_gb']} GB of volumes, {edge}: "
        f"${t['fly_month']:.2f}/month",
        f"  Cloudflare R2: {t['r2_quota_gb']} GB of quota if full: ${t['r2_month']:.2f}/month",
        f"  Estimated total: ${t['total_month']:.2f}/month at list prices "
        f"(machines awake {usage.awake_fraction:.0%} of the month; see ops/pricing.py)",
    ]
    if shards:
        parts = ", ".join(
            f"{s.stack} {s.tenants}/{s.capacity}" + (" (the edge)" if s.hosts_edge else "") for s in shards
        )
        lines.append(f"  Shards of {settings.domain}: {parts} tenants")
    lines += [f"  Warning: {w}" for w in warnings]
    return "\n".join(lines)


def build_parser() -> cli.Parser:
    summary, details = (__doc__ or "").split("\n\n", 1)
    parser = cli.parser("plan", summary, epilog=details)  # the epilog: what it checks and the exit codes
    cli.add_stack_arguments(parser, positional=True)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument(
        "--awake-fraction", type=cli.fraction, default=pricing.Usage.awake_fraction,
        help="share of the month an active machine runs, 0 to 1 (default %(default)s)",
    )  # fmt: skip
    return parser


def _body(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if cli.stack_name(args) is None:
        raise cli.UsageError("name one stack, as `plan dev` or `plan --stack dev`")
    # An invalid stack file or roster is this script's finding, not a failure to run: exit 1.
    try:
        target = cli.resolve_target(args)
        roster, _ = cli.read_target(target)
    except cli.UsageError:
        raise
    except cli.CliError as exc:
        raise cli.CliError(exc.message, cli.EXIT_ATTENTION) from None
    settings, roster_path = target.config, target.roster
    assert settings is not None  # a stack is always named here
    problem = capacity_problem(settings, roster)
    try:
        shards = load_shards(settings, roster)
    except ShardError as exc:
        raise cli.CliError(cli.one_line(str(exc)), cli.EXIT_ATTENTION) from None
    if problem:
        raise cli.CliError(problem, cli.EXIT_ATTENTION)
    use = [ShardUse(s.stack, len(s.roster), s.settings.capacity, hosts_edge(s.settings)) for s in shards]
    edge_domains = sum(len(t.domains or ()) for s in shards for t in s.roster if t.state != "purging")
    usage = pricing.Usage(awake_fraction=args.awake_fraction)
    rows = [plan_tenant(entry, settings, usage) for entry in sorted(roster, key=lambda t: t.id)]
    warnings = limit_warnings(rows) + shard_warnings(use)
    if args.json:
        document = {
            "stack": settings.stack,
            "domain": settings.domain,
            "tenants": [asdict(r) for r in rows],
            "totals": totals(rows, settings, edge_domains),
            "shards": [asdict(u) for u in use],
            "warnings": warnings,
            "assumptions": asdict(usage),
        }
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        print(render_text(settings, roster_path, rows, usage, use, warnings, edge_domains))
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("plan", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
