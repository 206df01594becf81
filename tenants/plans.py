"""The plan table: what each plan gives a tenant (storage quota, volume, memory).

The defaults follow DESIGN.md; a stack may override them with the config key `alex-hosted:plans`,
a mapping of plan name to `{quota_gb, volume_gb, memory_mb}` (and optionally `cpus`, `cpu_kind`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.config_keys import ConfigKey
from tenants.inputs import clean_text, matches, quote_value

PLANS_KEY = ConfigKey.PLANS.qualified


class PlanError(ValueError):
    """A plan table override that cannot be used; the message names the key and the field."""


@dataclass(frozen=True)
class Plan:
    name: str
    quota_gb: float  # R2 storage the tenant may use
    volume_gb: int  # Fly volume size; volumes only ever grow
    memory_mb: int  # Fly guest memory, a multiple of 256, at least MIN_MEMORY_MB
    cpus: int = 1
    cpu_kind: str = "shared"

    @property
    def quota_bytes(self) -> int:
        return int(self.quota_gb * 1024**3)


# The least memory a tenant machine gets. Alex's processes held about 228 MB after light use, the companion
# 46 MB idle and 89 MB at its peak through a reading session (`python -m bench.memory`: 200 covers, a 63 MB
# EPUB, a 210 MB PDF in ranges), before the watcher and the database processes Alex spawns per query: more
# than 256 MB before any peak, so a 256 MB machine would live in swap or be OOM-killed.
MIN_MEMORY_MB = 512

DEFAULT_PLANS: dict[str, Plan] = {
    "free": Plan("free", quota_gb=0.25, volume_gb=1, memory_mb=512),
    "reader": Plan("reader", quota_gb=5, volume_gb=6, memory_mb=512),
    "library": Plan("library", quota_gb=25, volume_gb=26, memory_mb=512),
}

_FIELDS = {"quota_gb", "volume_gb", "memory_mb", "cpus", "cpu_kind"}
PLAN_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")  # whole string, via tenants.inputs.matches


def plan_rank(plans: Mapping[str, Plan], name: str) -> tuple[float, int]:
    """Orders plans from smallest to biggest, so "the higher plan" has one meaning everywhere."""
    plan = plans[name]
    return (plan.quota_gb, plan.volume_gb)


def parse_plans(raw: Any) -> dict[str, Plan]:
    """Builds the plan table from a config override; None means the defaults.

    An override replaces the whole table, so a stack can drop or add plans, but every field of every
    plan is checked here, before any resource is declared.
    """
    if raw is None:
        return dict(DEFAULT_PLANS)
    if not isinstance(raw, Mapping) or not raw:
        raise PlanError(f"{PLANS_KEY}: expected a non-empty mapping of plan name to settings")
    problems: list[str] = []
    plans: dict[str, Plan] = {}
    for name, spec in raw.items():
        if not matches(PLAN_NAME_RE, name):
            problems.append(f"{PLANS_KEY}.{_field_name(name)}: plan names are lowercase words")
            continue
        where = f"{PLANS_KEY}.{name}"
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: expected a mapping with quota_gb, volume_gb, memory_mb")
            continue
        unknown = sorted(_field_name(key) for key in spec if key not in _FIELDS)
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        base = DEFAULT_PLANS.get(name)
        values: dict[str, Any] = {}
        for field in ("quota_gb", "volume_gb", "memory_mb", "cpus"):
            value = spec.get(field, getattr(base, field, None) if base else None)
            if field == "cpus" and value is None:
                value = 1
            if value is None:
                problems.append(f"{where}.{field}: required for a plan that has no default")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                problems.append(f"{where}.{field}: expected a positive number, got {_shown(value)}")
                continue
            values[field] = value
        if isinstance(values.get("volume_gb"), float) and not float(values["volume_gb"]).is_integer():
            problems.append(f"{where}.volume_gb: expected whole gigabytes, got {values['volume_gb']!r}")
        memory = values.get("memory_mb")
        if memory is not None and (memory % 256 or memory < MIN_MEMORY_MB or memory > 16384):
            problems.append(
                f"{where}.memory_mb: expected a multiple of 256 from {MIN_MEMORY_MB} up to 16384 (Alex and the"
                f" companion need more than 256), got {memory!r}"
            )
        cpu_kind = spec.get("cpu_kind", "shared")
        if cpu_kind not in ("shared", "performance"):
            problems.append(f"{where}.cpu_kind: expected 'shared' or 'performance', got {_shown(cpu_kind)}")
        if len(values) == 4 and not problems:
            plans[name] = Plan(
                name,
                quota_gb=float(values["quota_gb"]),
                volume_gb=int(values["volume_gb"]),
                memory_mb=int(values["memory_mb"]),
                cpus=int(values["cpus"]),
                cpu_kind=cpu_kind,
            )
    if problems:
        raise PlanError("\n".join(problems))
    return plans


def _field_name(key: Any) -> str:
    """A key as written when it is short clean text, else quoted and bounded."""
    return key if clean_text(key) and 0 < len(key) <= 40 else quote_value(key, 40)


def _shown(value: Any) -> str:
    """Containers are described, not formatted (they may be huge); anything else quoted, bounded."""
    return "a mapping" if isinstance(value, Mapping) else "a list" if isinstance(value, list) else quote_value(value)
