"""The stand-in GitHub repository: issues, their comments and labels, rendered in the REST API's shapes.

Only what the alerts script uses (docs.github.com/rest/issues): issues with a title, body, state
(`open`/`closed` with a `state_reason`) and labels; comments; repository labels with a colour. As on
GitHub, an issue created or edited with a label the repository lacks creates that label (grey), label
names compare case-insensitively, and a label name must be 1-50 characters. The world is guarded by
one lock; the HTTP layer renders under it.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulators.clock import Clock, RealClock

LABEL_NAME_MAX = 50
DEFAULT_LABEL_COLOR = "ededed"
_COLOR = re.compile(r"[0-9a-fA-F]{6}")


class InvalidInput(ValueError):
    """What GitHub answers with 422 Validation Failed: `errors` lists (resource, field, code)."""

    def __init__(self, resource: str, field_name: str, code: str, message: str | None = None) -> None:
        super().__init__(message or f"{resource}.{field_name} is {code}")
        self.error = {"resource": resource, "field": field_name, "code": code}
        if message:
            self.error["message"] = message


@dataclass
class Label:
    id: int
    name: str
    color: str = DEFAULT_LABEL_COLOR
    description: str | None = None


@dataclass(frozen=True)
class Dispatch:
    """One accepted `workflow_dispatch`: the workflow file, the ref and the inputs, as sent."""

    workflow: str
    ref: str
    inputs: dict[str, str]
    at: float


@dataclass
class Comment:
    id: int
    body: str
    created_at: float


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    labels: list[str]
    created_at: float
    state: str = "open"
    state_reason: str | None = None
    closed_at: float | None = None
    updated_at: float = 0.0
    comments: list[Comment] = field(default_factory=list)


def label_name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "missing"
    if len(name) > LABEL_NAME_MAX:
        return "invalid"
    return None


class GitHubWorld:
    """One repository `owner/name`; `token` is what requests must present (Bearer or `token` scheme)."""

    def __init__(self, *, repository: str = "octo/alerts", token: str = "ghp_emulator", clock: Clock | None = None):
        self.repository = repository
        self.token = token
        self.clock: Clock = clock or RealClock()
        self.lock = threading.RLock()
        self.issues: dict[int, Issue] = {}
        self.labels: dict[str, Label] = {}  # by lower-case name
        self._ids = itertools.count(1000)
        self._numbers = itertools.count(1)
        self.dispatches: list[Dispatch] = []
        # workflow file -> its declared inputs; None accepts any workflow and any inputs
        self.workflows: dict[str, frozenset[str]] | None = None

    # --- workflow_dispatch (docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event) ---

    def declare_workflow(self, workflow: str, inputs: tuple[str, ...] = ()) -> None:
        """From now on only declared workflows exist, each taking only its declared inputs (as on GitHub)."""
        with self.lock:
            self.workflows = {**(self.workflows or {}), workflow: frozenset(inputs)}

    def dispatch(self, workflow: str, data: dict[str, Any]) -> Dispatch:
        with self.lock:
            ref, inputs = data.get("ref"), data.get("inputs", {})
            if not isinstance(ref, str) or not ref:
                raise InvalidInput("Workflow", "ref", "missing_field", 'Invalid request. "ref" wasn\'t supplied.')
            if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
                raise InvalidInput("Workflow", "inputs", "invalid", "For 'properties/inputs', expected an object")
            if len(inputs) > 25:
                raise InvalidInput("Workflow", "inputs", "invalid", "you may only define up to 25 `inputs`")
            if self.workflows is not None:
                declared = self.workflows.get(workflow)
                if declared is None:
                    raise LookupError(workflow)
                unexpected = sorted(set(inputs) - declared)
                if unexpected:
                    raise InvalidInput("Workflow", "inputs", "invalid", f"Unexpected inputs provided: {unexpected}")
            found = Dispatch(workflow, ref, dict(inputs), self.clock.time())
            self.dispatches.append(found)
            return found

    # --- what the API (and a test, directly) can do ---

    def add_label(self, name: str, color: str = DEFAULT_LABEL_COLOR, description: str | None = None) -> Label:
        with self.lock:
            problem = label_name_problem(name)
            if problem:
                raise InvalidInput("Label", "name", problem)
            if not _COLOR.fullmatch(color):
                raise InvalidInput("Label", "color", "invalid")
            if name.lower() in self.labels:
                raise InvalidInput("Label", "name", "already_exists")
            label = Label(next(self._ids), name, color.lower(), description)
            self.labels[name.lower()] = label
            return label

    def add_issue(self, title: str, body: str | None = None, labels: list[str] | None = None) -> Issue:
        with self.lock:
            if not isinstance(title, str) or not title.strip():
                raise InvalidInput("Issue", "title", "missing_field")
            names = self._labels(labels or [])
            now = self.clock.time()
            issue = Issue(next(self._numbers), title, body, names, created_at=now, updated_at=now)
            self.issues[issue.number] = issue
            return issue

    def edit_issue(self, number: int, changes: dict[str, Any]) -> Issue:
        with self.lock:
            issue = self.issues[number]
            if "title" in changes:
                if not isinstance(changes["title"], str) or not changes["title"].strip():
                    raise InvalidInput("Issue", "title", "missing_field")
                issue.title = changes["title"]
            if "body" in changes:
                if changes["body"] is not None and not isinstance(changes["body"], str):
                    raise InvalidInput("Issue", "body", "invalid")
                issue.body = changes["body"]
            if "labels" in changes:
                issue.labels = self._labels(changes["labels"])
            if "state" in changes:
                self._set_state(issue, changes["state"], changes.get("state_reason"))
            issue.updated_at = self.clock.time()
            return issue

    def add_comment(self, number: int, body: Any) -> Comment:
        with self.lock:
            if not isinstance(body, str) or not body.strip():
                raise InvalidInput("IssueComment", "body", "missing_field")
            comment = Comment(next(self._ids), body, self.clock.time())
            self.issues[number].comments.append(comment)
            return comment

    def _set_state(self, issue: Issue, state: Any, reason: Any) -> None:
        if state not in ("open", "closed"):
            raise InvalidInput("Issue", "state", "invalid")
        if state == "closed":
            if reason not in (None, "completed", "not_planned", "duplicate"):
                raise InvalidInput("Issue", "state_reason", "invalid")
            if issue.state == "open":
                issue.closed_at = self.clock.time()
            issue.state, issue.state_reason = "closed", reason or "completed"
        else:
            reopened = issue.state == "closed"
            issue.state, issue.state_reason, issue.closed_at = "open", "reopened" if reopened else None, None

    def _labels(self, names: Any) -> list[str]:
        """The labels' canonical names, creating missing ones as GitHub does."""
        if not isinstance(names, list):
            raise InvalidInput("Issue", "labels", "invalid")
        result: list[str] = []
        for name in names:
            if isinstance(name, dict):  # GitHub takes {"name": ...} objects too
                name = name.get("name")
            problem = label_name_problem(name)
            if problem:
                raise InvalidInput("Label", "name", problem)
            label = self.labels.get(name.lower()) or self.add_label(name)
            if label.name not in result:
                result.append(label.name)
        return result

    # --- rendering (the REST API's shapes, trimmed to what clients read) ---

    def render_label(self, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "name": label.name,
            "color": label.color,
            "description": label.description,
            "default": False,
            "url": f"https://api.github.com/repos/{self.repository}/labels/{label.name}",
        }

    def render_issue(self, issue: Issue) -> dict[str, Any]:
        return {
            "id": 10_000 + issue.number,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "labels": [self.render_label(self.labels[name.lower()]) for name in issue.labels],
            "comments": len(issue.comments),
            "user": {"login": "github-actions[bot]", "type": "Bot"},
            "html_url": f"https://github.com/{self.repository}/issues/{issue.number}",
            "url": f"https://api.github.com/repos/{self.repository}/issues/{issue.number}",
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at) if issue.closed_at is not None else None,
        }

    def render_comment(self, comment: Comment) -> dict[str, Any]:
        return {"id": comment.id, "body": comment.body, "created_at": _iso(comment.created_at)}

    # --- for tests ---

    def open_issues(self) -> list[Issue]:
        with self.lock:
            return [issue for issue in self.issues.values() if issue.state == "open"]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
