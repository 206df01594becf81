"""The engine the lane runs: the pinned CLI, the plugins at the versions requirements.txt pins, and no
reaching for the network: a missing plugin fails loudly instead of downloading."""

from __future__ import annotations

import re

from emulators.project import ENGINE_VERSION, REPO_ROOT
from tests.e2e.conftest import tenant
from tests.support.pulumi_cli import Engine, Workspace, engine


def test_the_cli_is_the_pinned_version_and_the_plugins_match_the_sdk_pins():
    found = engine()
    ws_version = Workspace.version(found)
    assert ws_version == f"v{ENGINE_VERSION}"
    pins = dict(re.findall(r"^pulumi-(\w+)==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M))
    for name in ("cloudflare", "random", "command"):
        assert (found.home / "plugins" / f"resource-{name}-v{pins[name]}" / f"pulumi-resource-{name}").is_file(), name


def test_a_missing_plugin_fails_loudly_and_never_downloads(tmp_path, config, fly, cloudflare):
    found = engine()
    empty_home = tmp_path / "empty-pulumi-home"
    (empty_home / "plugins").mkdir(parents=True)
    workspace = Workspace(tmp_path / "ws", {"FLY_API_TOKEN": "t"}, engine_=Engine(found.bin, empty_home))
    workspace.new_stack("e2e", config, [tenant("e2eplug001", "plugin")])
    # The CLI's own text, as an operator reads it. Every plugin is missing, and which one the engine asks for
    # first depends on which resource registers first (the program's registrations run in parallel).
    run = workspace.stack_script("preview", "e2e", events=False)
    assert run.returncode != 0
    assert re.search(r"no resource plugin 'pulumi-resource-(cloudflare|random|command)' found", run.output), run.output[
        -3000:
    ]
    assert "downloading" not in run.output.lower()
