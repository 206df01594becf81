"""`python -m scripts.status --stack S`: each tenant's Fly machine state and volume, and the edge, read-only.

Reads the Fly Machines API with GETs only, through the fleet collector (`ops.collector`, Fly
only), `ops.edge_status` and the project's Fly client (`providers.fly.client`;
`FLY_API_URL` / `FLY_API_TOKEN` from the environment): per tenant app, the machine list and the volume
list; on the edge app, its routers, the wildcard certificate and each custom domain's certificate with
the DNS records the customer must create. Prints a table, one summary line per machine state, then the
edge.

Exit codes: 0 every tenant looks as its roster state says and the edge serves, 1 something needs
attention (a missing app, machine, volume or certificate, a failed machine, a suspended tenant's machine
running, a volume smaller than its plan, a router down or failing its check), 2 could not run (no
token, Fly unreachable, token refused).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from config.stack_config import StackConfig
from ops import collector
from ops.collector import FleetUnreadable
from ops.edge_status import EdgeStatus, read_edge
from ops.fleet_health import TenantHealth
from providers.fly.client import FlyClient, open_client
from providers.fly.errors import FlyConfigError, FlyError
from scripts import cli
from tenants.roster import RosterEntry

PROGRESS_EVERY = 10


@dataclass
class TenantStatus:
    tenant: str
    username: str
    state: str
    app: str
    machine: str = "-"  # machine state(s), "none" or "no app"
    certificate: str = "-"
    volume_gb: int | None = None
    problems: list[str] = field(default_factory=list)


def status_of(health: TenantHealth) -> TenantStatus:
    """The status row of what the collector read from Fly."""
    return TenantStatus(
        tenant=health.tenant,
        username=health.username,
        state=health.state,
        app=health.app,
        machine=health.machine_state or "-",
        certificate=health.certificate_status or "-",
        volume_gb=health.volume_gb,
        problems=list(health.problems),
    )


def collect(fly: FlyClient, tenants: Sequence[RosterEntry], config: StackConfig) -> list[TenantStatus]:
    """The collector, Fly only (the status table needs nothing else); FleetUnreadable stops it."""
    found = collector.collect(
        tenants,
        config,
        now=datetime.now(UTC),
        fly=fly,
        progress=lambda done, total: cli.progress(f"  {done}/{total} tenants read"),
        progress_every=PROGRESS_EVERY,
    )
    return [status_of(health) for health in found]


def summary_lines(rows: Sequence[TenantStatus]) -> list[str]:
    """One line per machine state, naming the tenants in it."""
    by_state: dict[str, list[str]] = {}
    for row in rows:
        by_state.setdefault(row.machine, []).append(row.tenant)
    return [f"{state}: {len(ids)} ({', '.join(ids)})" for state, ids in sorted(by_state.items())]


def _render(rows: Sequence[TenantStatus]) -> str:
    headers = ("TENANT", "USERNAME", "ROSTER", "APP", "MACHINE", "CERTIFICATE", "VOLUME", "PROBLEMS")
    lines = [
        (
            row.tenant,
            row.username,
            row.state,
            row.app,
            row.machine,
            row.certificate,
            f"{row.volume_gb} GB" if row.volume_gb is not None else "-",
            "; ".join(row.problems) or "-",
        )
        for row in rows
    ]
    return cli.table(headers, lines)


def _body(argv: Sequence[str] | None) -> int:
    parser = cli.stack_parser("status", __doc__ or "")
    parser.add_argument("--json", action="store_true", help="print one JSON envelope instead of a table")
    args = parser.parse_args(argv)
    config, tenants = cli.load_stack(args)
    cli.progress(f"reading Fly status of {len(tenants)} tenant(s) in stack {args.stack}")
    try:
        fly = open_client()
    except FlyConfigError as exc:
        raise cli.CliError(str(exc)) from None
    try:
        with fly:
            rows = collect(fly, tenants, config)
            # No tenants, nothing to reach: an empty roster costs no request at all.
            edge = read_edge(fly, config, tenants) if tenants else EdgeStatus(config.edge_app_name)
    except FleetUnreadable as exc:
        raise cli.CliError(str(exc)) from None
    except FlyError as exc:  # anything the client raises that the collector did not place on a tenant
        raise cli.CliError(fly.scrub(str(exc))) from None
    attention = [row for row in rows if row.problems]
    code = cli.EXIT_ATTENTION if attention or edge.problems else cli.EXIT_OK
    machine_counts = Counter(row.machine for row in rows)
    if args.json:
        data = {
            "tenants": [asdict(row) for row in rows],
            "machine_states": dict(sorted(machine_counts.items())),
            "certificates": dict(sorted(Counter(row.certificate for row in rows).items())),
            "needs_attention": [row.tenant for row in attention],
            "edge": asdict(edge),
        }
        cli.print_json("status", args.stack, code, data)
        return code
    print(_render(rows) if rows else "no tenants in this roster")
    for line in summary_lines(rows):
        print(line)
    print(f"{len(rows)} tenant(s), {len(attention)} need attention")
    for line in edge_lines(edge, config) if tenants else ():
        print(line)
    return code


def edge_lines(edge: EdgeStatus, config: StackConfig) -> list[str]:
    routers = ", ".join(f"{region} {state}" for region, state in sorted(edge.routers.items())) or "none"
    lines = [f"edge {edge.app}: routers {routers}; *.{config.domain} certificate {edge.wildcard}"]
    for domain in edge.domains:
        records = "; ".join(f"{r['type']} {r['name']} -> {r['content']}" for r in domain.records)
        lines.append(
            f"  custom domain {domain.hostname} (tenant {domain.tenant}): certificate {domain.certificate}; "
            f"the customer creates: {records}"
        )
    lines += [f"  edge problem: {problem}" for problem in edge.problems]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("status", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
