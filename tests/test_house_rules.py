"""Two house rules the suite keeps: no identical block between production modules, no test that waits on
the wall clock.

Identical blocks: every window of WINDOW consecutive code lines (stripped; blank lines, comments, imports
left out) that stands in two places of the non-test modules is a copy to share. A window made only of
thin lines (a bracket, or one argument or parameter per line) says nothing and is passed over.

Wall-clock waits: a call of `time.sleep`, `asyncio.sleep` with a non-zero delay, or a bare `sleep` from
`time`, inside a test function's body (nested functions included): wait on an event, a condition with a
deadline (tests/support/poll.py) or an injected clock instead.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections import defaultdict
from pathlib import Path

from tests.support.engine import REPO_ROOT

WINDOW = 6
_THIN = re.compile(r"[)\]}]+[,:]?|\*,|[\w.]+(: [^=]+)?( = .+)?,|\w+=[\w.]+,|[\w.]+\(|[\w\"']+: [\[{(]")


def tracked(pattern: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [REPO_ROOT / name for name in out.stdout.split()]


def code_lines(path: Path) -> list[tuple[int, str]]:
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith(("#", "import ", "from ")) and line != "if TYPE_CHECKING:":
            lines.append((number, line))
    return lines


def identical_blocks(paths: list[Path]) -> list[str]:
    places: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in paths:
        lines = code_lines(path)
        for start in range(len(lines) - WINDOW + 1):
            window = tuple(text for _, text in lines[start : start + WINDOW])
            if all(_THIN.fullmatch(text) for text in window):
                continue
            places[window].append(f"{path.relative_to(REPO_ROOT)}:{lines[start][0]}")
    return sorted({" ~ ".join(found[:2]) for found in places.values() if len(found) > 1})


def test_no_identical_block_between_production_modules():
    production = [p for p in tracked("*.py") if p.relative_to(REPO_ROOT).parts[0] != "tests"]
    assert identical_blocks(production) == []


def test_the_block_check_finds_a_copy(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_house_rules.REPO_ROOT", tmp_path)
    body = "\n".join(f"total += step_{n}(value, limit={n})" for n in range(WINDOW)) + "\n"
    (tmp_path / "a.py").write_text("def a():\n" + body, encoding="utf-8")
    (tmp_path / "b.py").write_text("x = 1\n\n" + body, encoding="utf-8")
    assert identical_blocks([tmp_path / "a.py", tmp_path / "b.py"]) == ["a.py:2 ~ b.py:3"]


def _is_wall_clock_wait(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
    if name != "sleep" or owner not in (None, "time", "asyncio"):
        return False
    zero = bool(call.args) and isinstance(call.args[0], ast.Constant) and call.args[0].value == 0
    return not (owner == "asyncio" and zero)  # asyncio.sleep(0) yields to the loop, it waits on no clock


def wall_clock_waits(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and _is_wall_clock_wait(inner):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{inner.lineno} in {node.name}")
    return found


def test_no_test_body_waits_on_the_wall_clock():
    waits = [w for path in tracked("tests/**.py") for w in wall_clock_waits(path)]
    assert waits == []


def test_the_wait_check_finds_a_sleep(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_house_rules.REPO_ROOT", tmp_path)
    (tmp_path / "test_x.py").write_text(
        "import asyncio, time\n"
        "def test_a():\n    time.sleep(0.1)\n"
        "async def test_b():\n    await asyncio.sleep(0)\n    await asyncio.sleep(0.2)\n"
        "def helper():\n    time.sleep(1)\n",
        encoding="utf-8",
    )
    assert wall_clock_waits(tmp_path / "test_x.py") == ["test_x.py:3 in test_a", "test_x.py:6 in test_b"]
