"""ops.alert_rules, pure: each rule fires on its case, stays quiet otherwise, at its threshold's edge,
and in the roster states the module's table names; the thresholds' config value and its bad siblings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ops.alert_rules import APPLIES, Thresholds, ThresholdsError, evaluate, parse_thresholds, read_thresholds
from ops.fleet_health import AlertKind, TenantHealth

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
T = Thresholds()
GIB = 1024**3

# A tenant with nothing wrong: started, checks passing, a snapshot an hour old, certificate active.
WELL = TenantHealth(
    tenant="welluser01",
    username="well",
    state="active",
    plan="reader",
    app="alexdev-welluser01",
    machine_state="started",
    machine_last_start=NOW - timedelta(hours=2),
    machine_restarts=0,
    check_status="passing",
    volume_gb=1,
    storage_bytes=GIB // 2,
    quota_bytes=GIB,
    newest_snapshot_at=NOW - timedelta(hours=1),
    last_backup_at=NOW - timedelta(minutes=5),
    certificate_status="active",
    certificate_created_at=NOW - timedelta(days=30),
    created_at=NOW - timedelta(days=60),
)


def kinds(health: TenantHealth, thresholds: Thresholds = T) -> list[AlertKind]:
    return [alert.kind for alert in evaluate(health, thresholds, "dev", NOW)]


def test_a_healthy_tenant_raises_nothing():
    assert kinds(WELL) == []


# (rule, the tenant that fires it, its sibling just inside the threshold)
CASES = {
    "failed machine": (
        AlertKind.MACHINE_FAILED,
        replace(WELL, machine_state="failed"),
        replace(WELL, machine_state="stopped"),
    ),
    "failed among two machines": (
        AlertKind.MACHINE_FAILED,
        replace(WELL, machine_state="failed,started"),
        replace(WELL, machine_state="started,stopped"),
    ),
    "restarts at the threshold": (
        AlertKind.MACHINE_FAILED,
        replace(WELL, machine_restarts=3),
        replace(WELL, machine_restarts=2),
    ),
    "snapshot older than 24 h while running": (
        AlertKind.BACKUP_STALE,
        replace(WELL, newest_snapshot_at=NOW - timedelta(hours=24, seconds=1), last_backup_at=None),
        replace(WELL, newest_snapshot_at=NOW - timedelta(hours=24), last_backup_at=None),
    ),
    "no snapshot after the first day": (
        AlertKind.BACKUP_STALE,
        replace(WELL, newest_snapshot_at=None, last_backup_at=None, created_at=NOW - timedelta(hours=25)),
        replace(WELL, newest_snapshot_at=None, last_backup_at=None, created_at=NOW - timedelta(hours=23)),
    ),
    "over quota by one byte": (
        AlertKind.OVER_QUOTA,
        replace(WELL, storage_bytes=GIB + 1),
        replace(WELL, storage_bytes=GIB),
    ),
    "certificate pending past 2 h": (
        AlertKind.CERTIFICATE_PENDING,
        replace(
            WELL, certificate_status="pending_validation", certificate_created_at=NOW - timedelta(hours=2, seconds=1)
        ),
        replace(WELL, certificate_status="pending_validation", certificate_created_at=NOW - timedelta(hours=2)),
    ),
    "restore failed": (
        AlertKind.RESTORE_FAILED,
        replace(WELL, restore_error="sqlite3: file is not a database"),
        replace(WELL, restore_error=None),
    ),
}


@pytest.mark.parametrize(("kind", "firing", "quiet"), CASES.values(), ids=CASES.keys())
def test_each_rule_fires_on_its_case_and_is_quiet_just_inside(kind, firing, quiet):
    assert kinds(firing) == [kind]
    assert kinds(quiet) == []


def test_an_alert_names_tenant_and_stack_with_a_stable_key_and_no_username():
    (alert,) = evaluate(replace(WELL, machine_state="failed"), T, "prod", NOW)
    assert alert.key == "prod/welluser01/machine-failed"
    assert alert.title.startswith("welluser01: ")
    assert "well " not in alert.title + alert.detail.replace("welluser01", "")


@pytest.mark.parametrize("state", ["active", "suspended", "cancelled", "purging"])
@pytest.mark.parametrize(("kind", "firing", "quiet"), CASES.values(), ids=CASES.keys())
def test_rules_apply_only_in_their_states(state, kind, firing, quiet):
    fired = kinds(replace(firing, state=state))
    assert fired == ([kind] if state in APPLIES[kind] else [])


def test_purging_tenants_raise_nothing_even_with_everything_wrong():
    broken = replace(
        WELL,
        state="purging",
        machine_state="failed",
        storage_bytes=10 * GIB,
        restore_error="boom",
        newest_snapshot_at=None,
        last_backup_at=None,
        certificate_status="pending_validation",
    )
    assert kinds(broken) == []


def test_everything_wrong_at_once_raises_one_alert_per_rule_in_order():
    broken = replace(
        WELL,
        machine_state="failed",
        storage_bytes=2 * GIB,
        restore_error="boom",
        newest_snapshot_at=NOW - timedelta(days=3),
        last_backup_at=None,
        certificate_status="pending_validation",
        certificate_created_at=NOW - timedelta(days=1),
    )
    assert kinds(broken) == [k for k in AlertKind if k != AlertKind.DRIFT]


@pytest.mark.parametrize(
    ("machine_state", "last_start", "fires"),
    [
        ("stopped", None, False),  # asleep, no start known since: nothing new to back up
        ("stopped", NOW - timedelta(days=4), False),  # last start before the snapshot (3 days old)
        ("stopped", NOW - timedelta(days=2), True),  # ran after the snapshot and backed nothing up
        ("started", None, True),  # running now
        ("suspended", None, False),
    ],
)
def test_backup_stale_asks_that_the_machine_ran_since_its_last_backup(machine_state, last_start, fires):
    health = replace(
        WELL,
        machine_state=machine_state,
        machine_last_start=last_start,
        newest_snapshot_at=NOW - timedelta(days=3),
        last_backup_at=None,
    )
    assert kinds(health) == ([AlertKind.BACKUP_STALE] if fires else [])


def test_backup_stale_counts_the_images_last_backup_as_evidence():
    # An unchanged library keeps an old snapshot: the image's own last_backup_at says it still backs up.
    health = replace(WELL, newest_snapshot_at=NOW - timedelta(days=10), last_backup_at=NOW - timedelta(minutes=3))
    assert kinds(health) == []


@pytest.mark.parametrize(
    "unknown",
    [
        {"machine_state": None, "machine_restarts": None},
        {"storage_bytes": None},
        {"certificate_status": None},
        {"certificate_created_at": None, "certificate_status": "pending_validation"},
        {"newest_snapshot_at": None, "last_backup_at": None, "created_at": None},
    ],
)
def test_unknown_values_never_fire(unknown):
    assert kinds(replace(WELL, **unknown)) == []


@pytest.mark.parametrize("status", ["active", "Ready", "issued"])
def test_issued_certificates_are_quiet_however_old(status):
    assert kinds(replace(WELL, certificate_status=status, certificate_created_at=NOW - timedelta(days=400))) == []


def test_thresholds_move_the_edges():
    tight = Thresholds(snapshot_max_age_hours=1, certificate_pending_hours=0.5, machine_restarts=1)
    health = replace(
        WELL,
        machine_restarts=1,
        newest_snapshot_at=NOW - timedelta(hours=2),
        last_backup_at=None,
        certificate_status="pending_validation",
        certificate_created_at=NOW - timedelta(hours=1),
    )
    assert kinds(health) == []
    assert kinds(health, tight) == [AlertKind.MACHINE_FAILED, AlertKind.BACKUP_STALE, AlertKind.CERTIFICATE_PENDING]


def test_parse_thresholds_defaults_and_values():
    assert parse_thresholds(None) == Thresholds(24, 2, 3)
    assert parse_thresholds({}) == Thresholds()
    assert parse_thresholds({"snapshotMaxAgeHours": 6, "certificatePendingHours": 0.5, "machineRestarts": 5}) == (
        Thresholds(6, 0.5, 5)
    )


BAD_VALUES = {
    "not a mapping": ("24", "expected a mapping"),
    "a list": ([1, 2], "expected a mapping"),
    "unknown key": ({"snapshotAge": 3}, "unknown"),
    "zero hours": ({"snapshotMaxAgeHours": 0}, "snapshotMaxAgeHours"),
    "negative hours": ({"certificatePendingHours": -1}, "certificatePendingHours"),
    "text hours": ({"snapshotMaxAgeHours": "24"}, "snapshotMaxAgeHours"),
    "bool": ({"machineRestarts": True}, "machineRestarts"),
    "fractional restarts": ({"machineRestarts": 2.5}, "machineRestarts"),
    "NaN": ({"snapshotMaxAgeHours": float("nan")}, "snapshotMaxAgeHours"),
    "infinite": ({"snapshotMaxAgeHours": float("inf")}, "snapshotMaxAgeHours"),
    "huge": ({"machineRestarts": 10**9}, "machineRestarts"),
}


@pytest.mark.parametrize(("value", "named"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_parse_thresholds_refuses_bad_values_naming_the_key(value, named):
    with pytest.raises(ThresholdsError, match=named) as caught:
        parse_thresholds(value)
    assert "alex-hosted:alerts" in str(caught.value)


def test_parse_thresholds_names_every_bad_key_at_once():
    with pytest.raises(ThresholdsError) as caught:
        parse_thresholds({"snapshotMaxAgeHours": 0, "machineRestarts": "x", "other": 1})
    message = str(caught.value)
    assert "snapshotMaxAgeHours" in message and "machineRestarts" in message and "'other'" in message


def test_read_thresholds_from_a_stack_file(tmp_path, monkeypatch):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    monkeypatch.setattr("ops.alert_rules.stack_file", lambda stack: stacks / f"Pulumi.{stack}.yaml")
    (stacks / "Pulumi.a.yaml").write_text("config:\n  alex-hosted:alerts:\n    machineRestarts: 5\n")
    (stacks / "Pulumi.b.yaml").write_text("config:\n  alex-hosted:domain: x.example.com\n")
    (stacks / "Pulumi.c.yaml").write_text("config:\n  alex-hosted:alerts: {machineRestarts: 0}\n")
    (stacks / "Pulumi.d.yaml").write_text("config: [\n")
    assert read_thresholds("a") == Thresholds(machine_restarts=5)
    assert read_thresholds("b") == Thresholds()
    with pytest.raises(ThresholdsError, match="machineRestarts"):
        read_thresholds("c")
    with pytest.raises(ThresholdsError, match="Pulumi.d.yaml"):
        read_thresholds("d")


def test_alert_rules_details_do_not_change_as_time_passes():
    # The alerts script edits an issue whose detail changed: an age in the text would rewrite it hourly.
    from ops.alert_rules import Thresholds, evaluate
    from ops.fleet_health import TenantHealth

    created = datetime(2026, 11, 1, tzinfo=UTC)
    health = TenantHealth(
        "tenant00001", "alice", "active", "reader", "app", machine_state="started", storage_bytes=1,
        newest_snapshot_at=created, certificate_status="pending", certificate_created_at=created, created_at=created,
    )  # fmt: skip
    early = evaluate(health, Thresholds(), "dev", created + timedelta(days=3))
    later = evaluate(health, Thresholds(), "dev", created + timedelta(days=3, hours=5))
    assert {a.kind for a in early} >= {"backup-stale", "certificate-pending"}
    assert [(a.key, a.detail) for a in early] == [(a.key, a.detail) for a in later]
