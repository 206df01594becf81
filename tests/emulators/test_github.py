"""The GitHub stand-in (emulators/github): the issue, comment and label endpoints, as the alerts script uses them."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from emulators.faults import Fault
from emulators.github import GitHubWorld, serve

TOKEN = "ghp_stand_in_token"
REPO = "octo/alerts"


@pytest.fixture
def github():
    with (
        serve(GitHubWorld(repository=REPO, token=TOKEN)) as (url, fake),
        httpx.Client(base_url=f"{url}/repos/{REPO}", headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        yield fake, http


def test_an_issue_is_created_listed_edited_commented_and_closed(github):
    fake, http = github
    created = http.post("/issues", json={"title": "t1: machine failed", "body": "detail", "labels": ["alert"]})
    assert created.status_code == 201
    number = created.json()["number"]
    assert created.json()["state"] == "open" and [label["name"] for label in created.json()["labels"]] == ["alert"]
    assert [i["number"] for i in http.get("/issues", params={"state": "open", "labels": "alert"}).json()] == [number]
    edited = http.patch(f"/issues/{number}", json={"body": "new detail"})
    assert edited.status_code == 200 and edited.json()["body"] == "new detail"
    assert http.post(f"/issues/{number}/comments", json={"body": "Resolved"}).status_code == 201
    closed = http.patch(f"/issues/{number}", json={"state": "closed", "state_reason": "completed"}).json()
    assert closed["state"] == "closed" and closed["state_reason"] == "completed" and closed["comments"] == 1
    assert http.get("/issues", params={"state": "open"}).json() == []
    assert [i["number"] for i in http.get("/issues", params={"state": "closed"}).json()] == [number]
    assert len(http.get("/issues", params={"state": "all"}).json()) == 1
    reopened = http.patch(f"/issues/{number}", json={"state": "open"}).json()
    assert reopened["state"] == "open" and reopened["state_reason"] == "reopened"


def test_the_labels_filter_needs_every_label_case_insensitively(github):
    _, http = github
    http.post("/issues", json={"title": "a", "labels": ["alert", "stack:dev"]})
    http.post("/issues", json={"title": "b", "labels": ["alert", "stack:prod"]})
    http.post("/issues", json={"title": "c"})
    titles = lambda labels: [i["title"] for i in http.get("/issues", params={"labels": labels}).json()]  # noqa: E731
    assert titles("alert") == ["b", "a"]  # newest first
    assert titles("ALERT,stack:dev") == ["a"]
    assert titles("alert,stack:none") == []
    assert titles("") == ["c", "b", "a"]


def test_pages_are_linked_with_absolute_urls_and_end(github):
    fake, http = github
    for n in range(5):
        fake.world.add_issue(f"issue {n}", labels=["alert"])
    first = http.get("/issues", params={"labels": "alert", "per_page": 2})
    assert len(first.json()) == 2
    assert set(first.links) == {"next", "last"}
    assert first.links["next"]["url"].startswith("http://127.0.0.1:") and "page=2" in first.links["next"]["url"]
    assert "labels=alert" in first.links["next"]["url"]
    seen, url = [], first.links["next"]["url"]
    seen += [i["number"] for i in first.json()]
    while url:
        page = http.get(url)
        seen += [i["number"] for i in page.json()]
        url = page.links.get("next", {}).get("url")
    assert seen == [5, 4, 3, 2, 1]
    assert set(page.links) == {"prev", "first"}


def test_per_page_is_capped_by_the_server(github):
    fake, http = github
    fake.max_per_page = 3
    for n in range(4):
        fake.world.add_issue(f"issue {n}")
    page = http.get("/issues", params={"per_page": 100})
    assert len(page.json()) == 3 and "next" in page.links


def test_labels_are_created_once_and_an_issue_label_the_repository_lacks_is_created_grey(github):
    fake, http = github
    made = http.post("/labels", json={"name": "alert", "color": "d93f0b", "description": "alerts"})
    assert made.status_code == 201 and made.json()["color"] == "d93f0b"
    again = http.post("/labels", json={"name": "ALERT", "color": "d93f0b"})
    assert again.status_code == 422
    assert again.json()["errors"] == [{"resource": "Label", "field": "name", "code": "already_exists"}]
    http.post("/issues", json={"title": "t", "labels": ["alert", "tenant:abc123"]})
    names = {label["name"]: label["color"] for label in http.get("/labels").json()}
    assert names == {"alert": "d93f0b", "tenant:abc123": "ededed"}


@pytest.mark.parametrize(
    ("name", "code"), [("", "missing"), ("   ", "missing"), ("x" * 51, "invalid"), (None, "missing"), (7, "missing")]
)
def test_an_invalid_label_name_is_422(github, name, code):
    _, http = github
    answer = http.post("/labels", json={"name": name, "color": "ededed"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"] == "Validation Failed"
    assert answer.json()["errors"][0]["code"] == code
    on_issue = http.post("/issues", json={"title": "t", "labels": [name]})
    assert on_issue.status_code == 422


@pytest.mark.parametrize("color", ["red", "12345", "1234567", "gggggg"])
def test_an_invalid_label_color_is_422(github, color):
    _, http = github
    assert http.post("/labels", json={"name": "ok", "color": color}).status_code == 422


@pytest.mark.parametrize(
    "body",
    [{"title": ""}, {"body": "no title"}, {"title": "t", "labels": "alert"}, {"title": 5}],
)
def test_an_invalid_issue_is_422(github, body):
    _, http = github
    assert http.post("/issues", json=body).status_code == 422


@pytest.mark.parametrize("change", [{"state": "done"}, {"state": "closed", "state_reason": "fixed"}, {"title": ""}])
def test_an_invalid_edit_is_422_and_changes_nothing(github, change):
    fake, http = github
    issue = fake.world.add_issue("t")
    assert http.patch(f"/issues/{issue.number}", json=change).status_code == 422
    assert fake.world.issues[issue.number].state == "open"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN, f"Bearer  {TOKEN}"]
)
def test_a_bad_token_is_401_without_the_token_in_the_answer(github, authorization):
    fake, http = github
    headers = {"Authorization": authorization} if authorization else {}
    http.headers.pop("Authorization")
    answer = http.get("/issues", headers=headers)
    assert answer.status_code == 401 and answer.json()["message"] == "Bad credentials"
    assert TOKEN not in answer.text


def test_the_token_scheme_may_be_token_as_well_as_bearer(github):
    _, http = github
    assert http.get("/issues", headers={"Authorization": f"token {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("path", ["/repos/octo/other/issues", "/repos/octo/issues", "/repos/octo/alerts/pulls"])
def test_another_repository_or_route_is_404(github, path):
    _, http = github
    root = str(http.base_url).split("/repos/")[0]
    answer = httpx.get(root + path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404 and answer.json()["message"] == "Not Found"


def test_an_unknown_issue_is_404(github):
    _, http = github
    assert http.patch("/issues/99", json={"state": "closed"}).status_code == 404
    assert http.post("/issues/99/comments", json={"body": "x"}).status_code == 404


def test_a_5xx_fault_answers_before_the_work_and_is_logged(github):
    fake, http = github
    fake.faults.add(Fault(path=r"/issues$", method="POST", status=502))
    assert http.post("/issues", json={"title": "t"}).status_code == 502
    assert fake.world.issues == {}
    assert http.post("/issues", json={"title": "t"}).status_code == 201
    assert [(r.method, r.status) for r in fake.faults.requests()] == [("POST", 502), ("POST", 201)]
    assert len(fake.faults.writes()) == 2


def test_an_after_work_fault_does_the_work_then_fails(github):
    fake, http = github
    fake.faults.add(Fault(path=r"/issues$", method="POST", status=500, when="after_work"))
    assert http.post("/issues", json={"title": "t"}).status_code == 500
    assert len(fake.world.issues) == 1


def test_a_secondary_rate_limit_fault_is_403_with_retry_after(github):
    fake, http = github
    fake.faults.add(Fault(path=r"/issues$", status=403, headers={"Retry-After": "30"}))
    answer = http.get("/issues")
    assert answer.status_code == 403 and answer.headers["retry-after"] == "30"
    assert "secondary rate limit" in answer.json()["message"]
    assert http.get("/issues").status_code == 200


def test_the_stand_in_runs_as_a_program():
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.github", "--repo", REPO, "--token", TOKEN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening http://127.0.0.1:"), line
        url = line.split(" ", 1)[1]
        answer = httpx.get(f"{url}/repos/{REPO}/issues", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert answer.status_code == 200 and answer.json() == []
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == 0
