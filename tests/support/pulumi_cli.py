"""The real Pulumi engine for tests: the CLI, its Python language host and the provider plugins.

`engine()` finds the engine `.ci/run` (or `make engine`) installed from ../shared/engine: `ALEX_PULUMI_BIN`
(a folder holding `pulumi`) and `ALEX_PULUMI_HOME` (the plugin cache) when set, else the cache under
~/.cache/alex-hosted. Missing, it ends the test through `requires.missing` (a failure under CI).

`Workspace` is one project on disk: a copy of the program (its packages, `Pulumi.yaml`, the project's
`.venv` linked in), its own `stacks/` and rosters, a file backend and a passphrase. Every `pulumi` run
gets a clean environment: no automatic plugin download, no update check, no ambient plugins, only the
variables the test names (the emulators' URLs and tokens).

    ws = Workspace(tmp_path, env={"FLY_API_URL": fly.url, ...})
    ws.new_stack("e2e", {"alex-hosted:domain": "books.test", ...}, roster=[...])
    run = ws.stack_script("up", "e2e")           # python -m scripts.pulumi_stack up --stack e2e, as CI runs it
    assert run.changes() == {"create": 42}

Engine runs stream their events as JSON (`--json`, with PULUMI_ENABLE_STREAMING_JSON_PREVIEW for previews),
so tests read what the engine did (steps, their URNs and ops, the summary) from the engine itself rather
than from its human output; `events=False` gives the human output CI prints.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emulators.project import ENGINE_VERSION as ENGINE_VERSION  # re-exported: the workflow tests read it
from emulators.project import copy_program, engine_bin, engine_environment, engine_home
from tests.support.requires import missing

PASSPHRASE = "e2e-passphrase-not-a-secret"


@dataclass(frozen=True)
class Engine:
    bin: Path
    home: Path

    @property
    def pulumi(self) -> Path:
        return self.bin / "pulumi"


def engine() -> Engine:
    """The installed engine, or the test ends (a failure under CI)."""
    bin_dir, home = engine_bin(), engine_home()
    if bin_dir is None:
        missing("no Pulumi engine: run `make engine` (installs ../shared/engine), or set ALEX_PULUMI_BIN")
    if not any((home / "plugins").glob("resource-cloudflare-v*")):
        missing(f"no provider plugins in {home}/plugins: run `make engine`")
    return Engine(bin_dir, home)


@dataclass
class Run:
    """One finished `pulumi` (or script) run: its output and the engine's events."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def summary(self) -> dict[str, int]:
        """The engine's own count of steps by op (`create`, `update`, `same`, `delete`, ...)."""
        for event in reversed(self.events):
            if "summaryEvent" in event:
                return dict(event["summaryEvent"].get("resourceChanges") or {})
        return {}

    def changes(self) -> dict[str, int]:
        """The summary without the unchanged (`same`) resources: {} for a no-op."""
        return {op: n for op, n in self.summary().items() if op != "same" and n}

    def steps(self, *ops: str) -> list[tuple[str, str]]:
        """(op, urn) of every step the engine started, in order; only `ops` when given."""
        found = []
        for event in self.events:
            pre = event.get("resourcePreEvent")
            if pre:
                meta = pre["metadata"]
                if not ops or meta["op"] in ops:
                    found.append((meta["op"], meta["urn"]))
        return found

    def failures(self) -> list[str]:
        """The URNs of the steps that failed."""
        return [e["resOpFailedEvent"]["metadata"]["urn"] for e in self.events if "resOpFailedEvent" in e]

    def diagnostics(self, severity: str = "error") -> list[str]:
        return [
            e["diagnosticEvent"]["message"]
            for e in self.events
            if "diagnosticEvent" in e and e["diagnosticEvent"].get("severity") == severity
        ]

    def check(self) -> Run:
        if self.returncode != 0:
            raise AssertionError(f"{' '.join(self.args)} exited {self.returncode}:\n{self.output[-6000:]}")
        return self


class Workspace:
    """A project directory with its own stacks, rosters and file backend (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        env: Mapping[str, str] | None = None,
        *,
        engine_: Engine | None = None,
        program: Path | None = None,
    ) -> None:
        """`program`: a folder whose `Pulumi.yaml` and `__main__.py` replace the program's (a test program
        over the same packages, e.g. tests/e2e/cloudflare_program)."""
        self.engine = engine_ or engine()
        self.root = root
        self.project = root / "project"
        self.state = root / "state"
        self.logs = root / "logs"
        for folder in (self.state, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        copy_program(self.project)
        if program is not None:
            for name in ("Pulumi.yaml", "__main__.py"):
                shutil.copy2(program / name, self.project / name)
        self.env = dict(env or {})
        self._runs = 0

    @staticmethod
    def version(found: Engine) -> str:
        """What `pulumi version` prints (the CLI's own version)."""
        done = subprocess.run([str(found.pulumi), "version"], capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.strip()

    # --- the environment every run gets -------------------------------------------------------------
    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return engine_environment(
            self.engine.bin, self.engine.home, self.state, PASSPHRASE, {**self.env, **(extra or {})}
        )

    # --- stacks and rosters ---------------------------------------------------------------------------
    def stack_file(self, stack: str) -> Path:
        return self.project / "stacks" / f"Pulumi.{stack}.yaml"

    def roster_file(self, stack: str) -> Path:
        return self.project / "tenants" / f"{stack}.yaml"

    def new_stack(self, stack: str, config: Mapping[str, Any], roster: Sequence[Mapping[str, Any]] = ()) -> None:
        """`pulumi stack init` with the passphrase provider, then the stack file and the roster."""
        self.write_roster(stack, roster)
        self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase", events=False).check()
        salt = yaml.safe_load(self.stack_file(stack).read_text(encoding="utf-8")).get("encryptionsalt")
        self.write_config(stack, config, salt=salt)

    def write_config(self, stack: str, config: Mapping[str, Any], *, salt: str | None = None) -> None:
        path = self.stack_file(stack)
        if salt is None and path.exists():
            salt = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("encryptionsalt")
        document: dict[str, Any] = {"config": dict(config)}
        if salt:
            document["encryptionsalt"] = salt
        path.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")

    def config(self, stack: str) -> dict[str, Any]:
        document = yaml.safe_load(self.stack_file(stack).read_text(encoding="utf-8")) or {}
        return dict(document.get("config") or {})

    def write_roster(self, stack: str, entries: Iterable[Mapping[str, Any]]) -> None:
        text = yaml.safe_dump([dict(e) for e in entries], sort_keys=False) if entries else "[]\n"
        self.roster_file(stack).write_text(text, encoding="utf-8")

    def roster(self, stack: str) -> list[dict[str, Any]]:
        return list(yaml.safe_load(self.roster_file(stack).read_text(encoding="utf-8")) or [])

    # --- runs -----------------------------------------------------------------------------------------
    def pulumi(self, *args: str, events: bool = True, env: Mapping[str, str] | None = None) -> Run:
        """`pulumi ARGS` in the project; with `events`, `--json` makes the engine stream its events."""
        command = [str(self.engine.pulumi), *args, *(["--json"] if events else [])]
        return self._run(command, events, env)

    def stack_script(
        self, command: str, stack: str, *options: str, env: Mapping[str, str] | None = None, events: bool = True
    ) -> Run:
        """`python -m scripts.pulumi_stack COMMAND --stack STACK`: the exact engine run CI makes. With
        `events` the engine streams its events as JSON (what tests read); without, it prints as CI shows it."""
        script = [str(self.project / ".venv" / "bin" / "python"), "-m", "scripts.pulumi_stack", command]
        return self._run([*script, "--stack", stack, *options, *(["--", "--json"] if events else [])], events, env)

    def script(self, module: str, *args: str, env: Mapping[str, str] | None = None) -> Run:
        """`python -m scripts.MODULE ARGS` in the project, with the workspace's environment."""
        python = str(self.project / ".venv" / "bin" / "python")
        return self._run([python, "-m", f"scripts.{module}", *args], False, env)

    def up(self, stack: str, *options: str) -> Run:
        return self.stack_script("up", stack, *options)

    def preview(self, stack: str, *options: str) -> Run:
        return self.stack_script("preview", stack, *options)

    def refresh(self, stack: str, *options: str) -> Run:
        return self.pulumi("refresh", "--stack", stack, "--yes", "--non-interactive", "--skip-preview", *options)

    def outputs(self, stack: str, *, secrets: bool = False) -> dict[str, Any]:
        show = ["--show-secrets"] if secrets else []
        run = self.pulumi("stack", "output", "--stack", stack, "--json", *show, events=False).check()
        return dict(json.loads(run.stdout or "{}"))

    def state_text(self, stack: str) -> str:
        """The checkpoint as the file backend keeps it (what an attacker with the state bucket sees)."""
        found = list(self.state.glob(f".pulumi/stacks/*/{stack}.json")) + list(
            self.state.glob(f".pulumi/stacks/{stack}.json")
        )
        if not found:
            raise AssertionError(f"no checkpoint for stack {stack!r} under {self.state}")
        return found[0].read_text(encoding="utf-8")

    def export(self, stack: str) -> dict[str, Any]:
        run = self.pulumi("stack", "export", "--stack", stack, events=False).check()
        return dict(json.loads(run.stdout))

    def resources(self, stack: str) -> list[dict[str, Any]]:
        return list(self.export(stack)["deployment"].get("resources") or [])

    def _run(self, command: list[str], events: bool, env: Mapping[str, str] | None) -> Run:
        self._runs += 1
        streaming = {"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"} if events else {}
        done = subprocess.run(
            command,
            cwd=self.project,
            env=self.environment({**streaming, **(env or {})}),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        parsed = [json.loads(line) for line in done.stdout.splitlines() if events and line.startswith("{")]
        (self.logs / f"run-{self._runs:03d}.txt").write_text(
            f"$ {' '.join(command)}\n# exit {done.returncode}\n{done.stdout}\n{done.stderr}", encoding="utf-8"
        )
        return Run(command, done.returncode, done.stdout, done.stderr, parsed)


def printed_by(runs: Iterable[Run]) -> str:
    """Everything the CLI printed across runs, for secret scans."""
    return "\n".join(run.output for run in runs)


def op_counts(steps: Iterable[tuple[str, str]]) -> Counter[str]:
    return Counter(op for op, _ in steps)
