"""Every roster edit the product makes, under the real engine, each followed by a no-change preview.

Steps 2 and 3 of the lane: add, rename, upgrade, downgrade, suspend, resume, cancel, purging (the bucket
emptier empties the bucket in moto, then Cloudflare deletes it), removal; and removing an active tenant by
mistake, which must be refused with nothing deleted anywhere.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.e2e.conftest import bucket_names, tenant, token_count
from tests.support.pulumi_cli import Run, Workspace
from tests.support.servers import s3_client

STACK = "e2e"


def apply(workspace: Workspace, roster: list[dict[str, Any]]) -> Run:
    """Write the roster, `up` as CI does, then the same state must preview with no changes."""
    workspace.write_roster(STACK, roster)
    run = workspace.up(STACK).check()
    workspace.preview(STACK, "--no-changes").check()
    return run


def touched(run: Run) -> set[str]:
    """The names of the resources a run created, updated, replaced or deleted."""
    return {urn.rsplit("::", 1)[1] for op, urn in run.steps() if op not in ("same", "read", "refresh")}


def live_machine(fly, app: str):
    machines = [m for m in fly.state.machines.values() if m.app == app and m.state != "destroyed"]
    return machines[0] if machines else None


def volume_gb(fly, app: str) -> int:
    (volume,) = [v for v in fly.state.volumes.values() if v.app == app and v.state != "destroyed"]
    return int(volume.size_gb)


def test_add_rename_upgrade_and_downgrade_apply_and_leave_nothing_to_change(workspace, config, fly, cloudflare):
    keeper = tenant("e2ekeep001", "keeper")
    workspace.new_stack(STACK, config, [keeper])
    workspace.up(STACK).check()

    new = tenant("e2enew0001", "newbie")
    added = apply(workspace, [keeper, new])
    assert not {n for n in touched(added) if n.startswith("e2ekeep001")}, touched(added)
    assert "e2enew0001-machine" in touched(added)
    app = "e2e-e2enew0001"

    renamed = apply(workspace, [keeper, {**new, "username": "renamed"}])
    assert live_machine(fly, app).config["env"]["NEXTAUTH_URL"] == "https://renamed.books.test"
    assert not [op for op, urn in renamed.steps() if op in ("replace", "create-replacement", "delete")]

    upgraded = {**new, "username": "renamed", "plan": "reader"}
    apply(workspace, [keeper, upgraded])
    assert volume_gb(fly, app) > 1

    grown = volume_gb(fly, app)
    apply(workspace, [keeper, {**upgraded, "plan": "free"}])
    assert volume_gb(fly, app) == grown  # volumes never shrink
    assert live_machine(fly, app).config["guest"]["memory_mb"] == 512


def test_suspend_resume_cancel_purge_and_remove_apply_and_leave_nothing_to_change(
    workspace, config, fly, cloudflare, moto_endpoint
):
    keeper, current = tenant("e2ekeep001", "keeper"), tenant("e2enew0001", "leaving")
    workspace.new_stack(STACK, config, [keeper, current])
    workspace.up(STACK).check()
    app = "e2e-e2enew0001"

    apply(workspace, [keeper, {**current, "state": "suspended"}])
    assert live_machine(fly, app).state == "stopped"
    apply(workspace, [keeper, current])
    assert live_machine(fly, app).config["services"][0]["autostart"] is True

    cancelled = {**current, "state": "cancelled", "cancelled_at": date(2026, 12, 1), "purge_after": date(2026, 12, 31)}
    apply(workspace, [keeper, cancelled])

    s3 = s3_client(moto_endpoint, "any", "any")
    for key in ("books/a.epub", "books/b.pdf", "db/library-20261201T000000Z.db"):
        s3.put_object(Bucket="alex-e2enew0001", Key=key, Body=b"data")
    purging = {**cancelled, "state": "purging", "purge_marked_at": date(2026, 12, 31)}
    apply(workspace, [keeper, purging])
    assert live_machine(fly, app) is None
    assert "alex-e2enew0001" in bucket_names(cloudflare)

    removed = apply(workspace, [keeper])  # the emptier empties the bucket in moto, then Cloudflare deletes it
    assert "alex-e2enew0001" not in bucket_names(cloudflare)
    assert app not in {a.name for a in fly.state.apps.values()}
    assert {n for n in touched(removed) if n.startswith("e2enew0001")}
    assert not {n for n in touched(removed) if n.startswith("e2ekeep001")}


def test_removing_an_active_tenant_by_mistake_is_refused_and_deletes_nothing(
    workspace, config, fly, cloudflare, moto_endpoint
):
    keeper, victim = tenant("e2ekeep001", "keeper"), tenant("e2evict001", "victim")
    workspace.new_stack(STACK, config, [keeper, victim])
    workspace.up(STACK).check()
    s3 = s3_client(moto_endpoint, "any", "any")
    s3.put_object(Bucket="alex-e2evict001", Key="books/precious.epub", Body=b"customer data")
    apps_before = {a.name for a in fly.state.apps.values()}
    machines_before = {m.id for m in fly.state.machines.values() if m.state != "destroyed"}

    workspace.write_roster(STACK, [keeper])
    refused = workspace.up(STACK)
    assert refused.returncode != 0
    assert any("e2evict001" in urn for urn in refused.failures()), refused.output[-3000:]
    # Nothing deleted anywhere: not a book, not the bucket, not a token, not an app or machine.
    kept = s3.list_objects_v2(Bucket="alex-e2evict001").get("Contents", [])
    assert [o["Key"] for o in kept] == ["books/precious.epub"], "the victim's bucket was emptied"
    assert "alex-e2evict001" in bucket_names(cloudflare)
    assert token_count(cloudflare) == 2
    assert {a.name for a in fly.state.apps.values()} == apps_before
    assert {m.id for m in fly.state.machines.values() if m.state != "destroyed"} == machines_before
    assert "purging" in refused.output  # the emptier says why it refused

    workspace.write_roster(STACK, [keeper, victim])  # the operator puts the line back
    workspace.up(STACK).check()
    workspace.preview(STACK, "--no-changes").check()
