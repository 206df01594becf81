"""scripts.storage against the local Cloudflare stand-in: the table, exit codes, failures, suspension."""

from __future__ import annotations

import json
from datetime import date

import pytest

from emulators.cloudflare import BucketUsage
from scripts.storage import main
from tenants.roster import RosterEntry, load_roster

from .conftest import CF_TOKEN, STACK

GIB = 1024**3
# dev stack plans: free 0.25 GB, reader 1 GB, library 2 GB.
HEAVY = RosterEntry("heavyuser1", "heavy", "heavy@example.com", "free", "active", created_at=date(2026, 9, 1))
LIGHT = RosterEntry("lightuser1", "light", "light@example.com", "reader", "active", created_at=date(2026, 9, 1))
FRESH = RosterEntry("freshuser1", "fresh", "fresh@example.com", "library", "active", created_at=date(2026, 11, 1))
GONE = RosterEntry(
    "goneuser01", "gone", "gone@example.com", "free", "purging",
    created_at=date(2026, 1, 1), cancelled_at=date(2026, 9, 1), purge_after=date(2026, 10, 1),
    purge_marked_at=date(2026, 10, 2),
)  # fmt: skip


def usage(gib: float, objects: int = 10) -> BucketUsage:
    return BucketUsage(payload_size=int(gib * GIB), metadata_size=1000, object_count=objects)


def args(roster, *extra: str) -> list[str]:
    return ["--stack", STACK, "--roster", str(roster), "--now", "2026-11-20T12:00:00Z", *extra]


def test_storage_table_sorted_by_use_flags_over_quota_and_exits_1(cloudflare, make_roster, run_cli):
    roster = make_roster([HEAVY, LIGHT, FRESH, GONE])
    before = roster.read_bytes()
    cloudflare.usage = {"alex-heavyuser1": usage(0.5, 1234), "alex-lightuser1": usage(0.1), "alex-goneuser01": usage(9)}

    result = run_cli(main, args(roster))

    assert result.code == 1, result
    lines = result.out.splitlines()
    assert lines[0].split()[:4] == ["TENANT", "USERNAME", "PLAN", "STATE"]
    order = [line.split()[0] for line in lines[1:4]]
    assert order == ["heavyuser1", "lightuser1", "freshuser1"], result
    assert "OVER" in lines[1] and "1234" in lines[1] and "200%" in lines[1]
    assert "no data" in lines[3]
    assert "goneuser01" not in result.out  # purging tenants are not measured
    assert "3 tenant(s) checked, 1 over quota" in result.out
    assert "lags" in result.out
    assert roster.read_bytes() == before  # read-only without --suspend-after


def test_storage_all_within_quota_exits_0_with_one_account_query(cloudflare, make_roster, run_cli, stack_config):
    roster = make_roster([HEAVY, LIGHT])
    cloudflare.usage = {"alex-heavyuser1": usage(0.1), "alex-lightuser1": usage(0.2), "alex-other": usage(50)}

    result = run_cli(main, args(roster))

    assert result.code == 0, result
    assert "0 over quota" in result.out
    assert len(cloudflare.requests) == 1
    variables = cloudflare.requests[0].body["variables"]
    assert variables == {
        "accountTag": stack_config.cloudflare_account_id,
        "start": "2026-11-19T12:00:00Z",
        "end": "2026-11-20T12:00:00Z",
    }


def test_storage_empty_roster_exits_0(cloudflare, make_roster, run_cli):
    result = run_cli(main, args(make_roster([])))

    assert result.code == 0, result
    assert "no tenants" in result.out


def test_storage_json_envelope_lists_rows_and_note(cloudflare, make_roster, run_cli):
    cloudflare.usage = {"alex-heavyuser1": usage(0.5)}

    result = run_cli(main, args(make_roster([HEAVY]), "--json"))

    assert result.code == 1, result
    envelope = json.loads(result.out)
    assert envelope["command"] == "storage" and envelope["stack"] == STACK and envelope["exit_code"] == 1
    assert envelope["data"]["over_quota"] == ["heavyuser1"]
    assert envelope["data"]["tenants"][0]["over"] is True
    assert "lags" in envelope["data"]["note"]


def test_storage_unreachable_cloudflare_exits_2(cloudflare, make_roster, run_cli, closed_port, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", f"http://127.0.0.1:{closed_port}/client/v4")

    result = run_cli(main, args(make_roster([HEAVY]), "--timeout", "2"))

    assert result.code == 2, result
    assert result.error.startswith("storage: error: Cloudflare API at http://127.0.0.1:")
    assert "unreachable" in result.error
    assert result.out == ""


@pytest.mark.parametrize(
    ("token", "expected"),
    [("wrong-token-" + "w" * 30, "HTTP 403"), ("", "CLOUDFLARE_API_TOKEN is not set")],
    ids=["wrong", "missing"],
)
def test_storage_bad_token_exits_2_without_printing_it(cloudflare, make_roster, run_cli, monkeypatch, token, expected):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)

    result = run_cli(main, args(make_roster([HEAVY])))

    assert result.code == 2, result
    assert expected in result.err
    assert CF_TOKEN not in result.out + result.err
    if token:
        assert token not in result.out + result.err


def test_storage_token_without_account_access_exits_2(cloudflare, make_roster, run_cli):
    cloudflare.account_id = "f" * 32

    result = run_cli(main, args(make_roster([HEAVY])))

    assert result.code == 2, result
    assert "not authorized" in result.err and "Account Analytics" in result.err


def test_storage_invalid_roster_exits_2_naming_entry_and_field(cloudflare, tmp_path, run_cli):
    roster = tmp_path / "bad.yaml"
    roster.write_text("- id: Bad\n  username: x\n  email: nope\n  plan: gold\n  state: active\n")

    result = run_cli(main, args(roster))

    assert result.code == 2, result
    assert "entry 1" in result.err and "plan" in result.err and "email" in result.err


def test_storage_over_quota_round_trip_marks_suspends_and_clears(cloudflare, make_roster, run_cli, stack_config):
    cancelled = RosterEntry(
        "cancelled1", "leaving", "leaving@example.com", "free", "cancelled",
        created_at=date(2026, 1, 1), cancelled_at=date(2026, 11, 1), purge_after=date(2026, 12, 1),
    )  # fmt: skip
    roster = make_roster([HEAVY, LIGHT, cancelled])
    cloudflare.usage = {
        "alex-heavyuser1": usage(0.5),
        "alex-lightuser1": usage(0.1),
        "alex-cancelled1": usage(0.3),
    }

    def run_on(day: str):
        return run_cli(main, ["--stack", STACK, "--roster", str(roster), "--now", day, "--suspend-after", "7"])

    first = run_on("2026-11-01")
    assert first.code == 1, first
    tenants = {t.id: t for t in load_roster(roster, stack_config.plans)}
    assert tenants["heavyuser1"].over_quota_since == date(2026, 11, 1)
    assert tenants["heavyuser1"].state == "active"
    assert tenants["cancelled1"].over_quota_since == date(2026, 11, 1)
    assert tenants["lightuser1"].over_quota_since is None
    after_first = roster.read_bytes()

    again = run_on("2026-11-08")  # 7 days: not *more* than 7 yet; nothing changes, file byte-identical
    assert again.code == 1, again
    assert roster.read_bytes() == after_first
    assert "wrote" not in again.err

    late = run_on("2026-11-09")
    assert late.code == 1, late
    tenants = {t.id: t for t in load_roster(roster, stack_config.plans)}
    assert (tenants["heavyuser1"].state, tenants["heavyuser1"].hold) == ("suspended", "over_quota")
    assert tenants["heavyuser1"].over_quota_since == date(2026, 11, 1)
    assert tenants["cancelled1"].state == "cancelled"  # only active tenants are suspended this way
    assert "heavyuser1: suspended" in late.out

    cloudflare.usage["alex-heavyuser1"] = usage(0.1)
    cloudflare.usage["alex-cancelled1"] = usage(0.1)
    back = run_on("2026-11-10")
    assert back.code == 0, back
    tenants = {t.id: t for t in load_roster(roster, stack_config.plans)}
    assert tenants["heavyuser1"].over_quota_since is None
    assert tenants["cancelled1"].over_quota_since is None
    assert (tenants["heavyuser1"].state, tenants["heavyuser1"].hold) == ("suspended", "over_quota")
    assert "lift the hold by hand" in back.out


def test_storage_missing_sample_keeps_over_quota_mark(cloudflare, make_roster, run_cli, stack_config):
    roster = make_roster([HEAVY.with_changes(over_quota_since=date(2026, 11, 15))])
    before = roster.read_bytes()

    result = run_cli(main, args(roster, "--suspend-after", "30"))

    assert result.code == 0, result
    assert roster.read_bytes() == before
    assert "no usage data yet for 1 bucket(s): heavyuser1" in result.out


def test_storage_never_undoes_a_roster_change_made_while_usage_was_read(
    cloudflare, make_roster, run_cli, stack_config, monkeypatch
):
    import scripts.storage as storage

    roster = make_roster([HEAVY, LIGHT])
    cloudflare.usage = {"alex-heavyuser1": usage(0.5)}
    fetch = storage.fetch_usage

    def fetch_while_an_operator_edits(*a, **kw):
        make_roster([HEAVY, LIGHT.with_changes(state="suspended", hold="operator")])  # lands mid-run
        return fetch(*a, **kw)

    monkeypatch.setattr(storage, "fetch_usage", fetch_while_an_operator_edits)
    result = run_cli(main, args(roster, "--suspend-after", "7"))
    edited = {t.id: t for t in load_roster(roster, stack_config.plans)}
    assert result.code == 2, result
    assert "changed on disk since it was read" in result.err
    assert edited["lightuser1"].hold == "operator"  # the operator's change survives
    assert edited["heavyuser1"].over_quota_since is None  # and nothing of this run was written
