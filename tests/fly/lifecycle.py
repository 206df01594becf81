"""What `pulumi up`/`refresh` do for one resource, in terms of ProviderHost calls."""

from __future__ import annotations

from typing import Any

from tests.support.engine import BoundProvider, DiffOutcome


def up(
    bound: BoundProvider, news: dict[str, Any], *, id_: str | None = None, outs: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """check, then create (no id) or diff + update in place; returns (id, outputs)."""
    checked = bound.check(outs or {}, news)
    assert not checked.failures, checked.failures
    if id_ is None:
        return bound.create(checked.inputs)
    assert outs is not None
    outcome = bound.diff(id_, outs, checked.inputs)
    if not outcome.changes:
        return id_, outs
    assert not outcome.replaces, f"unexpected replace of {outcome.replaces}"
    return id_, bound.update(id_, outs, checked.inputs)


def preview(bound: BoundProvider, id_: str, outs: dict[str, Any], news: dict[str, Any]) -> DiffOutcome:
    checked = bound.check(outs, news)
    assert not checked.failures, checked.failures
    return bound.diff(id_, outs, checked.inputs)


def refresh(bound: BoundProvider, id_: str, outs: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """read; returns (id, outputs, inputs) as the engine would store them ("" id: dropped)."""
    result = bound.read(id_, outs)
    if result.id:
        assert result.inputs is not None, "read must return inputs so a diff after refresh stays quiet"
    return result.id, result.outs, result.inputs or {}
