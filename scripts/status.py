"""`python -m scripts.status --stack S`: each tenant's Fly machine state, certificate and volume, read-only.

Reads the Fly Machines API with GETs only, through the project's Fly client (`components.fly.client`;
`FLY_API_URL` / `FLY_API_TOKEN` from the environment): per tenant app, the machine list, the volume list
and the certificate of `<username>.<domain>`. Prints a table, then one summary line per machine state.

Exit codes: 0 every tenant looks as its roster state says, 1 something needs attention (a missing app,
machine, volume or certificate, a failed machine, a suspended tenant's machine running, a volume smaller
than its plan), 2 could not run (no token, Fly unreachable, token refused).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from components.fly import endpoints
from components.fly.client import FlyClient, open_client
from components.fly.errors import (
    FlyConfigError,
    FlyError,
    FlyNotFoundError,
    FlyRequestError,
    FlyStatusError,
)
from components.fly.states import MACHINE_GONE, MACHINE_RUNNING, VOLUME_GONE
from components.machine_config import VOLUME_NAME
from components.stack_config import StackConfig
from scripts import cli
from tenants.roster import RosterEntry
from tenants.states import STATES, TenantState

# Roster state -> the machine states that fit it (active tenants scale to zero by themselves).
FITS = {
    TenantState.ACTIVE: frozenset({"started", "stopped", "suspended", "starting", "stopping", "created", "updating"}),
    TenantState.SUSPENDED: frozenset({"stopped", "stopping", "created"}),
    TenantState.CANCELLED: frozenset({"stopped", "stopping", "created"}),
}
AUTH_FAILURES = frozenset({401, 403})


class FlyUnusable(Exception):
    """Fly cannot be read at all (unreachable, or the token refused): no tenant's row would mean anything."""


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


def _machines(fly: FlyClient, app: str) -> list[dict[str, Any]]:
    return [m for m in endpoints.list_machines(fly, app) if m.get("state") not in MACHINE_GONE]


def _volume(fly: FlyClient, app: str) -> dict[str, Any] | None:
    live = [
        v
        for v in endpoints.list_volumes(fly, app)
        if v.get("name") == VOLUME_NAME and v.get("state") not in VOLUME_GONE
    ]
    return live[0] if live else None


def tenant_status(fly: FlyClient, tenant: RosterEntry, config: StackConfig) -> TenantStatus:
    """One tenant's status; errors that affect every call (no answer, token refused) propagate."""
    app = config.app_name(tenant.id)
    status = TenantStatus(tenant.id, tenant.username, tenant.state, app)
    purging = tenant.state == TenantState.PURGING
    try:
        machines = _machines(fly, app)
    except FlyNotFoundError:
        status.machine = "no app"
        if not purging:
            status.problems.append(f"Fly app {app} does not exist")
        return status
    states = sorted(str(m.get("state")) for m in machines)
    status.machine = ",".join(states) if states else "none"
    fits = FITS.get(TenantState(tenant.state), frozenset()) if tenant.state in STATES else frozenset()
    if not purging and not states:
        status.problems.append("no machine")
    if len(states) > 1:
        status.problems.append(f"{len(states)} machines, expected one")
    for state in states:
        if state == "failed":
            status.problems.append("machine failed")
        elif not purging and state not in fits:
            status.problems.append(f"machine {state} but the tenant is {tenant.state}")
        elif purging and state in MACHINE_RUNNING:
            status.problems.append("machine still running while purging")
    volume = _volume(fly, app)
    if volume is not None:
        status.volume_gb = int(volume.get("size_gb") or 0)
        wanted = config.plans[tenant.plan].volume_gb
        if status.volume_gb < wanted:
            status.problems.append(f"volume {status.volume_gb} GB is smaller than plan {tenant.plan}'s {wanted} GB")
    elif not purging:
        status.problems.append(f"no volume named {VOLUME_NAME}")
    cert = endpoints.get_certificate(fly, app, config.hostname(tenant.username))
    status.certificate = str(cert.get("status") or "unknown") if cert else "none"
    if cert is None and not purging:
        status.problems.append(f"no certificate for {config.hostname(tenant.username)}")
    return status


def collect(fly: FlyClient, tenants: Sequence[RosterEntry], config: StackConfig) -> list[TenantStatus]:
    rows = []
    for index, tenant in enumerate(tenants, start=1):
        try:
            rows.append(tenant_status(fly, tenant, config))
        # Error text is scrubbed again here: it lands in tables and JSON that get pasted into tickets.
        except FlyRequestError as exc:
            raise FlyUnusable(fly.scrub(f"Fly API unreachable at tenant {tenant.id}: {exc}")) from None
        except FlyStatusError as exc:
            if exc.status in AUTH_FAILURES:
                raise FlyUnusable(fly.scrub(f"Fly refused FLY_API_TOKEN (HTTP {exc.status}: {exc.message})")) from None
            row = TenantStatus(tenant.id, tenant.username, tenant.state, config.app_name(tenant.id), "error")
            row.problems.append(fly.scrub(str(exc)))
            rows.append(row)
        if index % 10 == 0:
            cli.progress(f"  {index}/{len(tenants)} tenants read")
    return rows


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
    except FlyUnusable as exc:
        raise cli.CliError(str(exc)) from None
    except FlyError as exc:  # anything the client raises that collect() did not place on a tenant
        raise cli.CliError(fly.scrub(str(exc))) from None
    attention = [row for row in rows if row.problems]
    code = cli.EXIT_ATTENTION if attention else cli.EXIT_OK
    machine_counts = Counter(row.machine for row in rows)
    if args.json:
        data = {
            "tenants": [asdict(row) for row in rows],
            "machine_states": dict(sorted(machine_counts.items())),
            "certificates": dict(sorted(Counter(row.certificate for row in rows).items())),
            "needs_attention": [row.tenant for row in attention],
        }
        cli.print_json("status", args.stack, code, data)
        return code
    print(_render(rows) if rows else "no tenants in this roster")
    for line in summary_lines(rows):
        print(line)
    print(f"{len(rows)} tenant(s), {len(attention)} need attention")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run("status", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
