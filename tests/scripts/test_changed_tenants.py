"""scripts.changed_tenants: a roster-only change targets exactly the changed tenants (and, on the edge
host, the edge and the signup site); anything else is a full `up`.

The globs are checked against the URNs the program registers (under mocks, the engine's own URN form)
with the engine's matcher, ported line for line from pkg/resource/deploy/deployment.go
(`UrnTargets.getMatcher`): `**` is `.*`, `*` is `[^:]*`, everything else literal, anchored.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from config.stack_config import from_mapping
from scripts.changed_tenants import changed_entries, plan_targets, tenant_targets
from tenants.roster import RosterEntry
from tests.program.harness import SETTINGS_VALUES, Recording, run_program

DAY = date(2026, 1, 1)
A = RosterEntry("acme000001", "alice", "a@example.org", "free", "active", created_at=DAY)
B = RosterEntry("acme0000012", "bob", "b@example.org", "free", "active", created_at=DAY)  # A's id is a prefix
C = RosterEntry("carol00001", "carol", "c@example.org", "free", "active", created_at=DAY)
HOST = from_mapping("test", {**SETTINGS_VALUES, "alex-hosted:domainShards": ["test", "test-2"]})
SHARD = from_mapping("test-2", {**SETTINGS_VALUES, "alex-hosted:domainShards": ["test", "test-2"]})


def engine_matcher(glob: str) -> re.Pattern[str]:
    """pkg/resource/deploy/deployment.go getMatcher, in Python."""
    segments = ["[^:]*".join(re.escape(part) for part in segment.split("*")) for segment in glob.split("**")]
    return re.compile("^" + ".*".join(segments) + "$")


def targeted(recording: Recording, targets: list[str]) -> set[str]:
    matchers = [engine_matcher(t) for t in targets]
    return {r.name for r in recording.registrations.values() if any(m.match(r.urn) for m in matchers)}


@pytest.fixture(scope="module")
def recording() -> Recording:
    return run_program([A, B, C], HOST)


def test_a_changed_tenant_is_targeted_with_all_its_resources_and_nothing_else(recording: Recording) -> None:
    names = targeted(recording, tenant_targets("test", ["acme000001"]))
    assert names == {n for n in recording.registrations if n == "acme000001" or n.startswith("acme000001-")}
    assert len(names) == 12  # the component and its 11 children
    assert not {n for n in names if n.startswith("acme0000012")}  # an id with A's id as a prefix is not hit


def test_the_edge_host_also_targets_the_edge_and_nothing_of_the_other_tenants(recording: Recording) -> None:
    decision = plan_targets(
        HOST, ["tenants/test.yaml"], {"test": [A, B, C], "test-2": []}, {"test": [A, C], "test-2": []}
    )
    assert decision["full"] is False and decision["tenants"] == ["acme0000012"]
    names = targeted(recording, list(decision["targets"]))  # type: ignore[call-overload]
    edge = {n for n in recording.registrations if n.startswith("edge")}
    assert edge and edge <= names
    assert not {n for n in names if n.startswith(("acme000001-", "carol"))} and "acme000001" not in names


def test_another_shards_change_targets_only_the_hosts_edge() -> None:
    decision = plan_targets(HOST, ["tenants/test-2.yaml"], {"test": [A], "test-2": []}, {"test": [A], "test-2": [C]})
    assert decision == {"full": False, "tenants": [], "targets": [
        "urn:pulumi:test::alex-hosted::**::edge", "urn:pulumi:test::alex-hosted::**::edge-*",
        "urn:pulumi:test::alex-hosted::**::signup", "urn:pulumi:test::alex-hosted::**::signup-*",
    ]}  # fmt: skip


def test_a_shard_that_hosts_no_edge_targets_its_tenants_only() -> None:
    decision = plan_targets(SHARD, ["tenants/test-2.yaml"], {"test": [], "test-2": []}, {"test": [], "test-2": [C]})
    assert decision == {"full": False, "tenants": ["carol00001"], "targets": tenant_targets("test-2", ["carol00001"])}


@pytest.mark.parametrize(
    ("paths", "old", "why"),
    [
        (["components/tenant.py"], [A], "the program or the stack file changed"),
        (["stacks/Pulumi.test.yaml"], [A], "the program or the stack file changed"),
        (["requirements.txt"], [A], "the program or the stack file changed"),
        (["tenants/test.yaml"], None, "the roster before the change cannot be read"),
    ],
)
def test_anything_but_roster_lines_is_a_full_up(paths: list[str], old: list[RosterEntry] | None, why: str) -> None:
    assert plan_targets(HOST, paths, {"test": old, "test-2": []}, {"test": [A], "test-2": []}) == {
        "full": True,
        "why": why,
    }


def test_many_changed_tenants_are_a_full_up() -> None:
    many = [replace(A, id=f"tenant{i:04d}", username=f"user{i:04d}") for i in range(3)]
    decision = plan_targets(HOST, ["tenants/test.yaml"], {"test": [], "test-2": []}, {"test": many, "test-2": []}, 2)
    assert decision == {"full": True, "why": "3 tenants changed (more than 2)"}


def test_changed_entries_are_added_edited_and_removed_ones() -> None:
    assert changed_entries([A, B], [replace(A, plan="reader"), C]) == ["acme000001", "acme0000012", "carol00001"]
    assert changed_entries([A, B], [A, B]) == []


def test_both_apply_waves_measure_the_change_from_the_commit_before() -> None:
    import yaml

    from tenants.roster import REPO_ROOT

    jobs = yaml.safe_load((REPO_ROOT / ".github/workflows/apply.yml").read_text())["jobs"]
    for name in ("up", "up-edges"):
        (up,) = [s for s in jobs[name]["steps"] if s.get("name") == "pulumi up"]
        assert 'scripts.pulumi_stack up --stack "$STACK" "${base[@]}"' in up["run"]
        assert 'base=(--base "$BEFORE")' in up["run"] and 'base=(--base "$CALLED_REF~1")' in up["run"]
