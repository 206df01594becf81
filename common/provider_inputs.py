"""How a dynamic provider's inputs arrive from the engine, for every provider of the project (Fly's, the
owner emails'): unknowns at preview time, and numbers that crossed a protobuf Struct as floats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN


def is_unknown(value: Any) -> bool:
    """True when the value (or anything inside it) is unknown at preview time.

    The provider server hands unknowns over as `pulumi.output.Unknown` objects; the raw string sentinel
    is accepted too.
    """
    if isinstance(value, Unknown):
        return True
    if isinstance(value, str):
        return value == UNKNOWN
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return False


def as_int(value: Any) -> int | None:
    """Struct numbers arrive as floats; accept integral floats, refuse bools and fractions."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
