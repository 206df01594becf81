"""A local stand-in for the GitHub REST API's issues, comments and labels (what scripts.alerts uses)."""

from emulators.github.server import FakeGitHub, serve
from emulators.github.state import GitHubWorld

__all__ = ["FakeGitHub", "GitHubWorld", "serve"]
