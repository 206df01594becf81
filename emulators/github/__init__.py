"""A local stand-in for the GitHub REST API: issues, comments, labels (scripts.alerts) and workflow dispatches."""

from emulators.github.server import FakeGitHub, serve
from emulators.github.state import Dispatch, GitHubWorld

__all__ = ["Dispatch", "FakeGitHub", "GitHubWorld", "serve"]
