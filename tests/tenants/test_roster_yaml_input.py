"""Operator YAML is refused before anything walks or formats it: anchors, aliases, the wrong shapes.

A 553-byte roster of nested aliases expands to gigabytes as soon as an error message formats a value;
the loader must refuse it from the event stream. The same loader reads the stack files and the plans
override, so the family is every YAML file or string an operator hands us.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from config.stack_config import ConfigError, from_mapping
from tenants.inputs import quote_value
from tenants.roster import RosterError, parse_roster
from tests.program.harness import SETTINGS_VALUES


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    head = ["- id: acme000001", "  username: alice", "  email: a@example.org", "  plan: reader", "  state: active"]
    return "\n".join(head + [f"  {line}" for line in lines]) + "\n"


def test_roster_yaml_alias_bomb_fails_fast_under_a_memory_limit(tmp_path: Path) -> None:
    """In a child with 1 GiB of address space and a timeout, so a regression cannot take the suite down."""
    roster = tmp_path / "bomb.yaml"
    roster.write_text(alias_bomb())
    assert len(roster.read_bytes()) < 1000
    child = textwrap.dedent(
        f"""
        import resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from tenants.roster import RosterError, load_roster
        started = time.monotonic()
        try:
            load_roster({str(roster)!r})
        except RosterError as exc:
            print(f"{{time.monotonic() - started:.3f}}")
            print(exc)
            sys.exit(0)
        sys.exit("loaded")
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    seconds, message = done.stdout.split("\n", 1)
    assert float(seconds) < 0.5
    assert "line 6: YAML anchors and aliases are not allowed (found anchor &a0)" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- &who\n  id: acme000001\n  username: alice\n  email: a@example.org\n  plan: reader\n  state: active\n",
         "line 1: YAML anchors and aliases are not allowed (found anchor &who)"),
        ("- id: acme000001\n  username: alice\n  email: &e a@example.org\n  plan: reader\n  state: active\n",
         "line 3: YAML anchors and aliases are not allowed (found anchor &e)"),
        ("- id: acme000001\n  username: alice\n  email: a@example.org\n  plan: reader\n  state: active\n"
         "- id: acme000002\n  username: bob\n  email: b@example.org\n  plan: *p\n  state: active\n",
         "line 9: YAML anchors and aliases are not allowed (found alias *p)"),
    ],
    ids=["anchor on an entry", "anchor on a value", "alias without anchor"],
)  # fmt: skip
def test_roster_yaml_anchors_and_aliases_are_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(RosterError) as caught:
        parse_roster(text, "roster.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith(message)


def test_roster_yaml_innocent_anchor_and_alias_are_refused_with_a_clear_message() -> None:
    text = (
        "- id: acme000001\n  username: alice\n  email: a@example.org\n  plan: &plan reader\n  state: active\n"
        "- id: acme000002\n  username: bob\n  email: b@example.org\n  plan: *plan\n  state: active\n"
    )
    with pytest.raises(RosterError) as caught:
        parse_roster(text, "roster.yaml")
    assert caught.value.problems == [
        "line 4: YAML anchors and aliases are not allowed (found anchor &plan); write each value in full"
    ]


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("username", "[1, 2, 3]", "a list"),
        ("username", "{a: 1}", "a mapping"),
        ("email", "[[[[x]]]]", "a list"),
        ("created_at", "[2026-01-01]", "a list"),
        ("plan", "!!binary aGVsbG8=", "b'hello'"),
    ],
)
def test_roster_yaml_a_non_scalar_where_text_belongs_is_named_not_formatted(field: str, value: str, shown: str) -> None:
    text = {"id": "acme000001", "username": "alice", "email": "a@example.org", "plan": "reader", "state": "active"}
    text[field] = value
    roster = "- " + "\n  ".join(f"{k}: {v}" for k, v in text.items()) + "\n"
    with pytest.raises(RosterError) as caught:
        parse_roster(roster, "roster.yaml")
    (problem,) = caught.value.problems
    assert f"entry 1 (id 'acme000001'): {field}: expected" in str(problem) and shown in str(problem)


def test_roster_yaml_a_10_kb_value_is_quoted_truncated() -> None:
    huge = "x" * 10_240
    roster = f"- id: acme000001\n  username: alice\n  email: a@example.org\n  plan: {huge}\n  state: active\n"
    started = time.monotonic()
    with pytest.raises(RosterError) as caught:
        parse_roster(roster, "roster.yaml")
    assert time.monotonic() - started < 1
    assert len(str(caught.value)) < 400
    assert quote_value(huge) in str(caught.value) and quote_value(huge).endswith("…")
    assert len(quote_value(huge)) == 60


def test_roster_yaml_unknown_field_names_and_duplicate_keys_are_bounded() -> None:
    key = "k" * 1000  # YAML's longest implicit key
    roster = (
        f"- id: acme000001\n  username: alice\n  email: a@example.org\n  plan: reader\n  state: active\n  {key}: 1\n"
    )
    with pytest.raises(RosterError) as caught:
        parse_roster(roster, "roster.yaml")
    assert len(str(caught.value)) < 600
    with pytest.raises(RosterError) as caught:
        parse_roster(f"- {key}: 1\n  {key}: 2\n", "roster.yaml")
    assert len(str(caught.value)) < 600 and "duplicate key" in str(caught.value)


def test_stack_config_plans_override_refuses_aliases() -> None:
    plans = '{"free": &f {"quota_gb": 1, "volume_gb": 2, "memory_mb": 512}, "reader": *f}'
    with pytest.raises(ConfigError) as caught:
        from_mapping("prod", {**SETTINGS_VALUES, "alex-hosted:plans": plans})
    assert caught.value.problems == [
        "alex-hosted:plans: line 1: YAML anchors and aliases are not allowed (found anchor &f); write each value in full"
    ]


def test_stack_file_refuses_aliases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import config.stack_config as stack_config

    path = tmp_path / "Pulumi.bomb.yaml"
    path.write_text("config:\n  alex-hosted:domain: &d books.example.com\n  alex-hosted:flyOrg: *d\n")
    monkeypatch.setattr(stack_config, "stack_file", lambda stack: path)
    with pytest.raises(ConfigError, match=r"Pulumi\.bomb\.yaml: line 2: YAML anchors and aliases are not allowed"):
        stack_config.read_stack_file("bomb")
