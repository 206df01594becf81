"""billing.sync.run_sync_shards against the fake Stripe: one reconcile over every shard, new tenants placed,
only changed shards written, a full domain refused, RosterChanged on one shard; and the CLI's shard mode."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import billing.sync as sync_module
import config.stack_config as stack_config_module
from billing.sync import ShardFile, ShardSyncSettings, ShardWriteError, SyncError, run_sync_shards
from billing.tenant_ids import tenant_id_for_customer
from scripts.stripe_sync import main
from tenants.plans import DEFAULT_PLANS
from tenants.roster import REPO_ROOT, RosterEntry, dump_roster, load_roster, write_roster
from tests.billing.support import API_KEY, HAND_MANAGED, at, now

FULL = "not added: every shard is full ({}); add a shard to alex-hosted:domainShards"


def new_customer(world, username: str, day: str = "2026-11-01") -> tuple[str, str]:
    cus = world.add_customer(username=username, email=f"{username}@example.com", created=at(day))
    return cus, world.subscribe(cus, "reader_monthly")


def existing(world, username: str) -> RosterEntry:
    """A customer already provisioned: its entry is exactly what the sync computes, so it is left alone."""
    cus, _ = new_customer(world, username, "2026-01-01")
    return RosterEntry(
        tenant_id_for_customer(cus),
        username,
        f"{username}@example.com",
        "reader",
        "active",
        stripe_customer=cus,
        created_at=date(2026, 1, 1),
    )


def write(path: Path, tenants: list[RosterEntry]) -> Path:
    path.write_text(dump_roster(tenants), encoding="utf-8")
    return path


def settings(*shards: ShardFile, dry_run: bool = False) -> ShardSyncSettings:
    return ShardSyncSettings(shards=shards, plans=DEFAULT_PLANS, domain="books.example.com", dry_run=dry_run)


def ids(path: Path) -> list[str]:
    return [t.id for t in load_roster(path)]


def test_new_tenants_fill_the_first_shard_with_room_then_the_next_and_both_files_are_written(account, tmp_path):
    north = write(tmp_path / "north.yaml", list(HAND_MANAGED))  # 2 of 3: room for one
    south = write(tmp_path / "south.yaml", [])
    new = sorted(tenant_id_for_customer(new_customer(account.world, f"reader{n}")[0]) for n in range(3))
    shards = (ShardFile("north", north, 3), ShardFile("south", south, 5))

    summary = run_sync_shards(settings(*shards), account.client(), now("2026-11-26"))

    assert ids(north) == sorted([h.id for h in HAND_MANAGED] + new[:1])
    assert ids(south) == new[1:]
    assert summary.run.written and not summary.run.report.needs_attention
    assert [(s.stack, s.tenants, s.capacity, s.room, s.added, s.written) for s in summary.shards] == [
        ("north", 3, 3, 0, 1, True),
        ("south", 2, 5, 3, 2, True),
    ]
    details = {c.tenant_id: c.detail for c in summary.run.report.changes if c.kind == "added"}
    assert details == {
        new[0]: "plan reader, active; shard north",
        new[1]: "plan reader, active; shard south",
        new[2]: "plan reader, active; shard south",
    }
    assert summary.run.report.stripe_tenants == 3 and summary.run.report.hand_managed == 2

    before = (north.read_bytes(), south.read_bytes())
    again = run_sync_shards(settings(*shards), account.client(), now("2026-11-27"))
    assert not again.run.written and not again.run.report.changes
    assert (north.read_bytes(), south.read_bytes()) == before


def test_an_unchanged_shard_is_not_rewritten_byte_for_byte(account, tmp_path):
    alice = existing(account.world, "alice")
    # A full shard written by hand, with a comment the sync's own dump would not keep.
    north = tmp_path / "north.yaml"
    north.write_text("# kept by hand\n" + dump_roster([*HAND_MANAGED, alice]), encoding="utf-8")
    south = write(tmp_path / "south.yaml", [])
    cus, _ = new_customer(account.world, "bob")
    before, stat = north.read_bytes(), north.stat()

    summary = run_sync_shards(
        settings(ShardFile("north", north, 3), ShardFile("south", south, 3)), account.client(), now("2026-11-26")
    )

    assert north.read_bytes() == before
    assert (north.stat().st_ino, north.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert ids(south) == [tenant_id_for_customer(cus)]
    assert [(s.stack, s.changed, s.written) for s in summary.shards] == [("north", False, False), ("south", True, True)]


def test_a_full_domain_refuses_the_new_tenant_until_a_shard_is_added(account, tmp_path):
    alice = existing(account.world, "alice")
    north = write(tmp_path / "north.yaml", list(HAND_MANAGED))
    south = write(tmp_path / "south.yaml", [alice])
    cus, _ = new_customer(account.world, "bob")
    tenant_id = tenant_id_for_customer(cus)
    shards = (ShardFile("north", north, 2), ShardFile("south", south, 1))
    before = (north.read_bytes(), south.read_bytes())

    summary = run_sync_shards(settings(*shards), account.client(), now("2026-11-26"))

    report = summary.run.report
    assert (north.read_bytes(), south.read_bytes()) == before and not summary.run.written
    assert report.needs_attention and not report.changes and not report.lost_claims
    [notice] = [n for n in report.notices if n.kind == "skipped"]
    assert (notice.customer, notice.tenant_id) == (cus, tenant_id)
    assert notice.message == FULL.format("north 2/2, south 1/1")
    assert [(s.tenants, s.room) for s in summary.shards] == [(2, 0), (1, 0)]

    west = write(tmp_path / "west.yaml", [])
    grown = run_sync_shards(settings(*shards, ShardFile("west", west, 4)), account.client(), now("2026-11-27"))
    assert ids(west) == [tenant_id] and not grown.run.report.needs_attention
    assert (north.read_bytes(), south.read_bytes()) == before


def test_a_name_held_in_one_shard_is_not_given_to_a_new_customer_placed_in_another(account, tmp_path):
    alice = existing(account.world, "alice")
    carol = existing(account.world, "carol")
    north = write(tmp_path / "north.yaml", [alice])  # full
    south = write(tmp_path / "south.yaml", [carol])
    late, late_sub = new_customer(account.world, "alice", "2026-11-20")
    shards = (ShardFile("north", north, 1), ShardFile("south", south, 5))
    before = south.read_bytes()

    summary = run_sync_shards(settings(*shards, dry_run=True), account.client(), now("2026-11-26"))

    report = summary.run.report
    assert not report.changes  # carol in south is an existing tenant, not a new one nor a lost claim
    [notice] = [n for n in report.notices if n.kind == "skipped"]
    assert notice.customer == late and f"already used by tenant {alice.id}" in notice.message
    assert [(c.customer, c.subscription, c.holder) for c in report.lost_claims] == [(late, late_sub, alice.id)]
    assert south.read_bytes() == before and ids(north) == [alice.id]


def test_shards_that_overlap_cannot_be_synced(account, tmp_path):
    alice = existing(account.world, "alice")
    north = write(tmp_path / "north.yaml", [alice])
    south = write(tmp_path / "south.yaml", [alice.with_changes(id="other00001", stripe_customer=None)])
    with pytest.raises(SyncError, match="username 'alice' is in shard north and in shard south"):
        run_sync_shards(
            settings(ShardFile("north", north, 5), ShardFile("south", south, 5)), account.client(), now("2026-11-26")
        )


def test_a_shard_changed_during_the_stripe_read_stops_everything(account, tmp_path, monkeypatch):
    north = write(tmp_path / "north.yaml", [HAND_MANAGED[0]])
    south = write(tmp_path / "south.yaml", [])
    for n in range(3):
        new_customer(account.world, f"reader{n}")
    real = sync_module._read_stripe

    def read_and_edit(*args, **kwargs):
        write(south, [HAND_MANAGED[1]])  # a hand edit, or the webhook's run, lands meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_module, "_read_stripe", read_and_edit)
    before = north.read_bytes()
    with pytest.raises(SyncError) as caught:
        run_sync_shards(
            settings(ShardFile("north", north, 2), ShardFile("south", south, 5)), account.client(), now("2026-11-26")
        )
    assert not isinstance(caught.value, ShardWriteError)
    assert f"{south}: " in str(caught.value) and "changed on disk since it was read" in str(caught.value)
    assert north.read_bytes() == before  # north had a change too: not written, as south could not be
    assert ids(south) == [HAND_MANAGED[1].id]


def test_a_later_shard_changed_at_its_write_keeps_the_earlier_one_and_the_next_run_converges(
    account, tmp_path, monkeypatch
):
    north = write(tmp_path / "north.yaml", [HAND_MANAGED[0]])
    south = write(tmp_path / "south.yaml", [])
    new = sorted(tenant_id_for_customer(new_customer(account.world, f"reader{n}")[0]) for n in range(3))
    shards = settings(ShardFile("north", north, 2), ShardFile("south", south, 5))
    real = write_roster

    def edit_south_first(path, *args, **kwargs):
        if Path(path) == south:
            write(south, [HAND_MANAGED[1]])  # lands after the check, before south's own write
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sync_module, "write_roster", edit_south_first)
    with pytest.raises(ShardWriteError) as caught:
        run_sync_shards(shards, account.client(), now("2026-11-26"))
    assert (caught.value.stack, caught.value.written) == ("south", ("north",))
    assert "changed on disk" in str(caught.value) and "run the sync again" in str(caught.value)
    assert ids(north) == sorted([HAND_MANAGED[0].id, new[0]])  # written, whole
    assert ids(south) == [HAND_MANAGED[1].id]  # the edit, not undone

    monkeypatch.setattr(sync_module, "write_roster", real)
    summary = run_sync_shards(shards, account.client(), now("2026-11-26"))
    assert [(s.stack, s.written) for s in summary.shards] == [("north", False), ("south", True)]
    assert ids(north) == sorted([HAND_MANAGED[0].id, new[0]])
    assert ids(south) == sorted([HAND_MANAGED[1].id, *new[1:]])


def test_a_dry_run_places_and_reports_but_writes_nothing(account, tmp_path):
    north = write(tmp_path / "north.yaml", [])
    cus, _ = new_customer(account.world, "bob")
    before = north.read_bytes()
    summary = run_sync_shards(settings(ShardFile("north", north, 5), dry_run=True), account.client(), now("2026-11-26"))
    assert north.read_bytes() == before and not summary.run.written
    assert [(s.tenants, s.added, s.changed, s.written) for s in summary.shards] == [(1, 1, True, False)]
    assert [c.tenant_id for c in summary.run.report.changes] == [tenant_id_for_customer(cus)]


# --- the CLI: `--stack S` syncs every shard of S's domain ---


def stack_file(root: Path, stack: str, prefix: str, capacity: int) -> None:
    text = (REPO_ROOT / "stacks" / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    # Each shard its own app prefix (the dev file's is replaced: a key given twice is refused).
    text = text.replace("  alex-hosted:appPrefix: alexdev\n", f"  alex-hosted:appPrefix: {prefix}\n")
    text += (
        f"  alex-hosted:roster: rosters/{stack}.yaml\n"
        "  alex-hosted:domainShards: [north, south]\n"
        f"  alex-hosted:capacity: {capacity}\n"
    )
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(text, encoding="utf-8")


@pytest.fixture
def domain(account, tmp_path, monkeypatch):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "rosters").mkdir()
    stack_file(tmp_path, "north", "alexn", 2)
    stack_file(tmp_path, "south", "alexs", 2)
    monkeypatch.setattr(stack_config_module, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", account.url)
    write(tmp_path / "rosters" / "north.yaml", list(HAND_MANAGED))
    write(tmp_path / "rosters" / "south.yaml", [])
    return tmp_path / "rosters"


def test_cli_stack_syncs_every_shard_and_says_each_ones_room(account, domain, capsys):
    cus, _ = new_customer(account.world, "bob")
    code = main(["--stack", "south", "--now", "2026-11-26"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"Roster {domain / 'north.yaml'}: unchanged; shard north: 2/2 tenants, room 0" in out
    assert f"Roster {domain / 'south.yaml'}: written; shard south: 1/2 tenants, 1 new, room 1" in out
    assert f"{tenant_id_for_customer(cus)} (bob) [{cus}]: plan reader, active; shard south" in out

    new_customer(account.world, "carol")
    new_customer(account.world, "dave")
    code = main(["--stack", "north", "--json", "--now", "2026-11-27"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["needs_attention"]
    assert [(s["stack"], s["tenants"], s["capacity"], s["room"], s["written"]) for s in data["shards"]] == [
        ("north", 2, 2, 0, False),
        ("south", 2, 2, 0, True),
    ]
    [skipped] = [n for n in data["notices"] if n["kind"] == "skipped"]
    assert skipped["message"] == FULL.format("north 2/2, south 2/2")


def test_cli_keeps_one_cursor_for_the_domain_beside_its_first_shard(account, domain, capsys):
    new_customer(account.world, "bob")
    assert main(["--stack", "south", "--now", "2026-11-26"]) == 0  # from any shard of the domain
    capsys.readouterr()
    cursor = domain / "north.stripe-cursor.json"
    assert cursor.exists() and not (domain / "south.stripe-cursor.json").exists()
    new_customer(account.world, "carol")
    assert main(["--stack", "north", "--incremental", "--json", "--now", "2026-11-26"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["read"]["mode"] == "incremental" and data["cursor"] == {"path": str(cursor), "outcome": "written"}
    assert [(s["stack"], s["added"]) for s in data["shards"]] == [("north", 0), ("south", 1)]


def test_cli_roster_alone_stays_the_one_roster_mode(account, domain, capsys):
    new_customer(account.world, "bob")
    roster = domain / "north.yaml"  # full as a shard, but a roster alone has no capacity
    code = main(["--stack", "north", "--roster", str(roster), "--now", "2026-11-26"])
    out = capsys.readouterr().out
    assert code == 0 and f"Roster {roster}: written" in out and "shard" not in out
    assert len(load_roster(roster)) == 3


def test_cli_shards_that_disagree_cannot_run(account, domain, capsys):
    south = domain.parent / "stacks" / "Pulumi.south.yaml"
    south.write_text(south.read_text().replace("books-dev.example.com", "other.example.com"))
    code = main(["--stack", "north", "--now", "2026-11-26"])
    err = capsys.readouterr().err
    assert code == 2 and "shard south serves other.example.com, not books-dev.example.com" in err


def test_a_name_race_against_a_tenant_that_found_no_room_is_not_settled_yet(account, tmp_path):
    """Both customers are unprovisioned while the domain is full: nobody is cancelled until the holder
    has a library; once a shard is added the holder is placed and the later customer settled."""
    north = write(tmp_path / "north.yaml", list(HAND_MANAGED))
    first, _ = new_customer(account.world, "zed", "2026-11-01")
    late, late_sub = new_customer(account.world, "zed", "2026-11-02")
    shards = (ShardFile("north", north, 2),)

    full = run_sync_shards(settings(*shards), account.client(), now("2026-11-26"))
    assert full.run.report.lost_claims == []
    assert account.world.subscriptions[late_sub].status == "active"

    west = write(tmp_path / "west.yaml", [])
    grown = run_sync_shards(settings(*shards, ShardFile("west", west, 4)), account.client(), now("2026-11-27"))
    assert ids(west) == [tenant_id_for_customer(first)]
    assert [c.customer for c in grown.run.report.lost_claims] == [late]
