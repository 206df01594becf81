"""Operator input made safe to check and to quote: text files, YAML documents and single values.

Every file an operator (or Stripe) hands us goes through here before any rule looks at it, so that
one rule holds everywhere: a bad input is one clear message, never a traceback, a hang or a value
that only looks right. Three families of trouble are closed off here:

- files: missing, a directory, unreadable, not UTF-8 or starting with a byte-order mark;
- YAML: anchors and aliases (a few hundred bytes of nested aliases expand to gigabytes once anything
  walks or formats the value), tags that build something other than plain data, several documents;
- values: `re.match` with `$` accepts a trailing newline, so every check matches the whole string
  (`fullmatch`) and refuses control, format and separator characters (`clean_text`), and every value
  quoted in a message is bounded (`quote_value`).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

# Control (Cc), format (Cf: zero-width space, BOM, bidi marks), line and paragraph separators and
# space separators (Zs: space, no-break space): none belongs in an id, name, address or code.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})
QUOTE_LIMIT = 60
BOM = "\ufeff"
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InputError(ValueError):
    """An input that cannot be used; the message is one line, ready to follow the file's name."""


def quote_value(value: object, limit: int = QUOTE_LIMIT) -> str:
    """repr(value), cut to about `limit` characters with an ellipsis: messages stay one short line.

    Containers are described, not formatted: formatting a shared (aliased) structure can take minutes.
    """
    if isinstance(value, list | tuple | set | frozenset | dict):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return _bounded(repr(value), limit)


def forbidden_characters(value: str) -> list[str]:
    """The characters of `value` that no identifier-like field may hold (see _FORBIDDEN_CATEGORIES)."""
    return [ch for ch in value if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES]


def clean_text(value: object) -> bool:
    """True for a string with no control, format or separator characters (a plain space included)."""
    return isinstance(value, str) and not forbidden_characters(value)


def matches(pattern: re.Pattern[str], value: object) -> bool:
    """The whole of a clean string matches `pattern`; never a prefix, never with a trailing newline."""
    return clean_text(value) and pattern.fullmatch(str(value)) is not None


def parse_date(value: object) -> date | None:
    """A calendar date written YYYY-MM-DD (text, or YAML's own date), or None: the one date rule of the
    roster and the stack config. A timestamp where a date belongs is refused (comparing one with a date
    raises), and so are other ISO spellings (20260101, 2026-W01-1) and days that do not exist."""
    if isinstance(value, datetime | ImpossibleDate):
        return None
    if isinstance(value, date):
        return value
    if matches(DATE_RE, value):
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return None
    return None


def read_text(path: Path) -> str:
    """A UTF-8 text file's content; InputError says what is wrong with the file (not which file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found") from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r})") from None
    if text.startswith(BOM):
        # Tools that add one would also strip it on the next deterministic write: make the choice explicit.
        raise InputError("starts with a byte-order mark; save it as UTF-8 without BOM")
    return text


# libyaml's C parser when present (it is in PyYAML's wheels): rosters of thousands of tenants load fast.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A safe loader that refuses duplicate keys (plain YAML silently keeps the last) and impossible dates."""


class ImpossibleDate(str):
    """A date-shaped scalar that names no day (2026-02-30): kept as text for the field's own rule to report."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in seen:
                message = f"duplicate key {quote_value(key)}"
                raise yaml.constructor.ConstructorError(None, None, message, key_node.start_mark)
            seen.add(key)
        except TypeError:
            pass  # an unhashable key: construct_mapping below reports it with its line
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:  # PyYAML raises a bare ValueError (no line, no YAMLError) for 2026-02-30
        return ImpossibleDate(node.value)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load_yaml(text: str) -> Any:
    """One YAML document as plain data; InputError for invalid YAML, anchors/aliases or several documents.

    The events are checked before anything is built: an alias bomb is refused in microseconds, before
    a node graph exists that a later message or walk could expand.
    """
    # An anchor or alias needs its indicator, `&` or `*`: in a text with neither (every roster the sync
    # writes) there is none to refuse, and the scan, a tenth of loading 10,000 entries, is skipped.
    if "&" in text or "*" in text:
        _refuse_anchors(text)
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {_one_line(exc)}") from None
    finally:
        loader.dispose()


def _refuse_anchors(text: str) -> None:
    loader = _StrictLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                kind = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
                line = event.start_mark.line + 1
                found = _bounded(f"{kind}{anchor}", 40)
                raise InputError(
                    f"line {line}: YAML anchors and aliases are not allowed (found {found}); write each value in full"
                )
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {_one_line(exc)}") from None
    finally:
        loader.dispose()


def _one_line(exc: yaml.YAMLError) -> str:
    parts = [part.strip() for part in str(exc).splitlines() if part.strip()]
    return _bounded("; ".join(parts), 300) if parts else type(exc).__name__


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
