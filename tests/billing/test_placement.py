"""billing.placement: existing tenants never move, new ones fill the first shard with room, a full domain refuses."""

from __future__ import annotations

from datetime import date

from billing.placement import ShardSpace, apply_to_report, full_message, place
from billing.report import Change, Report
from config.shards import cross_shard_problems
from tenants.roster import RosterEntry


def tenant(tenant_id: str, state: str = "active") -> RosterEntry:
    entry = RosterEntry(
        tenant_id, f"u-{tenant_id}", f"{tenant_id}@example.com", "reader", state, stripe_customer=f"cus_{tenant_id}"
    )
    if state == "purging":
        dates = {
            "cancelled_at": date(2026, 1, 1),
            "purge_after": date(2026, 1, 31),
            "purge_marked_at": date(2026, 2, 1),
        }
        entry = entry.with_changes(**dates)
    return entry


def space(stack: str, capacity: int, *ids: str) -> ShardSpace:
    return ShardSpace(stack, capacity, frozenset(ids))


def ids(entries: list[RosterEntry]) -> list[str]:
    return [t.id for t in entries]


def test_existing_tenants_stay_even_over_capacity_and_new_ones_go_elsewhere():
    old = [tenant(f"old{n:07d}") for n in range(3)]
    shards = [space("a", 2, *ids(old)), space("b", 5)]
    result = place(shards, [*old, tenant("new0000001")])
    assert ids(result.rosters["a"]) == ids(old)  # 3 of 2: kept, never moved
    assert ids(result.rosters["b"]) == ["new0000001"]
    assert result.placed == {"new0000001": "b"}
    assert [(u.stack, u.tenants, u.capacity, u.added, u.room) for u in result.uses] == [
        ("a", 3, 2, 0, 0),
        ("b", 1, 5, 1, 4),
    ]
    assert not result.refused


def test_an_existing_tenant_in_a_later_shard_stays_there_with_room_in_the_first():
    result = place([space("a", 10), space("b", 10, "zzz0000001")], [tenant("zzz0000001")])
    assert ids(result.rosters["b"]) == ["zzz0000001"] and result.rosters["a"] == []
    assert result.placed == {}


def test_new_tenants_fill_the_first_shard_with_room_in_id_order():
    shards = [space("a", 3, "a000000001"), space("b", 2), space("c", 9)]
    new = [tenant(f"n{n:09d}") for n in (5, 1, 4, 2, 3)]  # given out of order
    result = place(shards, [tenant("a000000001"), *new])
    assert ids(result.rosters["a"]) == ["a000000001", "n000000001", "n000000002"]
    assert ids(result.rosters["b"]) == ["n000000003", "n000000004"]
    assert ids(result.rosters["c"]) == ["n000000005"]
    # Deterministic: the same input, any order, the same placement.
    again = place(list(shards), [*reversed(new), tenant("a000000001")])
    assert again.rosters == result.rosters


def test_purging_tenants_count_against_capacity():
    purging = tenant("p000000001", "purging")
    result = place([space("a", 1, "p000000001"), space("b", 1)], [purging, tenant("n000000001")])
    assert ids(result.rosters["a"]) == ["p000000001"]
    assert ids(result.rosters["b"]) == ["n000000001"]


def test_an_entry_removed_by_this_run_frees_its_place():
    # "gone" was in shard a when the run began; the reconcile removed it, so its place is free.
    result = place([space("a", 1, "gone000001"), space("b", 1)], [tenant("n000000001")])
    assert ids(result.rosters["a"]) == ["n000000001"]


def test_a_full_domain_refuses_and_the_notice_names_each_shards_use():
    shards = [space("prod", 2, "a000000001", "a000000002"), space("prod-2", 2, "b000000001")]
    current = [tenant("a000000001"), tenant("a000000002"), tenant("b000000001")]
    result = place(shards, [*current, tenant("n000000002"), tenant("n000000001")])
    assert result.placed == {"n000000001": "prod-2"}
    assert ids(result.refused) == ["n000000002"]
    assert "n000000002" not in ids(result.rosters["prod"]) + ids(result.rosters["prod-2"])
    message = full_message(result.uses)
    assert message == ("not added: every shard is full (prod 2/2, prod-2 2/2); add a shard to alex-hosted:domainShards")

    report = Report(
        changes=[
            Change("added", "n000000001", "u-n000000001", "cus_n000000001", "plan reader, active"),
            Change("added", "n000000002", "u-n000000002", "cus_n000000002", "plan reader, active"),
            Change("email", "a000000001", "u-a000000001", "cus_a000000001", "x -> y"),
        ],
        stripe_tenants=5,
    )
    apply_to_report(result, report)
    assert [(c.kind, c.tenant_id, c.detail) for c in report.changes] == [
        ("added", "n000000001", "plan reader, active; shard prod-2"),
        ("email", "a000000001", "x -> y"),
    ]
    [notice] = report.notices
    assert (notice.kind, notice.customer, notice.tenant_id, notice.message) == (
        "skipped",
        "cus_n000000002",
        "n000000002",
        message,
    )
    assert report.needs_attention and report.stripe_tenants == 4


def test_one_shard_adds_no_shard_name_to_the_change():
    result = place([space("solo", 5)], [tenant("n000000001")])
    report = Report(changes=[Change("added", "n000000001", "u", "cus_n000000001", "plan reader, active")])
    apply_to_report(result, report)
    assert report.changes[0].detail == "plan reader, active"


def test_overlap_problems_name_both_shards():
    a = [tenant("a000000001")]
    b = [tenant("b000000001").with_changes(username="u-a000000001", domains=("x.example.org",))]
    c = [tenant("c000000001").with_changes(domains=("x.example.org",))]
    assert cross_shard_problems({"a": a, "b": b, "c": c}) == [
        "username 'u-a000000001' is in shard a and in shard b (tenant b000000001)",
        "custom domain 'x.example.org' is in shard b and in shard c (tenant c000000001)",
    ]
    assert cross_shard_problems({"a": a, "b": [tenant("b000000001")]}) == []
