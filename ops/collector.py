"""The fleet collector: one read-only pass over a stack's tenants that fills a `TenantHealth` for each.

Sources, each optional (a caller that needs only Fly passes only Fly):
- Fly Machines API (`providers.fly.endpoints`, GETs only): per tenant app, the machine list (state, the
  `events` Fly keeps for it: last start and restarts, the `checks` status list), the volume list and,
  on the edge app, the certificate of each custom domain. 2 requests a tenant plus one per custom
  domain; the client's token bucket per (action, app) keeps to Fly's published limits.
- R2 (the operator's S3 client, `ops.r2`): per tenant bucket, ListObjectsV2 on `db/` (newest snapshot)
  and `books/` (newest LastModified), and a GET of the image's status object. 3 requests a tenant and one
  more per extra 1,000 objects.
- Cloudflare's analytics: the account's usage per bucket, read once by the caller (`quota.fetch_usage`).
- The price table (`ops.pricing`): each tenant's month at list prices.

Tenants are read by a bounded thread pool (`workers`), which is also the bound on concurrent R2 and Fly
requests. A tenant whose reads fail is recorded with the failure among its problems and the run goes on;
a failure that would be the same for every tenant (no answer, credentials refused) stops the run with
`FleetUnreadable`, whose message never holds a credential.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from common.errors import OperationError
from components.machine_config import VOLUME_NAME, bucket_name
from config.stack_config import StackConfig
from ops import pricing, quota
from ops.alert_rules import ISSUED
from ops.fleet_health import TenantHealth
from ops.quota import Usage
from providers.fly import endpoints
from providers.fly.client import FlyClient
from providers.fly.errors import (
    FlyError,
    FlyNotFoundError,
    FlyRequestError,
    FlyResponseError,
    FlyStatusError,
)
from providers.fly.states import MACHINE_GONE, MACHINE_RUNNING, VOLUME_GONE
from tenants import bucket_layout
from tenants.roster import RosterEntry
from tenants.states import STATES, TenantState

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HEALTH_KEY = bucket_layout.HEALTH_KEY  # the image's own status object in its bucket
DEFAULT_WORKERS = 8
DEFAULT_PROGRESS_EVERY = 100
MAX_TENANTS = 10_000  # measured in bench/collector.py; the analytics query also returns at most 10,000 buckets

# Roster state -> the machine states that fit it (active tenants scale to zero by themselves).
FITS = {
    TenantState.ACTIVE: frozenset({"started", "stopped", "suspended", "starting", "stopping", "created", "updating"}),
    TenantState.SUSPENDED: frozenset({"stopped", "stopping", "created"}),
    TenantState.CANCELLED: frozenset({"stopped", "stopping", "created"}),
}
AUTH_FAILURES = frozenset({401, 403})
R2_AUTH_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Unauthorized"})
START_EVENTS = frozenset({"launch", "start", "restart"})
CHECK_RANK = {"passing": 0, "warning": 1, "critical": 2}

Progress = Callable[[int, int], None]  # (tenants done, tenants in all)


class FleetUnreadable(OperationError):
    """A source cannot be read at all (unreachable, credentials refused): no tenant's row would mean anything."""


class TooManyTenants(OperationError):
    """More tenants than the collector is measured for."""


@dataclass
class _Reading:
    """What one tenant's reads found so far; becomes a TenantHealth."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    unread: set[str] = field(default_factory=set)


def collect(
    tenants: Sequence[RosterEntry],
    config: StackConfig,
    *,
    now: datetime,
    fly: FlyClient | None = None,
    r2: S3Client | None = None,
    usage: Mapping[str, Usage] | None = None,
    progress: Progress | None = None,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
    workers: int = DEFAULT_WORKERS,
    cost_usage: pricing.Usage | None = None,
) -> list[TenantHealth]:
    """Every tenant's health, in roster order; raises FleetUnreadable or TooManyTenants."""
    if len(tenants) > MAX_TENANTS:
        raise TooManyTenants(f"{len(tenants)} tenants: the collector is measured for at most {MAX_TENANTS}")
    assumptions = cost_usage or pricing.Usage()
    done = 0
    lock = threading.Lock()

    def one(tenant: RosterEntry) -> TenantHealth:
        nonlocal done
        health = read_tenant(tenant, config, now=now, fly=fly, r2=r2, usage=usage, cost_usage=assumptions)
        with lock:
            done += 1
            if progress is not None and (done % progress_every == 0 or done == len(tenants)):
                progress(done, len(tenants))
        return health

    if not tenants:
        return []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collector") as pool:
        futures: list[Future[TenantHealth]] = [pool.submit(one, tenant) for tenant in tenants]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in finished and f.exception() is not None), None)
        if failed is not None:
            for future in futures:
                future.cancel()
            raise failed.exception()  # type: ignore[misc]  # not None: checked above
        return [future.result() for future in futures]


def read_tenant(
    tenant: RosterEntry,
    config: StackConfig,
    *,
    now: datetime,
    fly: FlyClient | None = None,
    r2: S3Client | None = None,
    usage: Mapping[str, Usage] | None = None,
    cost_usage: pricing.Usage | None = None,
) -> TenantHealth:
    """One tenant's health; only the errors that affect every tenant propagate (FleetUnreadable)."""
    plan = config.plans[tenant.plan]
    reading = _Reading()
    if fly is not None:
        _read_fly(fly, tenant, config, reading)
    if r2 is not None:
        _read_r2(r2, tenant, reading)
    if usage is not None and tenant.state != TenantState.PURGING:
        found = quota.usage_of(usage, tenant.id)
        reading.values["storage_bytes"] = found.bytes if found is not None else None
    month = pricing.tenant_month(plan, tenant.state, cost_usage or pricing.Usage())
    return TenantHealth(
        tenant=tenant.id,
        username=tenant.username,
        state=tenant.state,
        plan=tenant.plan,
        app=config.app_name(tenant.id),
        quota_bytes=plan.quota_bytes,
        monthly_cost_usd=round(month.total, 4),
        created_at=_midnight(tenant.created_at),
        problems=tuple(reading.problems),
        unread=frozenset(reading.unread),
        **reading.values,
    )


def _midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day is not None else None


# -- Fly ---------------------------------------------------------------------------------------------
def _read_fly(fly: FlyClient, tenant: RosterEntry, config: StackConfig, reading: _Reading) -> None:
    try:
        _fly_facts(fly, tenant, config, reading)
    # Error text is scrubbed again here: it lands in tables, JSON and pages that get pasted into tickets.
    except FlyRequestError as exc:
        raise FleetUnreadable(fly.scrub(f"Fly API unreachable at tenant {tenant.id}: {exc}")) from None
    except FlyStatusError as exc:
        if exc.status in AUTH_FAILURES:
            raise FleetUnreadable(fly.scrub(f"Fly refused FLY_API_TOKEN (HTTP {exc.status}: {exc.message})")) from None
        reading.values["machine_state"] = "error"
        reading.problems.append(fly.scrub(str(exc)))
        reading.unread.add("fly")
    except FlyResponseError as exc:  # an answer of the wrong shape: a proxy or a wrong URL, not this tenant
        raise FleetUnreadable(fly.scrub(str(exc))) from None
    except FlyError as exc:  # a refused path segment and the like: this tenant only
        reading.values["machine_state"] = "error"
        reading.problems.append(fly.scrub(str(exc)))
        reading.unread.add("fly")


def _fly_facts(fly: FlyClient, tenant: RosterEntry, config: StackConfig, reading: _Reading) -> None:
    app = config.app_name(tenant.id)
    purging = tenant.state == TenantState.PURGING
    problems = reading.problems
    try:
        machines = [m for m in endpoints.list_machines(fly, app) if m.get("state") not in MACHINE_GONE]
    except FlyNotFoundError:
        reading.values["machine_state"] = "no app"
        if not purging:
            problems.append(f"Fly app {app} does not exist")
        return
    states = sorted(str(m.get("state")) for m in machines)
    reading.values.update(
        machine_state=",".join(states) if states else "none",
        machine_last_start=_last_start(machines),
        machine_restarts=sum(_restarts(m) for m in machines) if machines else None,
        check_status=_check_status(machines),
    )
    fits = FITS.get(TenantState(tenant.state), frozenset()) if tenant.state in STATES else frozenset()
    if not purging and not states:
        problems.append("no machine")
    if len(states) > 1:
        problems.append(f"{len(states)} machines, expected one")
    for state in states:
        if state == "failed":
            problems.append("machine failed")
        elif not purging and state not in fits:
            problems.append(f"machine {state} but the tenant is {tenant.state}")
        elif purging and state in MACHINE_RUNNING:
            problems.append("machine still running while purging")
    live = [
        v
        for v in endpoints.list_volumes(fly, app)
        if v.get("name") == VOLUME_NAME and v.get("state") not in VOLUME_GONE
    ]
    if live:
        size = int(live[0].get("size_gb") or 0)
        reading.values["volume_gb"] = size
        wanted = config.plans[tenant.plan].volume_gb
        if size < wanted:
            problems.append(f"volume {size} GB is smaller than plan {tenant.plan}'s {wanted} GB")
    elif not purging:
        problems.append(f"no volume named {VOLUME_NAME}")
    # <username>.<domain> is the edge's wildcard (ops.edge_status); only custom domains have a
    # certificate of their own, on the edge app. The least advanced one is the tenant's status.
    for hostname in tenant.domains or () if not purging else ():
        cert = endpoints.get_certificate(fly, config.edge_app_name, hostname)
        if cert is None:
            problems.append(f"no certificate for {hostname} on the edge")
        status = str(cert.get("status") or "unknown") if cert else "none"
        if reading.values.get("certificate_status") in (None, *ISSUED):
            reading.values["certificate_status"] = status
            reading.values["certificate_created_at"] = _timestamp(cert.get("created_at")) if cert else None


def _events(machine: Mapping[str, Any]) -> list[dict[str, Any]]:
    events = machine.get("events")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def _last_start(machines: Sequence[Mapping[str, Any]]) -> datetime | None:
    """The newest launch, start or restart event of any machine (Fly keeps a machine's recent events)."""
    starts = [_timestamp(e.get("timestamp")) for m in machines for e in _events(m) if e.get("type") in START_EVENTS]
    known = [s for s in starts if s is not None]
    return max(known) if known else None


def _restarts(machine: Mapping[str, Any]) -> int:
    """Exits that Fly followed by a restart (its restart policy), in the machine's recent events."""
    count = 0
    for event in _events(machine):
        request = event.get("request")
        exit_event = request.get("exit_event") if isinstance(request, dict) else None
        if event.get("type") == "exit" and isinstance(exit_event, dict) and exit_event.get("restarting") is True:
            count += 1
    return count


def _check_status(machines: Sequence[Mapping[str, Any]]) -> str | None:
    """The worst health-check status of any machine, None when no machine reports checks."""
    found: list[str] = []
    for machine in machines:
        checks = machine.get("checks")
        for check in checks if isinstance(checks, list) else []:
            if isinstance(check, dict) and check.get("status") in CHECK_RANK:
                found.append(str(check["status"]))
    return max(found, key=CHECK_RANK.__getitem__) if found else None


def _timestamp(value: Any) -> datetime | None:
    """An RFC 3339 text or epoch milliseconds (Fly's event timestamps) as an aware UTC datetime."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


# -- R2 ----------------------------------------------------------------------------------------------
def _read_r2(r2: S3Client, tenant: RosterEntry, reading: _Reading) -> None:
    bucket = bucket_name(tenant.id)
    try:
        snapshot = bucket_layout.newest_snapshot(_keys(r2, bucket, bucket_layout.DB_PREFIX))
        reading.values["newest_snapshot_at"] = _snapshot_time(snapshot) if snapshot else None
        reading.values["newest_book_backup_at"] = _newest_modified(r2, bucket, bucket_layout.BOOKS_PREFIX)
        _image_health(r2, bucket, reading)
    except EndpointConnectionError:
        raise FleetUnreadable(f"R2 unreachable at tenant {tenant.id}") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in R2_AUTH_CODES or status in AUTH_FAILURES:
            raise FleetUnreadable(f"R2 refused the operator's key (HTTP {status} {code})") from None
        if code == "NoSuchBucket":
            if tenant.state != TenantState.PURGING:
                reading.problems.append(f"bucket {bucket} does not exist")
            return
        reading.problems.append(f"R2 {bucket}: {code or 'error'} (HTTP {status})")
        reading.unread.add("r2")
        return
    except BotoCoreError as exc:  # a read timeout or a broken answer for this bucket only
        reading.problems.append(f"R2 {bucket}: {type(exc).__name__}")
        reading.unread.add("r2")
        return


def _keys(r2: S3Client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in r2.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _newest_modified(r2: S3Client, bucket: str, prefix: str) -> datetime | None:
    newest: datetime | None = None
    for page in r2.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            modified = item.get("LastModified")
            if modified is not None and (newest is None or modified > newest):
                newest = modified
    return newest.astimezone(UTC) if newest is not None else None


def _snapshot_time(key: str) -> datetime | None:
    stamp = key.removeprefix(bucket_layout.DB_PREFIX).removeprefix("library-").removesuffix(".db")
    try:
        return datetime.strptime(stamp, bucket_layout.STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _image_health(r2: S3Client, bucket: str, reading: _Reading) -> None:
    """The image's status object: last backup and a failed restore; none yet is unknown, malformed a problem."""
    try:
        body = r2.get_object(Bucket=bucket, Key=HEALTH_KEY)["Body"].read(bucket_layout.HEALTH_MAX_BYTES + 1)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404"):
            return
        raise
    try:
        health = bucket_layout.read_health(body)
    except bucket_layout.MalformedHealth as exc:  # its message names the field, never the value
        reading.problems.append(f"{HEALTH_KEY} in {bucket} is malformed: {exc}")
        reading.unread.add("health")
        return
    reading.values["last_backup_at"] = health.last_backup_at
    restore = health.restore
    if restore is not None and not restore.ok:
        reading.values["restore_error"] = " ".join((restore.error or "restore failed").split())
    if health.books_failed is not None and health.books_failed.count:
        reading.problems.append(f"{_some(health.books_failed)} could not be copied by the last backup or restore")
    if health.books_unaccounted is not None and health.books_unaccounted.count:
        reading.problems.append(
            f"{_some(health.books_unaccounted)} in books/ that no backup and no checked upload put there "
            "(not brought into the library)"
        )


def _some(found: bucket_layout.BookKeys) -> str:
    """'2 book file(s): a.pdf, b.pdf' (and how many more were not named)."""
    named = ", ".join(found.keys)
    more = found.count - len(found.keys)
    return f"{found.count} book file(s): {named}" + (f" and {more} more" if more > 0 else "")


def with_problems(health: TenantHealth, problems: Sequence[str]) -> TenantHealth:
    """`health` with `problems` added after its own (the dashboard adds the alerts' titles)."""
    return replace(health, problems=(*health.problems, *problems))
