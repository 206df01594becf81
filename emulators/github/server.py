"""A stand-in for the GitHub REST API endpoints the alerts script uses, over real HTTP on 127.0.0.1.

Routes, under `/repos/{owner}/{repo}` (docs.github.com/rest/issues):

* `GET  /issues?state=open|closed|all&labels=a,b&per_page=N&page=N` (newest first; every label must
  match; `Link` header with `next`/`last`/`first`/`prev` as absolute URLs, as GitHub sends them)
* `POST /issues`, `GET|PATCH /issues/{number}` (title, body, state + state_reason, labels)
* `GET|POST /issues/{number}/comments`
* `GET|POST /labels` (a taken name is 422 `already_exists`; an empty or over-50-character name is 422)
* `POST /actions/workflows/{workflow_file}/dispatches` with `{"ref": "...", "inputs": {...}}`: 204 and
  recorded in `world.dispatches` (`emulators.github.state.Dispatch`); a missing ref or non-string input
  is 422; once `world.declare_workflow(file, inputs)` is called, an undeclared workflow is 404 and an
  undeclared input 422 `Unexpected inputs provided`, as GitHub checks them against the workflow file

Failures as GitHub sends them: 401 `Bad credentials` without `Authorization: Bearer|token <token>`,
404 `Not Found` for another repository or an unknown issue, 422 `Validation Failed` with `errors`.
Faults (the shared `emulators.faults.Fault`) answer a status instead; a 403 or 429 fault gets GitHub's
secondary-rate-limit body and whatever headers the fault brings (`Retry-After`, `x-ratelimit-*`).
`GET /_emulator/stats` returns the request count; every other request is logged in `faults.log`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from emulators.clock import Clock
from emulators.faults import Fault, LoggingFaultBook, RecordedRequest
from emulators.github.state import GitHubWorld, Issue, Label
from emulators.serving import serve_in_thread

STATS_PATH = "/_emulator/stats"
DOCS = "https://docs.github.com/rest"
SECONDARY_RATE_LIMIT_BODY: dict[str, Any] = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID.",
    "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
    "status": "403",
}
SERVER_ERROR_BODY: dict[str, Any] = {"message": "Server Error"}
_ISSUE = re.compile(r"/issues/([0-9]{1,9})")
_COMMENTS = re.compile(r"/issues/([0-9]{1,9})/comments")
_DISPATCHES = re.compile(r"/actions/workflows/([A-Za-z0-9._-]{1,100})/dispatches")


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": DOCS, "status": str(status), **extra}


class FaultBook(LoggingFaultBook[RecordedRequest]):
    """The shared fault book plus the log of every request."""

    def __init__(self) -> None:
        super().__init__("GitHub stand-in")

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.writes]


def error_body(fault: Fault) -> dict[str, Any]:
    if fault.body is not None:
        return fault.body
    return SECONDARY_RATE_LIMIT_BODY if fault.status in (403, 429) else SERVER_ERROR_BODY


class FakeGitHub:
    """Answers requests against a world; usable without sockets through `answer()`."""

    def __init__(self, world: GitHubWorld, *, max_per_page: int = 100) -> None:
        self.world = world
        self.max_per_page = max_per_page
        self.faults = FaultBook()

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes, base_url: str
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path == STATS_PATH:  # the stand-in's own control route; not logged, no auth
            return 200, {}, {"requests": len(self.faults.requests())}
        fault = self.faults.take(method, parts.path)
        status, answer = 200, None
        extra_headers: dict[str, str] = {}
        if fault is not None and fault.delay:
            self.world.clock.sleep(fault.delay)
        if fault is None or fault.when == "after_work" or fault.status is None:
            try:
                self._check_auth(headers)
                status, extra_headers, answer = self._route(method, parts.path, query, body, base_url)
            except ApiError as exc:
                status, answer = exc.status, exc.body
        if fault is not None and fault.status is not None:
            status, extra_headers, answer = fault.status, dict(fault.headers), error_body(fault)
        self.faults.record(RecordedRequest(method, parts.path, query, status))
        return status, {"X-GitHub-Request-Id": f"EMU:{len(self.faults.log)}", **extra_headers}, answer

    def _check_auth(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or token != self.world.token:
            raise ApiError(401, "Bad credentials")

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, base_url: str
    ) -> tuple[int, dict[str, str], Any]:
        prefix = f"/repos/{self.world.repository}"
        if not (path == prefix or path.startswith(prefix + "/")):
            raise ApiError(404, "Not Found")
        rest = path[len(prefix) :]
        world = self.world
        with world.lock:
            try:
                if rest == "/issues" and method == "GET":
                    issues = self._filter(query)
                    return self._page(issues, query, base_url + path, world.render_issue)
                if rest == "/issues" and method == "POST":
                    data = _json(body)
                    issue = world.add_issue(data.get("title", ""), data.get("body"), data.get("labels") or [])
                    return 201, {}, world.render_issue(issue)
                if rest == "/labels" and method == "GET":
                    labels = sorted(world.labels.values(), key=lambda label: label.id)
                    return self._page(labels, query, base_url + path, world.render_label)
                if rest == "/labels" and method == "POST":
                    data = _json(body)
                    label = world.add_label(
                        data.get("name", ""), data.get("color") or "ededed", data.get("description")
                    )
                    return 201, {}, world.render_label(label)
                if (match := _DISPATCHES.fullmatch(rest)) and method == "POST":
                    try:
                        world.dispatch(match.group(1), _json(body))
                    except LookupError:
                        raise ApiError(404, "Not Found") from None
                    return 204, {}, None
                if match := _COMMENTS.fullmatch(rest):
                    number = self._known(match.group(1))
                    if method == "POST":
                        comment = world.add_comment(number, _json(body).get("body"))
                        return 201, {}, world.render_comment(comment)
                    if method == "GET":
                        comments = world.issues[number].comments
                        return self._page(comments, query, base_url + path, world.render_comment)
                if match := _ISSUE.fullmatch(rest):
                    number = self._known(match.group(1))
                    if method == "PATCH":
                        return 200, {}, world.render_issue(world.edit_issue(number, _json(body)))
                    if method == "GET":
                        return 200, {}, world.render_issue(world.issues[number])
            except (TypeError, AttributeError):
                raise ApiError(422, "Invalid request.") from None
            except ValueError as exc:
                error = getattr(exc, "error", None)
                if error is None:
                    raise
                raise ApiError(422, "Validation Failed", errors=[error]) from None
        raise ApiError(404, "Not Found")

    def _known(self, number_text: str) -> int:
        number = int(number_text)
        if number not in self.world.issues:
            raise ApiError(404, "Not Found")
        return number

    def _filter(self, query: dict[str, list[str]]) -> list[Issue]:
        state = _one(query, "state") or "open"
        if state not in ("open", "closed", "all"):
            error = {"resource": "Issue", "field": "state", "code": "invalid"}
            raise ApiError(422, "Validation Failed", errors=[error])
        wanted = {name.strip().lower() for name in (_one(query, "labels") or "").split(",") if name.strip()}
        found = [
            issue
            for issue in self.world.issues.values()
            if (state == "all" or issue.state == state) and wanted <= {name.lower() for name in issue.labels}
        ]
        return sorted(found, key=lambda issue: issue.number, reverse=True)  # newest first, GitHub's default

    def _page(
        self, items: list[Any], query: dict[str, list[str]], url: str, render: Any
    ) -> tuple[int, dict[str, str], Any]:
        per_page = _number(query, "per_page", 30)
        page = _number(query, "page", 1)
        per_page = min(max(per_page, 1), self.max_per_page)
        page = max(page, 1)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        links = _links(url, query, page, last)
        if links:
            headers["Link"] = links
        return 200, headers, [render(item) for item in chunk]


def _links(url: str, query: dict[str, list[str]], page: int, last: int) -> str:
    """GitHub's Link header: absolute URLs with the request's own query and the page changed."""

    def at(number: int) -> str:
        params = {key: values[-1] for key, values in query.items() if key != "page"}
        params["page"] = str(number)
        return f"<{url}?{urlencode(params)}>"

    parts = []
    if page > 1:
        parts += [f'{at(page - 1)}; rel="prev"', f'{at(1)}; rel="first"']
    if page < last:
        parts += [f'{at(page + 1)}; rel="next"', f'{at(last)}; rel="last"']
    return ", ".join(parts)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _number(query: dict[str, list[str]], name: str, default: int) -> int:
    text = _one(query, name)
    return int(text) if text is not None and text.isdigit() and text.isascii() else default


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "Problems parsing JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Problems parsing JSON")
    return data


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            host = headers.get("host") or "127.0.0.1"
            status, extra, answer = fake.answer(self.command, self.path, headers, body, f"http://{host}")
            payload = b"" if status == 204 else json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # quiet in tests; the FaultBook keeps the log

    return Handler


@contextmanager
def serve(
    world: GitHubWorld | None = None, *, port: int = 0, clock: Clock | None = None, max_per_page: int = 100
) -> Iterator[tuple[str, FakeGitHub]]:
    """Runs the stand-in on 127.0.0.1 in a daemon thread; yields (base URL, fake)."""
    world = world or GitHubWorld(clock=clock)
    fake = FakeGitHub(world, max_per_page=max_per_page)
    with serve_in_thread(_handler_for(fake), port=port, name="fake-github") as url:
        yield url, fake


__all__ = ["FakeGitHub", "GitHubWorld", "Label", "RecordedRequest", "serve"]
