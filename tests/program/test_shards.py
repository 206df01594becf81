"""Shards under mocks: the first shard of a domain hosts the edge and builds its map from every shard's
roster; the others declare no edge; ids, usernames and custom domains are unique across shards; a shard
over its capacity is refused; the two keys are checked like every other."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from components.program import capacity_problem
from config.shards import Shard, ShardError, cross_shard_problems, hosts_edge, load_shards
from config.stack_config import ConfigError, StackConfig, from_mapping
from tenants.roster import RosterEntry
from tests.program.harness import SETTINGS_VALUES, config_problems, decode_map, run_program

DAY = date(2026, 1, 1)


def shard_settings(stack: str, prefix: str, **extra: Any) -> StackConfig:
    values = {
        **SETTINGS_VALUES,
        "alex-hosted:appPrefix": prefix,
        "alex-hosted:domainShards": ["prod", "prod-2"],
        **{f"alex-hosted:{k}": v for k, v in extra.items()},
    }
    return from_mapping(stack, values)


PROD, PROD2 = shard_settings("prod", "alex"), shard_settings("prod-2", "alex2")
ANN = RosterEntry("ann0000001", "ann", "ann@example.org", "free", "active", created_at=DAY)
BEA = RosterEntry("bea0000001", "bea", "bea@example.org", "free", "active", created_at=DAY, domains=("read.bea.net",))


def shards_of(*rosters: tuple[StackConfig, list[RosterEntry]]) -> Any:
    by_stack = dict((s.stack, (s, r)) for s, r in rosters)
    return {
        "read_settings": lambda stack: by_stack[stack][0],
        "read_roster": lambda settings: by_stack[settings.stack][1],
    }


def test_the_first_shard_hosts_the_edge() -> None:
    assert hosts_edge(PROD) and not hosts_edge(PROD2)
    alone = from_mapping("dev", SETTINGS_VALUES)
    assert alone.domain_shards == ("dev",) and hosts_edge(alone)


def test_the_edge_map_holds_every_shards_hostnames_with_each_shards_apps() -> None:
    readers = shards_of((PROD, [ANN]), (PROD2, [BEA]))
    shards = load_shards(PROD, [ANN], **readers)
    assert [s.stack for s in shards] == ["prod", "prod-2"]
    recording = run_program([ANN], PROD, shards=shards)
    hosts = decode_map(recording.one("edge-machine-ams").plain("config"))["hosts"]
    assert hosts == {
        "ann.books.example.com": {"app": "alex-ann0000001"},
        "bea.books.example.com": {"app": "alex2-bea0000001"},
        "read.bea.net": {"app": "alex2-bea0000001"},
    }
    assert "edge-domain-read.bea.net" in recording.registrations  # the host holds every shard's certificates


@pytest.mark.parametrize(
    ("other", "problem"),
    [
        ([replace(BEA, username="ann")], "username 'ann' is in shard prod and in shard prod-2 (tenant bea0000001)"),
        ([replace(BEA, id="ann0000001")], "tenant id 'ann0000001' is in shard prod and in shard prod-2"),
    ],
)
def test_claims_are_unique_across_shards(other: list[RosterEntry], problem: str) -> None:
    with pytest.raises(ShardError) as caught:
        load_shards(PROD, [ANN], **shards_of((PROD, [ANN]), (PROD2, other)))
    assert problem in caught.value.problems[0]


def test_a_custom_domain_in_two_shards_is_refused() -> None:
    shards = [Shard(PROD, [replace(ANN, domains=("read.bea.net",))]), Shard(PROD2, [BEA])]
    assert cross_shard_problems({s.stack: s.roster for s in shards}) == [
        "custom domain 'read.bea.net' is in shard prod and in shard prod-2 (tenant bea0000001)"
    ]


def test_a_shard_on_another_domain_or_with_another_list_is_refused() -> None:
    elsewhere = shard_settings("prod-2", "alex2", domain="books.example.org")
    other_list = shard_settings("prod-2", "alex2", domainShards=["prod-2", "prod"])
    with pytest.raises(ShardError) as caught:
        load_shards(PROD, [ANN], **shards_of((PROD, [ANN]), (elsewhere, [])))
    assert caught.value.problems == ["shard prod-2 serves books.example.org, not books.example.com"]
    with pytest.raises(ShardError) as caught:
        load_shards(PROD, [ANN], **shards_of((PROD, [ANN]), (other_list, [])))
    assert caught.value.problems == ["shard prod-2 lists other shards (prod-2, prod)"]


def test_an_unreadable_shard_is_named() -> None:
    def broken(stack: str) -> StackConfig:
        raise ConfigError(stack, [f"{stack}: no such stack file"])

    with pytest.raises(ShardError, match="shard prod-2: stack 'prod-2' configuration is not usable"):
        load_shards(PROD, [ANN], read_settings=broken)


def test_a_shard_that_does_not_host_the_edge_declares_none() -> None:
    recording = run_program([BEA], PROD2)
    assert not [n for n in recording.registrations if n.startswith(("edge", "signup"))]
    assert "edge" not in recording.exports
    assert recording.one("bea0000001-app").plain("name") == "alex2-bea0000001"


def test_a_shard_over_its_capacity_is_refused_naming_the_numbers() -> None:
    small = replace(PROD, capacity=1)
    assert capacity_problem(small, [ANN]) is None
    problem = capacity_problem(small, [ANN, BEA])
    assert problem is not None and problem.startswith("stack prod holds 2 tenants, over its alex-hosted:capacity of 1")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("domainShards", "prod", "alex-hosted:domainShards: expected a list of stack names"),
        ("domainShards", [], "alex-hosted:domainShards: expected a list of stack names"),
        ("domainShards", ["prod-2", "prod-3"], "alex-hosted:domainShards: must list this stack (prod)"),
        ("domainShards", ["prod", "prod"], "alex-hosted:domainShards: 'prod' is listed more than once"),
        ("domainShards", ["prod", "pr od"], "alex-hosted:domainShards: 'pr od' is not a stack name"),
        ("domainShards", ["prod", 2], "alex-hosted:domainShards: expected a list of stack names"),
        ("capacity", 0, "alex-hosted:capacity: expected a whole number of tenants from 1 to 490"),
        ("capacity", 491, "alex-hosted:capacity: expected a whole number of tenants from 1 to 490"),
        ("capacity", "many", "alex-hosted:capacity: expected a whole number of tenants from 1 to 490"),
        ("capacity", True, "alex-hosted:capacity: expected a whole number of tenants from 1 to 490"),
        ("capacity", 4.5, "alex-hosted:capacity: expected a whole number of tenants from 1 to 490"),
    ],
)
def test_shard_keys_are_checked_naming_the_key(key: str, value: Any, problem: str) -> None:
    found = config_problems({f"alex-hosted:{key}": value})
    assert any(p.startswith(problem) for p in found), found


@pytest.mark.parametrize(("value", "capacity"), [(None, 400), (250, 250), ("250", 250), (490, 490)])
def test_capacity_defaults_to_400_and_takes_a_number_or_its_text(value: Any, capacity: int) -> None:
    values = {**SETTINGS_VALUES, **({"alex-hosted:capacity": value} if value is not None else {})}
    assert from_mapping("prod", values).capacity == capacity
