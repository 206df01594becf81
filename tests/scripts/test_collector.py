"""ops.collector against the Fly emulator, moto (as R2) and the Cloudflare analytics stand-in, with a
tenant in every problem state: each alert rule fires on its case and stays quiet on the others, a tenant's
error is recorded without stopping the run, and a source that cannot be read at all stops it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from emulators.cloudflare import BucketUsage
from emulators.faults import Fault
from emulators.fly import FlyEmulator
from emulators.fly.speeds import INSTANT
from ops.alert_rules import Thresholds, evaluate
from ops.collector import HEALTH_KEY, FleetUnreadable, TooManyTenants, collect
from ops.fleet_health import AlertKind
from ops.quota import fetch_usage
from ops.r2 import r2_client
from providers.fly.client import FlyClient
from tenants import bucket_layout
from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN

from .conftest import CF_TOKEN, R2_KEY_ID, R2_SECRET
from .test_status import provision, provision_edge

GIB = 1024**3
NOW = datetime.now(UTC)  # the emulator stamps certificates with the real clock
OLD = date(2026, 1, 1)


def tenant(tid: str, plan: str = "reader", state: str = "active", created: date = OLD) -> RosterEntry:
    extra: dict[str, Any] = {}
    if state in ("cancelled", "purging"):
        extra = {"cancelled_at": date(2026, 9, 1), "purge_after": date(2026, 10, 1)}
    if state == "purging":
        extra["purge_marked_at"] = date(2026, 10, 2)
    # Each with a custom domain: the certificate a tenant has of its own, on the edge app.
    return RosterEntry(
        tid, tid.removesuffix("01"), f"{tid}@example.com", plan, state, created_at=created,
        domains=(f"{tid}.example.net",), **extra,
    )  # fmt: skip


WELL = tenant("welluser01")
FAILED = tenant("faileduser01")
RESTARTS = tenant("restartuser01")
STALE = tenant("staleuser01")
NOSNAP = tenant("nosnapuser01")
NEWBIE = tenant("newbieuser01", created=NOW.date())
OVER = tenant("overuser01", plan="free")
CERT = tenant("certuser01")
RESTORE = tenant("restoreuser01")
BROKEN = tenant("brokenuser01")
NOBUCKET = tenant("nobucketuser01")
ASLEEP = tenant("suspendeduser01", state="suspended")
LEAVING = tenant("purginguser01", plan="free", state="purging")

EXPECTED: dict[str, set[AlertKind]] = {
    WELL.id: set(),
    FAILED.id: {AlertKind.MACHINE_FAILED},
    RESTARTS.id: {AlertKind.MACHINE_FAILED},
    STALE.id: {AlertKind.BACKUP_STALE},
    NOSNAP.id: {AlertKind.BACKUP_STALE},
    NEWBIE.id: set(),  # no snapshot yet, but still in its first day
    OVER.id: {AlertKind.OVER_QUOTA},
    CERT.id: {AlertKind.CERTIFICATE_PENDING},
    RESTORE.id: {AlertKind.RESTORE_FAILED},
    BROKEN.id: set(),  # Fly answered 500 for it: a problem, not an alert
    NOBUCKET.id: {AlertKind.BACKUP_STALE},  # no bucket: no backup at all (and a problem)
    ASLEEP.id: set(),  # suspended: an old snapshot is expected
    LEAVING.id: set(),  # purging: nothing alerts
}
ALL = [WELL, FAILED, RESTARTS, STALE, NOSNAP, NEWBIE, OVER, CERT, RESTORE, BROKEN, NOBUCKET, ASLEEP, LEAVING]


@pytest.fixture
def fly_emu():
    with FlyEmulator(token=FLY_TEST_TOKEN, org="personal", rate_limit=False, **INSTANT.kwargs()) as emu:
        yield emu


@pytest.fixture
def fly(fly_emu):
    with FlyClient(base_url=fly_emu.url, token=FLY_TEST_TOKEN, retries=1, retry_base_s=0.01) as client:
        yield client


LOGIN_CHECK = {"login": {"type": "http", "port": 3000, "method": "GET", "path": "/login", "interval": "30s"}}


def add_checks(emu: FlyEmulator, app: str) -> str:
    """Update the app's one machine through the API so its config has a health check (as the real program's
    does); returns the machine id once it is started again."""
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {FLY_TEST_TOKEN}"}, timeout=10) as http:
        (machine,) = http.get(f"/v1/apps/{app}/machines").json()
        config = {**machine["config"], "checks": LOGIN_CHECK}
        updated = http.post(f"/v1/apps/{app}/machines/{machine['id']}", json={"config": config}).json()
        waited = http.get(
            f"/v1/apps/{app}/machines/{machine['id']}/wait",
            params={"state": "started", "instance_id": updated["instance_id"], "timeout": 5},
        )
        assert waited.status_code == 200, waited.text
        return str(machine["id"])


def put(s3, bucket: str, key: str, body: bytes = b"x") -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def health_json(*, last_backup: datetime | None, restore: dict[str, Any] | None = None) -> bytes:
    doc = {
        "version": 1,
        "last_backup_at": z(last_backup) if last_backup else None,
        "last_snapshot": None,
        "books": 3,
        "restore": restore,
        "boot_at": z(NOW - timedelta(hours=2)),
        "image": "ghcr.io/alex-hosted/alex-hosted:0.6.0-1",
    }
    return json.dumps(doc).encode()


def fresh_bucket(s3, entry: RosterEntry, *, snapshot_age: timedelta | None, image: bytes | None = None) -> str:
    bucket = f"alex-{entry.id}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "auto"})  # R2 region
    put(s3, bucket, "books/a.epub")
    put(s3, bucket, "books/dir/b.pdf")
    if snapshot_age is not None:
        put(s3, bucket, bucket_layout.snapshot_key(NOW - snapshot_age - timedelta(hours=5)))
        put(s3, bucket, bucket_layout.snapshot_key(NOW - snapshot_age))
        put(s3, bucket, "db/library-not-a-snapshot.db")  # never restored, never counted
    if image is not None:
        put(s3, bucket, HEALTH_KEY, image)
    return bucket


@pytest.fixture
def fleet(fly_emu, s3, cloudflare, stack_config):
    """Every tenant of ALL provisioned in its problem state; returns the usage the analytics answer."""
    provision_edge(fly_emu, stack_config)
    edge = stack_config.edge_app_name
    for entry in ALL:
        if entry in (LEAVING,):
            continue
        stopped = entry.state == "suspended"
        provision(
            fly_emu,
            stack_config,
            entry,
            machine="stopped" if stopped else "started",
            gb=1 if entry.plan != "library" else 2,
        )
        (host,) = entry.domains or ()
        fly_emu.set_certificate_status(edge, host, "pending_validation" if entry is CERT else "active")
    state = fly_emu.state
    cert = state.certificates[edge][f"{CERT.id}.example.net"]
    cert.created_at = (NOW - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (failed,) = state.machines_of(stack_config.app_name(FAILED.id))
    failed.state = "failed"
    # What the guest and flyd would do, through the emulator's controls: three crashes Fly restarted from,
    # and a failing health check; the well tenant's check passes.
    restarts_app = stack_config.app_name(RESTARTS.id)
    restarting = add_checks(fly_emu, restarts_app)
    for _ in range(3):
        fly_emu.crash(restarts_app, restarting, exit_code=1)
    fly_emu.set_check(restarts_app, restarting, "login", "critical", "secret-ish output never shown")
    add_checks(fly_emu, stack_config.app_name(WELL.id))
    fresh = health_json(last_backup=NOW - timedelta(minutes=5))
    for entry in (WELL, FAILED, RESTARTS, OVER, CERT, BROKEN, NEWBIE):
        fresh_bucket(s3, entry, snapshot_age=timedelta(hours=1) if entry is not NEWBIE else None, image=fresh)
    fresh_bucket(s3, STALE, snapshot_age=timedelta(days=3))
    fresh_bucket(s3, NOSNAP, snapshot_age=None)
    fresh_bucket(s3, ASLEEP, snapshot_age=timedelta(days=20))
    fresh_bucket(s3, LEAVING, snapshot_age=timedelta(days=90))
    failed_restore = {"at": z(NOW), "ok": False, "error": "sqlite3: file is not a database <script>"}
    fresh_bucket(
        s3, RESTORE, snapshot_age=timedelta(hours=1), image=health_json(last_backup=None, restore=failed_restore)
    )
    fly_emu.inject(
        Fault(path=f"/v1/apps/{stack_config.app_name(BROKEN.id)}/machines$", method="GET", status=500, times=50)
    )
    cloudflare.usage = {
        f"alex-{e.id}": BucketUsage(
            payload_size=int((0.5 if e is OVER else 0.1) * GIB), metadata_size=0, object_count=3
        )
        for e in ALL
        if e is not NEWBIE
    }
    fly_emu.reset_log()
    return fetch_usage(cloudflare.url, CF_TOKEN, stack_config.cloudflare_account_id, NOW, timeout=5)


def snapshot(s3) -> dict[str, dict[str, str]]:
    found = {}
    for bucket in s3.list_buckets()["Buckets"]:
        objects = s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        found[bucket["Name"]] = {o["Key"]: o["ETag"] for o in objects}
    return found


def test_every_problem_state_fires_its_rule_and_only_it(fleet, fly, fly_emu, s3, stack_config):
    before = snapshot(s3)
    seen: list[tuple[int, int]] = []

    found = collect(
        ALL,
        stack_config,
        now=NOW,
        fly=fly,
        r2=s3,
        usage=fleet,
        progress=lambda d, t: seen.append((d, t)),
        progress_every=5,
    )
    after = datetime.now(UTC)

    by_id = {h.tenant: h for h in found}
    assert [h.tenant for h in found] == [e.id for e in ALL]  # roster order, whatever finished first
    fired = {h.tenant: {a.kind for a in evaluate(h, Thresholds(), "dev", NOW)} for h in found}
    assert fired == EXPECTED
    assert seen == [(5, 13), (10, 13), (13, 13)]
    # read-only: GETs only on Fly, every bucket as it was
    assert {r.method for r in fly_emu.requests} == {"GET"}
    assert snapshot(s3) == before

    well = by_id[WELL.id]
    assert (well.machine_state, well.check_status, well.machine_restarts) == ("started", "passing", 0)
    # the newest launch/start event: the boot after add_checks' update, between NOW and the collection
    assert well.machine_last_start is not None and NOW - timedelta(seconds=1) <= well.machine_last_start <= after
    assert well.volume_gb == 1 and well.certificate_status == "active" and well.problems == ()
    assert well.newest_snapshot_at is not None
    assert abs(well.newest_snapshot_at - (NOW - timedelta(hours=1))) < timedelta(seconds=1)
    assert well.newest_book_backup_at is not None and well.last_backup_at is not None
    assert well.storage_bytes == int(0.1 * GIB) and well.quota_bytes == GIB
    assert well.monthly_cost_usd > 0
    restarting = by_id[RESTARTS.id]
    assert (restarting.machine_restarts, restarting.check_status) == (3, "critical")
    assert restarting.machine_last_start is not None and NOW <= restarting.machine_last_start <= after
    assert "secret-ish" not in repr(found)
    assert by_id[RESTORE.id].restore_error == "sqlite3: file is not a database <script>"
    assert by_id[CERT.id].certificate_status == "pending_validation"
    assert by_id[NEWBIE.id].storage_bytes is None  # no analytics sample yet: unknown, not zero


def test_a_tenants_failure_is_its_problem_and_the_run_goes_on(fleet, fly, s3, stack_config):
    found = {h.tenant: h for h in collect(ALL, stack_config, now=NOW, fly=fly, r2=s3, usage=fleet)}

    broken = found[BROKEN.id]
    assert broken.machine_state == "error"
    assert any("500" in p for p in broken.problems), broken.problems
    assert broken.newest_snapshot_at is not None  # R2 was still read for it
    assert found[NOBUCKET.id].problems == ("bucket alex-nobucketuser01 does not exist",)
    assert found[LEAVING.id].problems == ()  # purging: no app, no machine is expected
    assert found[WELL.id].problems == ()
    assert FLY_TEST_TOKEN not in repr(found)


def test_fly_token_refused_stops_the_run_with_a_typed_error(fly_emu, s3, stack_config):
    bad = FlyClient(base_url=fly_emu.url, token="wrong-token-never-shown", retries=0)
    with bad, pytest.raises(FleetUnreadable, match="refused FLY_API_TOKEN") as caught:
        collect([WELL, STALE], stack_config, now=NOW, fly=bad)
    assert "wrong-token-never-shown" not in str(caught.value)


def test_r2_unreachable_stops_the_run_with_a_typed_error(stack_config, closed_port):
    r2 = r2_client(f"http://127.0.0.1:{closed_port}", R2_KEY_ID, R2_SECRET, timeout=2, max_attempts=1)
    with pytest.raises(FleetUnreadable, match="R2 unreachable") as caught:
        collect([WELL], stack_config, now=NOW, r2=r2)
    assert R2_SECRET not in str(caught.value)


def test_sources_are_optional_and_unknown_stays_none(stack_config):
    (health,) = collect([WELL], stack_config, now=NOW)
    assert health.machine_state is None and health.newest_snapshot_at is None and health.storage_bytes is None
    assert health.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert collect([], stack_config, now=NOW) == []


def test_more_than_ten_thousand_tenants_is_refused_before_any_request(stack_config):
    with pytest.raises(TooManyTenants, match="10000"):
        collect([WELL] * 10_001, stack_config, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1,2]",
        b'{"version": 2}',
        b'{"version":1,"last_backup_at":"yesterday"}',
        b"[" * 50_000,
        b" " * 20_000,
    ],
    ids=["not json", "a list", "another version", "a bad time", "deep", "too big"],
)
def test_a_malformed_status_object_is_a_problem_and_unknown(s3, stack_config, body):
    fresh_bucket(s3, WELL, snapshot_age=timedelta(hours=1), image=body)

    (health,) = collect([WELL], stack_config, now=NOW, r2=s3)

    assert health.problems == (
        f"{HEALTH_KEY} in alex-welluser01 is malformed: " + health.problems[0].split(": ", 1)[1],
    )
    assert "malformed" in health.problems[0]
    assert health.last_backup_at is None and health.restore_error is None
    assert health.newest_snapshot_at is not None  # the rest of the bucket was still read


def test_book_files_the_image_could_not_copy_or_account_for_are_problems(s3, stack_config):
    """The image reports them in its status object (never pulled, never blocking a backup): the dashboard shows them."""
    doc = json.loads(health_json(last_backup=NOW - timedelta(minutes=5)))
    doc["books_failed"] = {"count": 1, "keys": ["a\u201b\u201bb.pdf"]}
    doc["books_unaccounted"] = {"count": 12, "keys": [f"junk {n}.pdf" for n in range(9)] + ["\x1b[2Jx.pdf"]}
    fresh_bucket(s3, WELL, snapshot_age=timedelta(hours=1), image=json.dumps(doc).encode())

    (health,) = collect([WELL], stack_config, now=NOW, r2=s3)

    junk = ", ".join(f"junk {n}.pdf" for n in range(9))
    assert health.problems == (
        "1 book file(s): a\u201b\u201bb.pdf could not be copied by the last backup or restore",
        f"12 book file(s): {junk}, \ufffd[2Jx.pdf and 2 more in books/ that no backup and no checked upload put "
        "there (not brought into the library)",
    )
    assert health.last_backup_at is not None


def test_an_image_that_copied_and_accounted_for_everything_has_no_book_problem(s3, stack_config):
    doc = json.loads(health_json(last_backup=NOW - timedelta(minutes=5)))
    doc["books_failed"] = doc["books_unaccounted"] = {"count": 0, "keys": []}
    fresh_bucket(s3, WELL, snapshot_age=timedelta(hours=1), image=json.dumps(doc).encode())

    (health,) = collect([WELL], stack_config, now=NOW, r2=s3)

    assert health.problems == ()
