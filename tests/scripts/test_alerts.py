"""scripts.alerts against the GitHub stand-in on 127.0.0.1: one issue per alert, opened once, closed when gone.

Alerts come from `--from-json` (the issue handling alone) or `--drift`; the stand-in counts every request,
so "no duplicate" is proved as "no write at all". Retries run on a recorded sleep: nothing waits for real.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime

import httpx
import pytest

from components.machine_config import bucket_name
from emulators.cloudflare import BucketUsage
from emulators.faults import Fault
from emulators.fly import FlyEmulator
from emulators.fly.speeds import INSTANT
from emulators.github import GitHubWorld, serve
from ops.fleet_health import Alert, AlertKind
from ops.github_issues import MARKER_RE, GitHubClient, GitHubError, detail_of, marker, sync_alerts
from scripts import alerts
from scripts.alerts import main
from tenants.bucket_layout import snapshot_key
from tenants.roster import RosterEntry
from tests.conftest import FLY_TEST_TOKEN

from .conftest import CF_TOKEN, R2_SECRET, STACK
from .test_status import provision

TOKEN = "ghp_alerts_token_do_not_print"
REPO = "octo/alerts"
NOW = "2026-11-30T08:00:00Z"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps(monkeypatch) -> Sleeps:
    recorded = Sleeps()
    monkeypatch.setattr(alerts, "SLEEP", recorded)
    return recorded


@pytest.fixture
def github(monkeypatch, sleeps):
    with serve(GitHubWorld(repository=REPO, token=TOKEN)) as (url, fake):
        monkeypatch.setenv("GITHUB_API_URL", url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        for name in ("GITHUB_SERVER_URL", "GITHUB_RUN_ID"):
            monkeypatch.delenv(name, raising=False)
        yield fake


@pytest.fixture
def roster(make_roster):
    return make_roster([])


@pytest.fixture
def run_alerts(run_cli, roster, tmp_path):
    """Runs the script with these alerts (`(kind, tenant, detail)`) as its input; `checked` the kinds it checked."""

    def run(found, *extra: str, checked=None):
        data = {"alerts": [{"kind": k, "tenant": t, "title": f"{t}: {k}", "detail": d} for k, t, d in found]}
        if checked is not None:
            data["kinds_checked"] = checked
        path = tmp_path / "alerts.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return run_cli(
            main, ["--stack", STACK, "--roster", str(roster), "--from-json", str(path), "--now", NOW, *extra]
        )

    return run


def drift(run_cli, roster, outcome: str, *extra: str):
    return run_cli(main, ["--stack", STACK, "--roster", str(roster), "--drift", outcome, "--now", NOW, *extra])


FAILED = ("machine-failed", "tenant00001", "the machine of app alexdev-tenant00001 is failed")
STALE = ("backup-stale", "tenant00002", "newest backup 30.0 h old")


def open_keys(fake) -> dict[str, int]:
    """Alert key -> number of each open issue the script opened (found by its marker, as the script does)."""
    found = {}
    for issue in fake.world.open_issues():
        keys = MARKER_RE.findall(issue.body or "")
        if keys:
            found[keys[-1]] = issue.number
    return found


def writes(fake) -> list[tuple[str, str]]:
    return [(r.method, r.path.split(REPO, 1)[1]) for r in fake.faults.writes()]


def test_an_alert_opens_one_issue_titled_labelled_and_marked(github, run_alerts):
    result = run_alerts([FAILED])

    assert result.code == 1, result
    (issue,) = github.world.open_issues()
    assert issue.title == "tenant00001: machine-failed"
    assert issue.labels == ["alert", "alert:machine-failed", f"stack:{STACK}", "tenant:tenant00001"]
    assert marker(f"{STACK}/tenant00001/machine-failed") in (issue.body or "")
    assert detail_of(issue.body or "") == FAILED[2]
    assert f"opened #{issue.number} {STACK}/tenant00001/machine-failed" in result.err
    assert result.out.splitlines()[-1].startswith(f"alerts {STACK}: 1 alert(s) open: 1 opened")


def test_the_next_run_with_the_same_alerts_opens_no_duplicate_and_writes_nothing(github, run_alerts):
    assert run_alerts([FAILED, STALE]).code == 1
    github.faults.log.clear()

    result = run_alerts([FAILED, STALE])

    assert result.code == 1, result
    assert len(github.world.open_issues()) == 2
    assert writes(github) == []
    assert [(r.method, r.status) for r in github.faults.requests()] == [("GET", 200)]  # one page of open issues
    assert "2 unchanged" in result.out


def test_an_alert_gone_closes_its_issue_with_one_comment(github, run_alerts):
    run_alerts([FAILED, STALE])
    stale_number = open_keys(github)[f"{STACK}/tenant00002/backup-stale"]
    github.faults.log.clear()

    result = run_alerts([FAILED])

    assert result.code == 1, result
    closed = github.world.issues[stale_number]
    assert closed.state == "closed" and closed.state_reason == "completed"
    assert [c.body for c in closed.comments] == ["Resolved at 2026-11-30 08:00 UTC: the alert is no longer raised."]
    assert writes(github) == [("POST", f"/issues/{stale_number}/comments"), ("PATCH", f"/issues/{stale_number}")]
    assert list(open_keys(github)) == [f"{STACK}/tenant00001/machine-failed"]
    assert f"close #{stale_number}" in result.out
    github.faults.log.clear()
    assert run_alerts([]).code == 0
    assert github.world.open_issues() == []
    assert run_alerts([]).code == 0  # nothing left to close: no write
    assert len(writes(github)) == 2


def test_an_open_issue_of_a_kind_not_checked_this_run_is_not_closed(github, run_alerts):
    run_alerts([FAILED, STALE])

    result = run_alerts([], checked=["backup-stale"])

    assert result.code == 0, result
    assert list(open_keys(github)) == [f"{STACK}/tenant00001/machine-failed"]
    assert f"left open #{open_keys(github)[f'{STACK}/tenant00001/machine-failed']}" in result.out


def test_drift_opens_one_issue_and_a_clean_check_closes_it_without_touching_tenant_alerts(
    github, run_alerts, run_cli, roster
):
    run_alerts([FAILED])

    opened = drift(run_cli, roster, "failure")
    again = drift(run_cli, roster, "failure")

    assert opened.code == 1 and again.code == 1, (opened, again)
    keys = open_keys(github)
    assert set(keys) == {f"{STACK}/-/drift", f"{STACK}/tenant00001/machine-failed"}
    issue = github.world.issues[keys[f"{STACK}/-/drift"]]
    assert issue.title == f"Drift detected: {STACK}"
    assert issue.labels == ["alert", "alert:drift", f"stack:{STACK}"]
    assert run_alerts([]).code == 0  # a tenant run clears the tenant alert but never the drift issue
    assert set(open_keys(github)) == {f"{STACK}/-/drift"}

    clean = drift(run_cli, roster, "success")

    assert clean.code == 0, clean
    assert open_keys(github) == {}
    assert issue.state == "closed" and len(issue.comments) == 1


def test_a_drift_report_puts_the_end_of_the_preview_output_in_the_issue(github, run_cli, roster, tmp_path):
    report = tmp_path / "preview.txt"
    report.write_text("\n".join(f"line {n}" for n in range(100)) + "\n~ fly:Machine tenant updated ```\n")

    result = drift(run_cli, roster, "failure", "--drift-report", str(report))

    assert result.code == 1, result
    (issue,) = github.world.open_issues()
    assert "line 99\n~ fly:Machine tenant updated '''" in (issue.body or "") and "line 50" not in (issue.body or "")


def test_labels_are_created_once(github, run_alerts):
    run_alerts([FAILED])
    created = [r.path for r in github.faults.requests() if r.method == "POST" and r.path.endswith("/labels")]
    assert len(created) == 4
    assert github.world.labels["alert"].color == "d93f0b"

    run_alerts([FAILED, ("machine-failed", "tenant00003", "failed")])

    created = [r.path for r in github.faults.requests() if r.method == "POST" and r.path.endswith("/labels")]
    assert len(created) == 5  # only tenant:tenant00003 was new
    assert sorted(github.world.labels) == sorted(
        ["alert", "alert:machine-failed", f"stack:{STACK}", "tenant:tenant00001", "tenant:tenant00003"]
    )


def test_a_label_that_exists_already_in_another_case_is_not_created_again(github, run_alerts):
    github.world.add_label("ALERT", "000000")

    assert run_alerts([FAILED]).code == 1

    assert github.world.labels["alert"].name == "ALERT"
    assert len([r for r in github.faults.requests() if r.path.endswith("/labels") and r.method == "POST"]) == 3


def test_more_than_one_page_of_open_issues_is_read_whole(github, run_alerts):
    github.max_per_page = 2
    many = [("over-quota", f"tenant{n:05d}", "R2 use 2 GiB") for n in range(7)]
    run_alerts(many)
    github.faults.log.clear()

    same = run_alerts(many)

    assert same.code == 1 and writes(github) == [], same
    assert [r.query.get("page") for r in github.faults.requests()] == [None, ["2"], ["3"], ["4"]]
    result = run_alerts(many[:6])
    assert list(open_keys(github)) != [] and f"{STACK}/tenant00006/over-quota" not in open_keys(github)
    assert len(open_keys(github)) == 6, result


def test_a_5xx_on_a_read_is_retried_then_succeeds(github, run_alerts, sleeps):
    github.faults.add(Fault(path=r"/issues$", method="GET", status=502))

    result = run_alerts([FAILED])

    assert result.code == 1, result
    assert len(github.world.open_issues()) == 1
    assert len(sleeps) == 1
    assert [r.status for r in github.faults.requests()][:2] == [502, 200]


def test_a_lost_answer_to_an_issue_create_does_not_open_it_twice(github, run_alerts, sleeps):
    github.faults.add(Fault(path=r"/issues$", method="POST", status=500, when="after_work"))

    result = run_alerts([FAILED])

    assert result.code == 1, result
    assert len(github.world.issues) == 1
    assert [(r.method, r.status) for r in github.faults.requests() if r.path.endswith("/issues")] == [
        ("GET", 200),
        ("POST", 500),
        ("GET", 200),
    ]


def test_a_5xx_before_an_issue_create_looks_then_creates_once(github, run_alerts):
    github.faults.add(Fault(path=r"/issues$", method="POST", status=503))

    assert run_alerts([FAILED]).code == 1

    assert len(github.world.issues) == 1


def test_a_secondary_rate_limit_waits_as_long_as_retry_after_says(github, run_alerts, sleeps):
    github.faults.add(Fault(path=r"/issues$", method="POST", status=403, headers={"Retry-After": "7"}))

    result = run_alerts([FAILED])

    assert result.code == 1, result
    assert sleeps == [7.0]
    assert len(github.world.issues) == 1


def test_a_primary_rate_limit_waits_until_the_reset(github, sleeps):
    reset = 1_900_000_030
    github.faults.add(
        Fault(path=r"/issues$", status=403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    )
    with GitHubClient(
        token=TOKEN,
        repository=REPO,
        base_url=os.environ["GITHUB_API_URL"],
        sleep=sleeps,
        wall_clock=lambda: 1_900_000_000.0,
    ) as client:
        assert client.list_issues() == []
    assert sleeps == [31.0]


def test_a_rate_limit_longer_than_the_cap_is_one_error_line(github, run_alerts, sleeps):
    github.faults.add(Fault(path=r"/issues$", status=429, headers={"Retry-After": "3600"}))

    result = run_alerts([FAILED])

    assert result.code == 2, result
    assert "rate limit: asked to wait 3600 s" in result.error
    assert sleeps == []


def test_a_bad_token_is_exit_2_one_line_without_the_token(github, run_alerts, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong_token_do_not_print")

    result = run_alerts([FAILED])

    assert result.code == 2, result
    assert result.error.startswith("alerts: error: GitHub answered GET /repos/octo/alerts/issues with HTTP 401")
    assert "Bad credentials" in result.error and "GITHUB_TOKEN" in result.error
    assert "ghp_wrong_token_do_not_print" not in result.out + result.err
    assert "Traceback" not in result.err


def test_an_unknown_repository_is_exit_2_one_line(github, run_alerts, monkeypatch):
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/other")

    result = run_alerts([FAILED])

    assert result.code == 2, result
    assert "HTTP 404" in result.error and "'octo/other'" in result.error


@pytest.mark.parametrize(
    "value",
    ["", "   ", "octo", "octo/", "/alerts", "octo/alerts/x", "oc to/alerts", "octo/al erts", "octo/..", "-octo/alerts",
     "octo-/alerts", "octo/alerts\n/x", "octo/alérts", "o" * 40 + "/alerts", "octo/" + "a" * 101, "octo\\alerts"],
)  # fmt: skip
def test_a_malformed_github_repository_is_exit_2_one_line(github, run_alerts, monkeypatch, value):
    monkeypatch.setenv("GITHUB_REPOSITORY", value)

    result = run_alerts([FAILED])

    assert result.code == 2, result
    assert "GITHUB_REPOSITORY" in result.error and "Traceback" not in result.err
    assert github.faults.requests() == []


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("GITHUB_TOKEN", "", "GITHUB_TOKEN is not set"),
        ("GITHUB_TOKEN", "ghp_tök", "GITHUB_TOKEN cannot be used: it holds a non-ASCII"),
        ("GITHUB_TOKEN", "ghp_a\nb", "GITHUB_TOKEN cannot be used: it holds a line break"),
        ("GITHUB_API_URL", "ftp://example.com", "GITHUB_API_URL: expected an http(s) URL"),
        ("GITHUB_API_URL", "http://127.0.0.1:99999", "GITHUB_API_URL: expected an http(s) URL"),
        ("GITHUB_API_URL", "http:// spaced", "GITHUB_API_URL: expected an http(s) URL"),
    ],
)
def test_other_unusable_github_settings_are_exit_2_one_line(github, run_alerts, monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)

    result = run_alerts([FAILED])

    assert result.code == 2, result
    assert says in result.error, result
    assert github.faults.requests() == []


def test_an_unreachable_api_is_exit_2_one_line(github, run_alerts, monkeypatch, closed_port, sleeps):
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{closed_port}")

    result = run_alerts([FAILED])

    assert result.code == 2, result
    assert "GitHub API unreachable (GET /repos/octo/alerts/issues: ConnectError)" in result.error
    assert len(sleeps) == 4  # a refused connection is retried, on the recorded sleep


def test_a_dry_run_only_reads_and_prints_what_it_would_do(github, run_alerts):
    run_alerts([FAILED])
    github.faults.log.clear()

    result = run_alerts([STALE], "--dry-run")

    assert result.code == 1, result
    assert writes(github) == []
    assert "would open new issue" in result.out and "would close #1" in result.out
    assert any(line == "would create label 'tenant:tenant00002'" for line in result.out.splitlines())
    assert "1 would be opened" in result.out


def test_json_prints_one_envelope_with_what_was_done(github, run_alerts):
    result = run_alerts([FAILED], "--json")

    assert result.code == 1, result
    envelope = json.loads(result.out)
    assert envelope["command"] == "alerts" and envelope["exit_code"] == 1 and envelope["stack"] == STACK
    assert [a["number"] for a in envelope["data"]["opened"]] == [1]
    assert envelope["data"]["alerts"][0]["key"] == f"{STACK}/tenant00001/machine-failed"
    assert len(envelope["data"]["labels_created"]) == 4


def test_a_changed_detail_edits_the_body_without_a_comment(github, run_alerts):
    run_alerts([FAILED])
    (issue,) = github.world.open_issues()
    github.faults.log.clear()

    result = run_alerts([(FAILED[0], FAILED[1], "restarted 5 times")])

    assert result.code == 1, result
    assert writes(github) == [("PATCH", f"/issues/{issue.number}")]
    assert detail_of(issue.body or "") == "restarted 5 times" and issue.comments == []
    assert "1 updated" in result.out


def test_a_recurring_alert_opens_a_new_issue_rather_than_reopening(github, run_alerts):
    run_alerts([FAILED])
    run_alerts([])
    run_alerts([FAILED])

    assert [(i.number, i.state) for i in github.world.issues.values()] == [(1, "closed"), (2, "open")]


def test_duplicate_open_issues_of_one_alert_keep_the_oldest(github, run_alerts):
    run_alerts([FAILED])
    (first,) = github.world.open_issues()
    github.world.add_issue("copy", first.body, ["alert"])

    result = run_alerts([FAILED])

    assert [i.number for i in github.world.open_issues()] == [first.number]
    assert github.world.issues[2].state_reason == "not_planned"
    assert "Duplicate of #1" in github.world.issues[2].comments[0].body
    assert result.code == 1


FAILED_KEY, STALE_KEY = f"{STACK}/tenant00001/machine-failed", f"{STACK}/tenant00002/backup-stale"
# Details quote what tenants and servers wrote: each tries to make the FAILED alert's issue another's.
FORGED_DETAILS = {
    "another alert's marker": f"boom {marker(STALE_KEY)}",
    "a marker first, then a forged footer": f"{marker(STALE_KEY)}\n\n---\nOpened by `python -m scripts.alerts`.\n",
    "a marker that removing markers would assemble": f"<!-- alex-hosted-alert: {marker('x')}{STALE_KEY} -->",
    "another stack's marker": marker(f"prod/tenant00001/{FAILED[0]}"),
    "its own marker, then another's": f"{marker(FAILED_KEY)} and {marker(STALE_KEY)}",
    "a comment left open": "<!-- everything after this would be hidden",
    "a marker in a code span": f"`{marker(STALE_KEY)}`",
}


@pytest.mark.parametrize("detail", FORGED_DETAILS.values(), ids=FORGED_DETAILS.keys())
def test_no_detail_can_re_key_an_alert(github, run_alerts, detail):
    forged = (FAILED[0], FAILED[1], detail)
    assert run_alerts([forged, STALE]).code == 1
    github.faults.log.clear()

    assert run_alerts([forged, STALE]).code == 1

    assert writes(github) == []  # found again, each by its own marker: no duplicate, no edit
    bodies = {MARKER_RE.findall(issue.body or "")[-1]: issue.body or "" for issue in github.world.open_issues()}
    assert sorted(bodies) == [FAILED_KEY, STALE_KEY]
    for key, body in bodies.items():
        assert MARKER_RE.findall(body) == [key] and "<!--" not in detail_of(body)
    assert run_alerts([forged]).code == 1  # the other alert gone: only its own issue closes
    assert list(open_keys(github)) == [FAILED_KEY]


def test_an_issue_whose_old_detail_holds_a_marker_is_found_by_its_last(github, run_alerts):
    body = f"boom {marker(STALE_KEY)}\n\n---\nOpened by `python -m scripts.alerts`.\n\n{marker(FAILED_KEY)}\n"
    github.world.add_issue("tenant00001: machine-failed", body, ["alert"])

    assert run_alerts([(FAILED[0], FAILED[1], "boom")]).code == 1

    (issue,) = github.world.open_issues()
    assert issue.number == 1 and MARKER_RE.findall(issue.body or "") == [FAILED_KEY]
    assert detail_of(issue.body or "") == "boom"


def test_issues_without_a_marker_or_of_another_stack_are_left_alone(github, run_alerts):
    github.world.add_issue("by hand", "no marker", ["alert"])
    github.world.add_issue("prod", "x\n\n" + marker("prod/tenant00001/machine-failed"), ["alert"])
    github.world.add_issue("future", "x\n\n" + marker(f"{STACK}/tenant00001/some-new-kind"), ["alert"])

    assert run_alerts([]).code == 0

    assert len(github.world.open_issues()) == 3 and writes(github) == []


def test_an_issue_whose_tenant_could_not_be_read_stays_open(github):
    alert = Alert(AlertKind.MACHINE_FAILED, "tenant00001", STACK, "t", "failed")
    now = datetime(2026, 11, 30, tzinfo=UTC)
    with GitHubClient(token=TOKEN, repository=REPO, base_url=os.environ["GITHUB_API_URL"]) as client:
        sync_alerts(client, [alert], STACK, kinds_checked=AlertKind, now=now)
        result = sync_alerts(
            client, [], STACK, kinds_checked=AlertKind, not_checked={("tenant00001", AlertKind.MACHINE_FAILED)}, now=now
        )
    assert len(result.left_alone) == 1 and len(github.world.open_issues()) == 1


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "--from-json: not JSON"),
        ("[]", "--from-json: expected"),
        ('{"alerts": {}}', "--from-json: expected"),
        ('{"alerts": [{"kind": "machine-failed"}]}', "alert 1 needs the text fields"),
        ('{"alerts": [{"kind": "nope", "tenant": "t", "title": "t", "detail": "d"}]}', "unknown kind 'nope'"),
        ('{"alerts": [{"kind": "drift", "tenant": "a/b", "title": "t", "detail": "d"}]}', "unusable tenant"),
        ('{"alerts": [], "kinds_checked": ["nope"]}', "unknown kind in kinds_checked"),
        ('{"alerts": [], "kinds_checked": "drift"}', "kinds_checked must be a list"),
    ],
)
def test_a_malformed_alerts_file_is_exit_2_one_line(github, run_cli, roster, tmp_path, content, says):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    result = run_cli(main, ["--stack", STACK, "--roster", str(roster), "--from-json", str(path)])

    assert result.code == 2, result
    assert says in result.error
    assert writes(github) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--drift", "maybe"],
        ["--drift", "success", "--from-json", "x.json"],
        ["--drift-report", "x.txt"],
        ["--now", "yesterday", "--drift", "success"],
    ],
)
def test_bad_flags_are_exit_2_one_line(github, run_cli, roster, argv):
    result = run_cli(main, ["--stack", STACK, "--roster", str(roster), *argv])

    assert result.code == 2, result
    assert result.error.startswith("alerts: error: ")
    assert github.faults.requests() == []


# --- a full run: the collector and the rules against the Fly emulator, moto's S3 and the Cloudflare stand-in ---


@pytest.fixture
def fly(monkeypatch):
    with FlyEmulator(token=FLY_TEST_TOKEN, org="personal", rate_limit=False, **INSTANT.kwargs()) as emu:
        monkeypatch.setenv("FLY_API_URL", emu.url)
        monkeypatch.setenv("FLY_API_TOKEN", FLY_TEST_TOKEN)
        monkeypatch.setenv("ALEX_FLY_RETRIES", "1")
        monkeypatch.setenv("ALEX_FLY_RETRY_BASE_S", "0.01")
        yield emu


READER = RosterEntry("readeruser1", "reader1", "reader@example.com", "reader", "active", created_at=date(2026, 9, 1))


def test_a_full_run_opens_an_over_quota_issue_and_closes_it_once_under(
    github, fly, s3, cloudflare, make_roster, run_cli, stack_config
):
    provision(fly, stack_config, READER, machine="started")
    fly.reset_log()
    bucket = bucket_name(READER.id)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "auto"})  # R2 region
    s3.put_object(Bucket=bucket, Key=snapshot_key(datetime.now(UTC)), Body=b"SQLite format 3\x00")
    quota = stack_config.plans["reader"].quota_bytes
    cloudflare.usage[bucket] = BucketUsage(payload_size=quota + 1, object_count=3)
    argv = ["--stack", STACK, "--roster", str(make_roster([READER]))]

    over = run_cli(main, argv)

    assert over.code == 1, over
    assert list(open_keys(github)) == [f"{STACK}/{READER.id}/over-quota"]
    assert fly.writes() == 0  # the collector only reads
    cloudflare.usage[bucket] = BucketUsage(payload_size=quota - 1, object_count=3)

    under = run_cli(main, argv)

    assert under.code == 0, under
    assert open_keys(github) == {}
    for secret in (TOKEN, FLY_TEST_TOKEN, CF_TOKEN, R2_SECRET):
        assert secret not in over.out + over.err + under.out + under.err


def test_a_full_run_whose_fleet_cannot_be_read_closes_nothing(
    github, fly, s3, cloudflare, make_roster, run_cli, run_alerts, monkeypatch
):
    run_alerts([("over-quota", READER.id, "over")])
    monkeypatch.setenv("FLY_API_TOKEN", "refused-fly-token")

    result = run_cli(main, ["--stack", STACK, "--roster", str(make_roster([READER]))])

    assert result.code == 2, result
    assert "Fly refused FLY_API_TOKEN" in result.error and "refused-fly-token" not in result.err
    assert list(open_keys(github)) == [f"{STACK}/{READER.id}/over-quota"]


# --- the client alone (httpx.MockTransport) ---


def _client(handler, **options) -> GitHubClient:
    return GitHubClient(
        token=TOKEN, repository=REPO, base_url="https://api.example.test", transport=httpx.MockTransport(handler),
        sleep=Sleeps(), **options,
    )  # fmt: skip


@pytest.mark.parametrize("status", [401, 422, 500])
def test_an_error_that_echoes_the_token_never_shows_it(status):
    def echo(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        return httpx.Response(status, json={"message": f"bad {auth} / {TOKEN!r}", "errors": [{"message": TOKEN}]})

    with _client(echo) as client, pytest.raises(GitHubError) as caught:
        client.list_issues()
    assert TOKEN not in str(caught.value) and f"HTTP {status}" in str(caught.value)


def test_a_next_page_link_to_another_host_is_not_followed():
    def page(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "api.example.test", "the token went to another host"
        return httpx.Response(200, json=[], headers={"Link": '<https://evil.example/issues?page=2>; rel="next"'})

    with _client(page) as client, pytest.raises(GitHubError, match="another host: https://evil.example"):
        client.list_issues()


def test_a_403_that_is_not_a_rate_limit_is_not_retried():
    calls = []

    def forbidden(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(403, json={"message": "Resource not accessible by integration"})

    with _client(forbidden) as client, pytest.raises(GitHubError, match="lacks a permission"):
        client.create_issue("t", "b", ["alert"])
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("unread", "kept_open"),
    [
        ("fly", {"machine-failed", "certificate-pending", "backup-stale"}),
        ("r2", {"backup-stale", "restore-failed"}),
        ("health", {"backup-stale", "restore-failed"}),  # a malformed status object proves nothing either way
    ],
)
def test_alerts_a_source_the_collector_could_not_read_closes_none_of_its_issues(unread, kept_open):
    from ops.fleet_health import TenantHealth
    from scripts.alerts import unchecked

    health = TenantHealth(
        "tenant00001", "alice", "active", "reader", "app", machine_state="started", storage_bytes=1,
        unread=frozenset({unread}),
    )  # fmt: skip
    assert {kind.value for _, kind in unchecked(health)} == kept_open
    assert unchecked(TenantHealth("tenant00001", "alice", "active", "reader", "app", machine_state="started",
                                  storage_bytes=1)) == set()  # fmt: skip
