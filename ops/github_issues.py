"""GitHub issues as alerts: a small REST client over httpx, and `sync_alerts`, which keeps one open issue per alert.

Client (`GitHubClient`, built from the environment by `open_client()`): `GITHUB_API_URL` (default
https://api.github.com; Actions sets it, also on GitHub Enterprise Server), `GITHUB_TOKEN`,
`GITHUB_REPOSITORY` ("owner/name"). Retries, with exponential backoff and full jitter:
- a rate limit (403 or 429 with `Retry-After`, or with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`,
  or any 429) on every method: GitHub did no work; the wait it asks for is honoured up to `max_wait_s`,
  a longer one ends the call with an error naming it;
- 5xx and dropped connections only on calls that are safe to repeat (GET, PATCH, label create): a
  repeated issue POST could open the issue twice, so `sync_alerts` looks before it tries again.
Pages are followed through the `Link` header, only on the API's own origin (the token goes with them).
Error text never holds the token: GitHub's message is scrubbed with `common.redact` first.

Sync (`sync_alerts`): an alert's issue is found by a hidden marker at the end of its body,
`<!-- alex-hosted-alert: <stack>/<tenant>/<kind> -->`, among the open issues labelled `alert` (the last
marker counts, and a detail can hold none: its `<!--` are written as text); labels
(`alert`, `alert:<kind>`, `stack:<stack>`, `tenant:<id>`) are for people and filters, not identity, since
anyone can edit them. Per alert: no open issue -> open one; an open one -> leave it, or edit its body in
place when the detail changed (an edit notifies nobody); several (a race) -> keep the oldest, close the rest
as duplicates. An open issue whose alert is gone is closed with one comment "Resolved at <time>" - only
when this run checked that kind for that stack (`kinds_checked`) and could read that tenant's facts for it, so a
drift-only run never closes tenant alerts and a run whose collector failed closes nothing.

A recurring alert opens a NEW issue rather than reopening the closed one: each episode keeps its own
timeline, a new issue notifies like a reopen does, and finding the old one would mean paging through every
closed issue the repository ever had. The new issue's body says so; the old ones stay searchable by label.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from common.closing import ClosesOnExit
from common.errors import OperationError
from common.redact import scrub
from common.retry_after import retry_after_s
from config.inputs import BadInput, check_credential, check_http_url
from ops.fleet_health import Alert, AlertKind
from tenants.inputs import matches
from tenants.naming import GITHUB_REPOSITORY_RE

DEFAULT_API_URL = "https://api.github.com"
API_URL_ENV = "GITHUB_API_URL"
TOKEN_ENV = "GITHUB_TOKEN"
REPOSITORY_ENV = "GITHUB_REPOSITORY"
API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 100  # 10,000 open alert issues: beyond that something else is wrong
MAX_WAIT_S = 120.0
_MAX_BACKOFF_S = 16.0
_SERVER_ERRORS = frozenset({500, 502, 503, 504})
_DIGITS = re.compile(r"[0-9]{1,10}")

ALERT_LABEL = "alert"
LABEL_NAME_MAX = 50
LABEL_COLORS = {"alert": "d93f0b", "alert:": "fbca04", "stack:": "1d76db", "tenant:": "c5def5"}
LABEL_DESCRIPTIONS = {
    "alert": "Opened and closed by scripts.alerts",
    "alert:": "Alert kind",
    "stack:": "Pulumi stack",
    "tenant:": "Tenant id",
}
MARKER_RE = re.compile(r"<!-- alex-hosted-alert: ([^\s>]{1,200}) -->")
_FOOTER = "\n\n---\n"
_COMMENT_OPEN = "<!--"


class GitHubError(OperationError):
    """A GitHub call failed; the message is one line and never holds the token."""


class GitHubConfigError(GitHubError):
    """The GITHUB_* settings cannot be used."""


class GitHubStatusError(GitHubError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def repository_problem(value: str) -> str | None:
    if not matches(GITHUB_REPOSITORY_RE, value):
        return "expected owner/name (letters, digits, '-', and '.', '_' in the name, which is not '.' or '..')"
    return None


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    url: str

    @property
    def key(self) -> str | None:
        """The alert key in the body's last marker (the one `issue_body` ends with), or None for an issue
        we did not open. Never the first: a detail written before markers were neutralised may hold one."""
        keys = MARKER_RE.findall(self.body)
        return str(keys[-1]) if keys else None


def _issue(data: Any) -> Issue:
    if not isinstance(data, dict) or not isinstance(data.get("number"), int):
        raise GitHubError("GitHub answered with something that is not an issue")
    raw_labels = data.get("labels") or []
    labels = tuple(str(label.get("name")) if isinstance(label, dict) else str(label) for label in raw_labels)
    return Issue(
        number=data["number"],
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        state=str(data.get("state") or ""),
        labels=labels,
        url=str(data.get("html_url") or ""),
    )


class GitHubClient(ClosesOnExit):
    """Synchronous client for one repository's issues and labels; `with` closes it.

    `sleep`, `jitter` and `wall_clock` (epoch seconds) are seams for tests: no real waiting.
    `requests_sent` counts HTTP requests, retries included.
    """

    def __init__(
        self,
        *,
        token: str,
        repository: str,
        base_url: str = DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None,
        retries: int = 4,
        retry_base_s: float = 1.0,
        timeout: float = 30.0,
        max_wait_s: float = MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            token = check_credential(token, TOKEN_ENV)
        except BadInput as exc:
            raise GitHubConfigError(str(exc)) from None
        problem = repository_problem(repository)
        if problem:
            raise GitHubConfigError(f"{REPOSITORY_ENV}: {problem}, got {repository[:120]!r}")
        self.repository = repository
        self._secrets = (token, f"Bearer {token}")
        base = base_url.rstrip("/")
        self._origin = _origin(base)
        self._http = httpx.Client(
            base_url=base,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "alex-hosted-alerts",
            },
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            trust_env=False,
        )
        self._retries = retries
        self._retry_base_s = retry_base_s
        self._max_wait_s = max_wait_s
        self._sleep = sleep
        self._jitter = jitter
        self._wall_clock = wall_clock
        self.requests_sent = 0

    def close(self) -> None:
        self._http.close()

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    # --- the calls ---

    def list_issues(self, *, state: str = "open", labels: Sequence[str] = ()) -> list[Issue]:
        """Every issue (not pull request) in `state` carrying all of `labels`, following the pages."""
        params = {"state": state, "per_page": str(PER_PAGE)}
        if labels:
            params["labels"] = ",".join(labels)
        return [_issue(item) for item in self._pages(f"{self._repo}/issues", params) if "pull_request" not in item]

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        data = {"title": title, "body": body, "labels": list(labels)}
        return _issue(self._json("POST", f"{self._repo}/issues", json=data, repeatable=False))

    def update_issue(self, number: int, **changes: Any) -> Issue:
        """PATCH an issue: any of title, body, state, state_reason, labels."""
        return _issue(self._json("PATCH", f"{self._repo}/issues/{number}", json=changes, repeatable=True))

    def comment(self, number: int, body: str) -> None:
        self._json("POST", f"{self._repo}/issues/{number}/comments", json={"body": body}, repeatable=False)

    def list_labels(self) -> list[str]:
        return [str(item.get("name")) for item in self._pages(f"{self._repo}/labels", {"per_page": str(PER_PAGE)})]

    def create_label(self, name: str, color: str, description: str) -> bool:
        """True when created, False when it already existed (422 already_exists): creating is idempotent."""
        data = {"name": name, "color": color, "description": description}
        response = self._send("POST", f"{self._repo}/labels", json=data, repeatable=True, expect=frozenset({422}))
        if response.status_code == 422:
            if "already_exists" in response.text:
                return False
            self._raise(response)
        return True

    # --- the machinery ---

    @property
    def _repo(self) -> str:
        return f"/repos/{self.repository}"

    def _json(self, method: str, path: str, *, json: Any = None, repeatable: bool) -> Any:
        response = self._send(method, path, json=json, repeatable=repeatable)
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            method = response.request.method
            raise GitHubError(f"GitHub answered {method} {_path(response)} with a body that is not JSON") from None

    def _pages(self, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = path
        query: Mapping[str, str] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            response = self._send("GET", url, params=query, repeatable=True)
            page = self._decode(response)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub answered GET {_path(response)} with something that is not a list")
            items.extend(item for item in page if isinstance(item, dict))
            url, query = response.links.get("next", {}).get("url"), None
            if url is not None and _origin(url) != self._origin:
                # The token goes with every request: never follow a link to another host.
                raise GitHubError(f"GitHub's next-page link leads to another host: {_origin(url)}")
        raise GitHubError(f"more than {MAX_PAGES} pages of {path}: refusing to read on")

    def _send(
        self,
        method: str,
        url: str,
        *,
        repeatable: bool,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        expect: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        attempts = 1 + self._retries
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self.requests_sent += 1
            try:
                response = self._http.request(method, url, json=json, params=params)
            except httpx.TransportError as exc:
                # A refused connection sent nothing; any other failure may have reached GitHub.
                if last or not (repeatable or isinstance(exc, httpx.ConnectError)):
                    raise GitHubError(
                        f"GitHub API unreachable ({method} {self.scrub(str(urlsplit(url).path))}: {type(exc).__name__})"
                    ) from None
                self._sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status < 400 or status in expect:
                return response
            wait = self._rate_limit_wait(response)
            if wait is not None and not last:
                if wait > self._max_wait_s:
                    raise GitHubStatusError(
                        f"GitHub rate limit: asked to wait {wait:.0f} s (more than {self._max_wait_s:.0f} s) "
                        f"on {method} {_path(response)}",
                        status,
                    )
                self._sleep(wait)
                continue
            if status in _SERVER_ERRORS and repeatable and not last:
                self._sleep(self._backoff(attempt))
                continue
            self._raise(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        return float(min(_MAX_BACKOFF_S, self._retry_base_s * (2**attempt)) * self._jitter())

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait when the response is a rate limit (primary or secondary), else None."""
        status = response.status_code
        if status not in (403, 429):
            return None
        headers = response.headers
        asked = retry_after_s(headers.get("retry-after"), datetime.fromtimestamp(self._wall_clock(), UTC))
        if asked is not None:
            return asked
        reset = headers.get("x-ratelimit-reset", "").strip()
        if headers.get("x-ratelimit-remaining", "").strip() == "0" and _DIGITS.fullmatch(reset):
            return max(0.0, float(reset) - self._wall_clock()) + 1.0
        if status == 429 or "secondary rate limit" in response.text.lower():
            return 60.0  # GitHub: "wait at least one minute" when it names no time
        return None  # a 403 that is a permission problem

    def _raise(self, response: httpx.Response) -> None:
        message = ""
        try:
            data = response.json()
            if isinstance(data, dict):
                message = str(data.get("message") or "")
                errors = data.get("errors")
                if isinstance(errors, list) and errors:
                    message += " (" + "; ".join(_error_text(e) for e in errors[:5]) + ")"
        except ValueError:
            pass
        hint = {401: "the token was refused (GITHUB_TOKEN)", 403: "the token lacks a permission (issues: write?)",
                404: f"no repository {self.repository!r} visible to this token, or no such issue"}  # fmt: skip
        text = f"GitHub answered {response.request.method} {_path(response)} with HTTP {response.status_code}"
        if message:
            text += f": {message[:300]}"
        if self._rate_limit_wait(response) is not None:
            text += " - still rate limited after the retries"
        elif response.status_code in hint:
            text += f" - {hint[response.status_code]}"
        raise GitHubStatusError(self.scrub(" ".join(text.split())), response.status_code)


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)[:100]
    parts = [str(error.get(k)) for k in ("resource", "field", "code") if error.get(k)]
    return " ".join(parts) or str(error.get("message", ""))[:100]


def _path(response: httpx.Response) -> str:
    return response.request.url.path


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def open_client(environ: Mapping[str, str] | None = None, **options: Any) -> GitHubClient:
    """A client from GITHUB_API_URL, GITHUB_TOKEN and GITHUB_REPOSITORY; GitHubConfigError names what is wrong."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise GitHubConfigError(f"{TOKEN_ENV} is not set in the environment (a token with issues: write)")
    repository = env.get(REPOSITORY_ENV, "").strip()
    if not repository:
        raise GitHubConfigError(f"{REPOSITORY_ENV} is not set in the environment (owner/name)")
    try:
        base_url = check_http_url(env.get(API_URL_ENV) or DEFAULT_API_URL, API_URL_ENV)
    except BadInput as exc:
        raise GitHubConfigError(str(exc)) from None
    return GitHubClient(token=token, repository=repository, base_url=base_url, **options)


# --- alerts <-> issues ---


def marker(key: str) -> str:
    return f"<!-- alex-hosted-alert: {key} -->"


def labels_for(alert: Alert) -> list[str]:
    labels = [ALERT_LABEL, f"alert:{alert.kind.value}", f"stack:{alert.stack}"]
    if alert.tenant != "-":
        labels.append(f"tenant:{alert.tenant}")
    return [label[:LABEL_NAME_MAX] for label in labels]  # GitHub's limit; labels are filters, not identity


def shown_detail(alert: Alert) -> str:
    """The alert's detail as its issue body holds it: every `<!--` written `&lt;!--`, which GitHub shows
    as the text `<!--`. Details quote what tenants and servers wrote (a reload error, a status file): none
    can then open a hidden comment, let alone hold a marker that would re-key the issue to another alert."""
    return alert.detail.strip().replace(_COMMENT_OPEN, "&lt;!--")


def issue_body(alert: Alert, footer: str) -> str:
    """The detail, then a footer (who opened it, when) and the marker; `detail_of` reads the detail back."""
    return f"{shown_detail(alert)}{_FOOTER}{footer}\n\n{marker(alert.key)}\n"


def detail_of(body: str) -> str:
    return body.replace("\r\n", "\n").rpartition(_FOOTER)[0].strip()


def split_key(key: str) -> tuple[str, str, AlertKind] | None:
    """(stack, tenant, kind) of a marker's key; None when it is not one of ours (a kind this version lacks)."""
    parts = key.split("/")
    if len(parts) != 3:
        return None
    try:
        return parts[0], parts[1], AlertKind(parts[2])
    except ValueError:
        return None


@dataclass(frozen=True)
class Action:
    verb: str  # "open", "update", "close", "close-duplicate", "create-label"
    key: str
    number: int | None = None
    title: str = ""

    def describe(self) -> str:
        where = f"#{self.number}" if self.number is not None else "new issue"
        if self.verb == "create-label":
            return f"create label {self.key!r}"
        return f"{self.verb} {where} {self.key}" + (f": {self.title}" if self.title else "")


@dataclass
class SyncResult:
    opened: list[Action] = field(default_factory=list)
    updated: list[Action] = field(default_factory=list)
    closed: list[Action] = field(default_factory=list)
    kept: list[Action] = field(default_factory=list)  # open before and after, untouched
    left_alone: list[Action] = field(default_factory=list)  # open, alert not raised, kind or tenant not checked
    labels_created: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def open_alerts(self) -> int:
        """Alerts of this run with an open issue after it (or that would have one, in a dry run)."""
        return len(self.opened) + len(self.updated) + len(self.kept)

    def actions(self) -> list[Action]:
        labels = [Action("create-label", name) for name in self.labels_created]
        return [*labels, *self.opened, *self.updated, *self.closed]

    def summary(self) -> str:
        would = "would be " if self.dry_run else ""
        return (
            f"{self.open_alerts} alert(s) open: {len(self.opened)} {would}opened, {len(self.updated)} {would}updated, "
            f"{len(self.kept)} unchanged; {len(self.closed)} {would}closed; "
            f"{len(self.left_alone)} left alone (not checked this run)"
        )


def sync_alerts(
    client: GitHubClient,
    alerts: Iterable[Alert],
    stack: str,
    *,
    kinds_checked: Iterable[AlertKind],
    not_checked: Iterable[tuple[str, AlertKind]] = (),
    now: datetime,
    footer: str = "Opened by `python -m scripts.alerts`.",
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda _line: None,
) -> SyncResult:
    """Makes the open `alert` issues of `stack` match `alerts` (see the module doc); returns what it did.

    `kinds_checked`: the kinds this run evaluated; open issues of other kinds are left alone.
    `not_checked`: (tenant, kind) pairs the collector could not read; their open issues are left alone too.
    `dry_run`: only GETs; the result lists what would be done.
    """
    checked = frozenset(kinds_checked)
    unread = frozenset(not_checked)
    wanted: dict[str, Alert] = {}
    for alert in alerts:
        if alert.stack != stack:
            raise ValueError(f"alert {alert.key} is not of stack {stack!r}")
        wanted.setdefault(alert.key, alert)
    result = SyncResult(dry_run=dry_run)
    by_key: dict[str, list[Issue]] = {}
    for issue in client.list_issues(state="open", labels=[ALERT_LABEL]):
        if issue.key is not None:
            by_key.setdefault(issue.key, []).append(issue)
    for issues in by_key.values():
        issues.sort(key=lambda issue: issue.number)
    stamp = now.strftime("%Y-%m-%d %H:%M UTC") if now.utcoffset() is not None else now.isoformat()

    missing = [alert for key, alert in wanted.items() if key not in by_key]
    if missing:
        needed = sorted({label for alert in missing for label in labels_for(alert)})
        result.labels_created = _ensure_labels(client, needed, dry_run)

    for key, alert in wanted.items():
        found = by_key.get(key)
        if not found:
            if dry_run:
                result.opened.append(Action("open", key, None, alert.title))
                continue
            body = issue_body(alert, f"{footer} First seen {stamp}.")
            issue = _open_once(client, alert, body)
            progress(f"opened #{issue.number} {key}: {alert.title}")
            result.opened.append(Action("open", key, issue.number, alert.title))
            continue
        keep, *extra = found
        for duplicate in extra:
            _close(client, duplicate, f"Duplicate of #{keep.number} (same alert, {key}).", "not_planned", dry_run)
            result.closed.append(Action("close-duplicate", key, duplicate.number))
        if detail_of(keep.body) != shown_detail(alert):
            if not dry_run:
                body = issue_body(alert, f"{footer} First seen before {stamp}; detail updated {stamp}.")
                client.update_issue(keep.number, body=body)  # an edit: no notification
                progress(f"updated #{keep.number} {key}")
            result.updated.append(Action("update", key, keep.number, alert.title))
        else:
            result.kept.append(Action("keep", key, keep.number, alert.title))

    for key, issues in sorted(by_key.items()):
        if key in wanted:
            continue
        parts = split_key(key)
        if parts is None or parts[0] != stack:
            continue  # another stack's alert, or one this version cannot read
        _, tenant, kind = parts
        for issue in issues:
            if kind not in checked or (tenant, kind) in unread:
                result.left_alone.append(Action("leave", key, issue.number, issue.title))
                continue
            _close(client, issue, f"Resolved at {stamp}: the alert is no longer raised.", "completed", dry_run)
            if not dry_run:
                progress(f"closed #{issue.number} {key}")
            result.closed.append(Action("close", key, issue.number, issue.title))
    return result


def _close(client: GitHubClient, issue: Issue, comment: str, reason: str, dry_run: bool) -> None:
    if dry_run:
        return
    client.comment(issue.number, comment)  # one comment when the state changes; never on an unchanged alert
    client.update_issue(issue.number, state="closed", state_reason=reason)


def _open_once(client: GitHubClient, alert: Alert, body: str) -> Issue:
    """Creates the alert's issue; after a 5xx (the issue may exist anyway) looks for it before trying again."""
    try:
        return client.create_issue(alert.title, body, labels_for(alert))
    except GitHubStatusError as exc:
        if exc.status not in _SERVER_ERRORS:
            raise
    for issue in client.list_issues(state="open", labels=[ALERT_LABEL]):
        if issue.key == alert.key:
            return issue
    return client.create_issue(alert.title, body, labels_for(alert))


def _ensure_labels(client: GitHubClient, needed: Sequence[str], dry_run: bool) -> list[str]:
    """Creates the labels the repository lacks (case-insensitively, as GitHub compares them); returns them."""
    have = {name.lower() for name in client.list_labels()}
    created = []
    for name in needed:
        if name.lower() in have:
            continue
        if not dry_run:
            prefix = name if name == ALERT_LABEL else name.split(":", 1)[0] + ":"
            client.create_label(name, LABEL_COLORS[prefix], LABEL_DESCRIPTIONS[prefix])
        created.append(name)
    return created
