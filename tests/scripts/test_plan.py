"""The offline plan and cost command: validates the roster and prices what the stack will hold."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from scripts import plan, pricing
from tenants.roster import RosterEntry


def test_plan_prints_every_tenant_and_the_totals(run_cli) -> None:
    result = run_cli(plan.main, ["prod"])
    assert result.code == 0, result
    assert "Stack prod: 5 tenant(s) under books.example.com" in result.out
    assert "bob-books" in result.out and "26 GB" in result.out
    assert "Totals: 5 tenant(s): 3 active, 1 cancelled, 1 suspended; plans: 1 free, 1 library, 3 reader" in result.out


def test_plan_json_prices_each_state_as_designed(run_cli, make_roster) -> None:
    roster = make_roster(
        [
            RosterEntry("active0001", "ann", "ann@example.org", "reader", "active"),
            RosterEntry("paused0001", "bea", "bea@example.org", "reader", "suspended"),
            RosterEntry(
                "purged0001", "cat", "cat@example.org", "reader", "purging",
                cancelled_at=date.fromisoformat("2026-01-01"), purge_after=date.fromisoformat("2026-01-31"), purge_marked_at=date.fromisoformat("2026-02-01"),
            ),
        ]
    )  # fmt: skip
    result = run_cli(plan.main, ["dev", "--roster", str(roster), "--json", "--awake-fraction", "0.5"])
    assert result.code == 0, result
    doc = json.loads(result.out)
    rows = {row["id"]: row for row in doc["tenants"]}
    assert [rows[t]["machine"] for t in ("active0001", "paused0001", "purged0001")] == ["running", "stopped", "none"]
    volume = 1 * pricing.FLY_VOLUME_GB_MONTH  # the dev stack's reader plan has a 1 GB volume
    rootfs = pricing.FLY_ROOTFS_GB * pricing.FLY_ROOTFS_GB_MONTH
    compute = pricing.compute_month(512)
    # No certificate per tenant any more: hostnames are the edge's.
    assert rows["paused0001"]["fly_month"] == pytest.approx(volume + rootfs, abs=1e-3)
    assert rows["purged0001"]["fly_month"] == pytest.approx(volume, abs=1e-3)
    assert rows["active0001"]["fly_month"] == pytest.approx(volume + 0.5 * compute + 0.5 * rootfs, abs=1e-3)
    assert doc["totals"]["tenants"] == 3 and doc["totals"]["machines_running"] == 1
    # The dev stack's edge: two always-on routers and the wildcard certificate.
    edge = 2 * pricing.compute_month(256) + pricing.FLY_WILDCARD_CERT_MONTH
    assert doc["totals"]["edge_month"] == pytest.approx(edge, abs=0.01)
    assert doc["totals"]["fly_month"] == pytest.approx(sum(r["fly_month"] for r in doc["tenants"]) + edge, abs=0.01)
    assert doc["assumptions"]["awake_fraction"] == 0.5


def test_plan_invalid_roster_lists_every_problem_and_exits_1(run_cli, tmp_path: Path) -> None:
    roster = tmp_path / "dev.yaml"
    roster.write_text(
        "- id: acme000001\n  username: www\n  email: nope\n  plan: reader\n  state: active\n"
        "- id: acme000002\n  username: bob\n  email: bob@example.org\n  plan: gold\n  state: active\n"
    )
    result = run_cli(plan.main, ["dev", "--roster", str(roster)])
    assert result.code == 1
    assert result.out == ""
    assert "3 problems" in result.err
    assert "entry 1 (id 'acme000001'): username: 'www' is reserved" in result.err
    assert "entry 1 (id 'acme000001'): email: 'nope' is not an email address" in result.err
    assert "entry 2 (id 'acme000002'): plan: unknown plan 'gold'" in result.err


def test_plan_unknown_stack_exits_1_naming_the_file(run_cli) -> None:
    result = run_cli(plan.main, ["staging"])
    assert result.code == 1
    assert "Pulumi.staging.yaml: no such stack file" in result.err


def test_plan_rejects_an_impossible_awake_fraction(run_cli) -> None:
    result = run_cli(plan.main, ["dev", "--awake-fraction", "2"])
    assert result.code == 2
    assert "--awake-fraction" in result.error


def test_plan_warns_when_a_stack_outgrows_the_published_limits(run_cli, make_roster) -> None:
    roster = make_roster(
        [RosterEntry(f"tenant{i:04d}", f"user{i:04d}", f"u{i}@example.org", "free", "active") for i in range(190)]
    )
    result = run_cli(plan.main, ["dev", "--roster", str(roster)])
    assert result.code == 0, result
    # What the edge removed: no DNS record or certificate per tenant, so no warning about either.
    assert "DNS records" not in result.out and "Let's Encrypt" not in result.out
    assert "Warning" not in result.out
    roster = make_roster(
        [RosterEntry(f"tenant{i:04d}", f"user{i:04d}", f"u{i}@example.org", "free", "active") for i in range(370)]
    )
    result = run_cli(plan.main, ["dev", "--roster", str(roster)])
    assert result.code == 0, result
    assert "Warning: shard dev holds 370 of its 400 tenants: add a shard to alex-hosted:domainShards" in result.out
    assert "Shards of books-dev.example.com: dev 370/400 (the edge) tenants" in result.out


def test_plan_refuses_a_shard_over_its_capacity(run_cli, make_roster) -> None:
    """The token cap is met by the capacity: past 400 the stack is refused before Cloudflare would be."""
    roster = make_roster(
        [RosterEntry(f"tenant{i:04d}", f"user{i:04d}", f"u{i}@example.org", "free", "active") for i in range(401)]
    )
    result = run_cli(plan.main, ["dev", "--roster", str(roster)])
    assert result.code == 1
    assert "stack dev holds 401 tenants, over its alex-hosted:capacity of 400" in result.err


def test_plan_token_warning_still_fires_near_the_accounts_500(make_roster) -> None:
    rows = [
        plan.TenantPlan(f"t{i}", "u", "h", "a", "b", "free", "active", "ams", "running", 1, 256, 0.25, 0, 0)
        for i in range(460)
    ]
    assert plan.limit_warnings(rows) == [
        "460 bucket tokens: a Cloudflare account holds 500 tokens, the operator's own included"
    ]


def test_plan_counts_custom_domain_certificates_on_the_edge(run_cli, make_roster) -> None:
    roster = make_roster(
        [
            RosterEntry("tenant0001", "ann", "a@example.org", "free", "active", domains=("books.ann.net", "ann.net")),
            RosterEntry("tenant0002", "bea", "b@example.org", "free", "active", domains=("read.bea.org",)),
        ]
    )
    doc = json.loads(run_cli(plan.main, ["dev", "--roster", str(roster), "--json"]).out)
    assert doc["totals"]["custom_domains"] == 3
    edge = 2 * pricing.compute_month(256) + pricing.FLY_WILDCARD_CERT_MONTH + 3 * pricing.FLY_CERT_MONTH
    assert doc["totals"]["edge_month"] == pytest.approx(edge, abs=0.01)
    # Three single-hostname certificates are inside the org's ten free ones.
    assert doc["totals"]["fly_month"] == pytest.approx(
        sum(r["fly_month"] for r in doc["tenants"]) + edge - 3 * pricing.FLY_CERT_MONTH, abs=0.01
    )


def test_plan_refuses_a_custom_domain_in_the_stacks_own_name_space(run_cli, make_roster) -> None:
    for hostname in ("books-dev.example.com", "x.books-dev.example.com", "example.com"):
        roster = make_roster([RosterEntry("tenant0001", "ann", "a@example.org", "free", "active", domains=(hostname,))])
        result = run_cli(plan.main, ["dev", "--roster", str(roster)])
        assert result.code == 1, hostname
        assert f"domains: '{hostname}' is the stack's own domain books-dev.example.com" in result.err


def test_plan_takes_the_stack_as_the_other_scripts_do(run_cli) -> None:
    assert run_cli(plan.main, ["--stack", "dev"]).out == run_cli(plan.main, ["dev"]).out
    assert run_cli(plan.main, []).code == 2


def test_plan_prices_the_signup_site_only_where_the_stack_runs_one(run_cli) -> None:
    prod = json.loads(run_cli(plan.main, ["prod", "--json"]).out)["totals"]
    dev = json.loads(run_cli(plan.main, ["dev", "--json"]).out)["totals"]
    assert prod["signup_month"] == pytest.approx(pricing.compute_month(256), abs=0.01)
    assert dev["signup_month"] == 0
