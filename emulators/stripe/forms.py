"""Stripe's form encoding, decoded: `a[b][0][c]=v` pairs into nested dicts and lists.

stripe-python sends every POST body as `application/x-www-form-urlencoded` and every GET's parameters in
the query, both in the same bracket notation: a dict's keys as `[key]`, a list's items as `[0]`, `[1]`, ...
(other clients send `[]` for "the next item"). A list is a dict whose keys are all indexes.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """A parameter name or value the decoder cannot place (Stripe answers 400 for these too)."""


def decode(text: str) -> dict[str, Any]:
    """The nested parameters of a query string or form body."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=1000)
    except ValueError as exc:
        raise FormError(str(exc)) from None
    root: dict[str, Any] = {}
    for name, value in pairs:
        head, _, rest = name.partition("[")
        path = [head] + _PART.findall("[" + rest) if rest else [head]
        if not head or (rest and "".join(f"[{p}]" for p in path[1:]) != "[" + rest):
            raise FormError(f"Invalid parameter name: {name}")
        _place(root, path, value)
    return {key: _lists(value) for key, value in root.items()}  # the top level is always a hash


def _place(node: dict[str, Any], path: list[str], value: str) -> None:
    for depth, key in enumerate(path):
        if key == "":  # `[]`: the next item
            key = f"{len(node)}"
        last = depth == len(path) - 1
        if last:
            node[key] = value
            return
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise FormError(f"Invalid parameter: {path[0]} is given both as a value and as a hash")
        node = child


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        ordered = sorted(converted, key=int)
        if [int(k) for k in ordered] != list(range(len(ordered))):
            raise FormError("Invalid array: indexes must run from 0 without gaps")
        return [converted[k] for k in ordered]
    return converted
