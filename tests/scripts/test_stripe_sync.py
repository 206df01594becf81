"""`python -m scripts.stripe_sync` in-process: exit codes, output, what is (not) written."""

from __future__ import annotations

import json
import os

import pytest

import config.stack_config as stack_config_module
import tenants.roster as roster_module
from billing.cursor import cursor_path
from billing.tenant_ids import tenant_id_for_customer
from emulators.faults import Fault
from scripts.stripe_sync import main
from tenants.roster import RosterEntry, load_roster
from tests.billing.support import API_KEY, at, fake_account, hand_managed_block, write_hand_managed

pytestmark = pytest.mark.usefixtures("fast_stripe_retries")


@pytest.fixture
def account(monkeypatch):
    with fake_account() as acct:
        monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
        monkeypatch.setenv("STRIPE_API_BASE", acct.url)
        yield acct


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.yaml"
    write_hand_managed(path)
    return path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def customer(world, username, key="reader_monthly", **kw):
    cus = world.add_customer(username=username, email=f"{username}@example.com", created=at("2026-01-01"))
    return cus, world.subscribe(cus, key, **kw)


def test_cli_help_documents_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in ("exit codes:", "0  done", "1  done, but something needs attention", "2  could not run",
                 "--dry-run", "--json", "--now", "--grace-days", "STRIPE_API_KEY"):  # fmt: skip
        assert text in out


def test_cli_sync_adds_then_second_run_is_byte_identical(account, roster, capsys):
    cus, _ = customer(account.world, "alice")
    code, out, err = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")
    assert code == 0, err
    assert f"added       {tenant_id_for_customer(cus)} (alice) [{cus}]: plan reader, active" in out
    assert f"Roster {roster}: written" in out
    before = roster.read_bytes()
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-27")
    assert (code, roster.read_bytes()) == (0, before)
    assert "0 change(s)" in out and f"Roster {roster}: unchanged" in out


def test_cli_hand_managed_entries_stay_byte_for_byte(account, roster, capsys):
    hand = hand_managed_block(roster.read_text())
    customer(account.world, "alice")
    cus, sub = customer(account.world, "bob", "library_monthly")
    assert run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")[0] == 0
    account.world.cancel(sub, at=at("2026-11-26"))
    assert run_cli(capsys, "--roster", str(roster), "--now", "2026-11-27")[0] == 0
    assert hand_managed_block(roster.read_text()) == hand
    assert len(load_roster(roster)) == 4


def test_cli_skips_need_attention_and_the_rest_applies(account, roster, capsys):
    customer(account.world, "alice")
    customer(account.world, "gold-member", "gold_monthly")
    customer(account.world, "erin")  # the hand-managed tenant friend0001 has it
    account.world.add_customer(email="nobody@example.com")
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")
    assert code == 1
    assert "lookup key 'gold_monthly', which maps to no plan" in out
    assert "not added: username 'erin' is already used by tenant friend0001" in out
    assert "Needs attention" in out
    assert {t.username for t in load_roster(roster)} == {"erin", "ops-demo", "alice"}


def test_cli_dry_run_prints_changes_and_writes_nothing(account, roster, capsys):
    customer(account.world, "alice")
    before = roster.read_bytes()
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--dry-run", "--now", "2026-11-26")
    assert code == 0
    assert "(dry run)" in out and "added" in out and "not written (dry run)" in out
    assert roster.read_bytes() == before


def test_cli_json_summary(account, roster, capsys):
    cus, sub = customer(account.world, "alice")
    account.world.cancel(sub, at=at("2026-11-20"))
    stale = RosterEntry(
        tenant_id_for_customer(cus), "alice", "alice@example.com", "reader", "active", stripe_customer=cus
    )
    write_hand_managed(roster, [stale])
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--json", "--now", "2026-11-26", "--grace-days", "10")
    summary = json.loads(out)
    assert code == 0
    assert (summary["written"], summary["changed"], summary["needs_attention"]) == (True, True, False)
    assert summary["changes"] == [{
        "kind": "cancelled", "tenant_id": stale.id, "username": "alice", "customer": cus,
        "detail": "subscription " + sub + " ended 2026-11-20; export allowed until 2026-11-30",
    }]  # fmt: skip
    assert summary["counts"] == {"subscriptions": 1, "customers": 1, "stripe_tenants": 1, "hand_managed": 2}


def test_cli_missing_customer_is_reported_and_fine(account, roster, capsys):
    ghost = RosterEntry("ghost00001", "ghost", "g@example.com", "reader", "active", stripe_customer="cus_Gone")
    write_hand_managed(roster, [ghost])
    before = roster.read_bytes()
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")
    assert code == 0
    assert "missing     tenant ghost00001 [cus_Gone]: no subscription in Stripe's listing; left unchanged" in out
    assert roster.read_bytes() == before


def test_cli_without_key_cannot_run(account, roster, capsys, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY")
    code, out, err = run_cli(capsys, "--roster", str(roster))
    assert (code, out) == (2, "")
    assert err.startswith("stripe_sync: error: STRIPE_API_KEY is not set")


def test_cli_bad_key_cannot_run_and_is_never_printed(account, roster, capsys, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_SECRETsecretSECRET1234")
    code, out, err = run_cli(capsys, "--roster", str(roster))
    assert code == 2
    assert "refused the API key" in err
    assert "SECRET" not in out + err and "1234" not in out + err


def test_cli_invalid_roster_cannot_run(account, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: X\n  username: alice\n")
    code, _, err = run_cli(capsys, "--roster", str(bad))
    assert code == 2
    assert "entry 1 (id 'X'): email: required" in err


def test_cli_unreachable_stripe_cannot_run(roster, capsys, monkeypatch, closed_port):
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    code, _, err = run_cli(capsys, "--roster", str(roster), "--api-base", f"http://127.0.0.1:{closed_port}")
    assert code == 2
    assert "APIConnectionError" in err


def test_cli_failure_mid_listing_leaves_the_old_file(account, roster, capsys):
    for n in range(101):  # two pages of 100
        customer(account.world, f"user{n:03d}")
    account.fake.faults.add(Fault(path="/v1/subscriptions", status=500, times=10, skip=1))
    before = roster.read_bytes()
    code, out, err = run_cli(capsys, "--roster", str(roster))
    assert (code, out) == (2, "")
    assert "HTTP 500" in err
    assert roster.read_bytes() == before


def test_cli_failed_write_leaves_the_old_file_whole(account, roster, capsys, monkeypatch):
    customer(account.world, "alice")
    before = roster.read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)  # tenants.roster renames its temporary file with it
    code, _, err = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")
    assert code == 2 and "No space left on device" in err
    assert roster.read_bytes() == before
    left = sorted(p.name for p in roster.parent.iterdir())
    assert left == sorted([roster.name, f".{roster.name}.lock"])  # no temporary file; the lock file stays


def test_cli_stack_uses_the_stack_roster(account, capsys):
    customer(account.world, "alice")
    dev_roster = roster_module.roster_path("dev")
    before = dev_roster.read_bytes()
    code, out, err = run_cli(capsys, "--stack", "dev", "--dry-run", "--now", "2026-11-26")
    assert code == 0, err
    assert f"Roster {dev_roster}: not written (dry run)" in out and "(alice)" in out
    assert dev_roster.read_bytes() == before


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--now", "yesterday", "--now: expected YYYY-MM-DD"),
    ("--grace-days", "-1", "--grace-days: expected 0 or more"),
])  # fmt: skip
def test_cli_bad_flags_cannot_run(account, roster, capsys, flag, value, message):
    code, _, err = run_cli(capsys, "--roster", str(roster), flag, value)
    assert code == 2 and message in err


def test_cli_roster_copy_is_checked_with_its_stacks_plan_table(account, tmp_path, capsys, monkeypatch):
    # `--roster` used to exclude `--stack` and always meant the default plan table: a copy of a roster
    # whose stack defines its own plans could not be synced. Now `--stack S --roster COPY` uses S's table.
    stack_text = (roster_module.REPO_ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    plans_at = stack_text.index("  alex-hosted:plans:")
    stack_text = (
        stack_text[:plans_at] + "  alex-hosted:plans:\n    shelf: {quota_gb: 3, volume_gb: 3, memory_mb: 512}\n"
    )
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.shelves.yaml").write_text(stack_text)
    monkeypatch.setattr(stack_config_module, "REPO_ROOT", tmp_path)
    copy = tmp_path / "copy.yaml"
    copy.write_text(
        "- id: shelf00001\n  username: shelfreader\n  email: s@example.org\n  plan: shelf\n  state: active\n"
    )
    before = copy.read_bytes()

    code, out, err = run_cli(capsys, "--stack", "shelves", "--roster", str(copy), "--dry-run", "--now", "2026-11-26")

    assert code == 0, err
    assert copy.read_bytes() == before
    code, _, err = run_cli(capsys, "--roster", str(copy), "--dry-run", "--now", "2026-11-26")
    assert code == 2 and "unknown plan 'shelf'" in err  # a roster alone still means the default table


# --- incremental runs: the cursor beside the roster, and what the run says about how it read Stripe ---


def test_help_says_how_an_incremental_run_falls_back(capsys):
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--incremental" in out and "incremental runs:" in out
    assert "stripe-cursor.json" in out and "Stripe keeps events (30 days)" in out


def test_a_full_run_keeps_the_cursor_and_an_incremental_run_reads_from_it(account, roster, capsys):
    customer(account.world, "alice")
    code, out, err = run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")
    assert code == 0, err
    assert "Read: every subscription\n" in out
    assert f"Cursor {cursor_path(roster)}: written" in out and cursor_path(roster).exists()

    bob, _ = customer(account.world, "bob")
    code, out, err = run_cli(capsys, "--roster", str(roster), "--incremental", "--now", "2026-11-26")
    assert code == 0, err
    assert "Read: the changes since the cursor, 1 new event(s) naming 1 customer(s), re-read from Stripe" in out
    assert f"added       {tenant_id_for_customer(bob)} (bob) [{bob}]: plan reader, active" in out
    assert "alice" not in out  # not read, not reported


def test_the_json_summary_says_how_stripe_was_read(account, roster, capsys):
    customer(account.world, "alice")
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--incremental", "--json", "--now", "2026-11-26")
    first = json.loads(out)
    assert code == 0
    assert first["read"]["mode"] == "full" and first["read"]["fallback"].startswith("no cursor at ")
    assert first["cursor"] == {"path": str(cursor_path(roster)), "outcome": "written"}
    customer(account.world, "bob")
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--incremental", "--json", "--now", "2026-11-26")
    second = json.loads(out)
    assert second["read"] == {"mode": "incremental", "fallback": "", "events": 1, "customers": 1}
    assert [c["username"] for c in second["changes"]] == ["bob"]


def test_a_lost_cursor_is_a_full_run_that_says_so(account, roster, capsys):
    customer(account.world, "alice")
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--incremental", "--now", "2026-11-26")
    assert code == 0
    assert (
        f"Read: every subscription (incremental asked, but no cursor at {cursor_path(roster)} "
        "(the first run, or it was lost))"
    ) in out


def test_an_incremental_dry_run_writes_neither_the_roster_nor_the_cursor(account, roster, capsys):
    run_cli(capsys, "--roster", str(roster), "--now", "2026-11-26")
    customer(account.world, "alice")
    before = (roster.read_bytes(), cursor_path(roster).read_bytes())
    code, out, _ = run_cli(capsys, "--roster", str(roster), "--incremental", "--dry-run", "--now", "2026-11-26")
    assert code == 0 and "(alice)" in out and f"Cursor {cursor_path(roster)}: not written (dry run)" in out
    assert (roster.read_bytes(), cursor_path(roster).read_bytes()) == before
