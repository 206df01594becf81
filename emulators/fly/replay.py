"""The `fly-replay` response header and the `fly-replay-src` request header (Fly's dynamic request routing docs,
docs/reference/fly-machines-api.md §2).

`fly-replay` is `;`-separated `key=value` fields; a value may be double-quoted (a comma-separated region list must
be). Fields: `app`, `instance`, `prefer_instance`, `region`, `state`, `elsewhere` (modelled); `timeout`, `fallback`
(accepted, not modelled). Anything else, a field without `=`, an empty or repeated field, a bad app name or machine
id, `elsewhere` other than true/false, or no routing field at all is malformed: `ReplayError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "Requests larger than 1MB cannot be replayed" (Fly's dynamic-request-routing docs). Fly does not define the MB;
# the emulator reads it as 1 MiB, inclusive: a body of exactly 1,048,576 bytes replays, one byte more does not.
REPLAY_BODY_LIMIT = 1_048_576
# Geographic aliases of the `region` field; the emulator lets each of them match every region.
REGION_ALIASES = frozenset({"apac", "eu", "na", "sa", "us", "usa", "any"})

_ROUTING = ("app", "instance", "prefer_instance", "region", "elsewhere")
_KNOWN = frozenset({*_ROUTING, "state", "timeout", "fallback"})
_APP = re.compile(r"[a-z0-9][a-z0-9-]{0,61}[a-z0-9]|[a-z0-9]")
_MACHINE = re.compile(r"[0-9a-z]{1,32}")
_REGION = re.compile(r"[a-z]{2,4}")
_FIELD = re.compile(r'\s*([A-Za-z_]+)\s*=\s*("([^"]*)"|[^;"]*)\s*')


class ReplayError(ValueError):
    """A malformed `fly-replay` header."""


@dataclass(frozen=True)
class Replay:
    app: str | None = None
    instance: str | None = None
    prefer_instance: str | None = None
    regions: tuple[str, ...] = ()
    state: str | None = None
    elsewhere: bool = False

    def any_region(self) -> bool:
        return not self.regions or any(r in REGION_ALIASES for r in self.regions)


def parse_replay(header: str) -> Replay:
    fields = _fields(header)
    if not any(name in fields for name in _ROUTING):
        raise ReplayError(f"fly-replay {header!r} names no target (app, instance, prefer_instance, region, elsewhere)")
    app = fields.get("app")
    if app is not None and not _APP.fullmatch(app):
        raise ReplayError(f"fly-replay app={app!r} is not an app name")
    for key in ("instance", "prefer_instance"):
        value = fields.get(key)
        if value is not None and not _MACHINE.fullmatch(value):
            raise ReplayError(f"fly-replay {key}={value!r} is not a machine id")
    regions: tuple[str, ...] = ()
    if "region" in fields:
        regions = tuple(r.strip() for r in fields["region"].split(","))
        bad = [r for r in regions if not _REGION.fullmatch(r)]
        if bad:
            raise ReplayError(f"fly-replay region={fields['region']!r} has bad region codes {bad}")
    elsewhere = fields.get("elsewhere", "false")
    if elsewhere not in ("true", "false"):
        raise ReplayError(f"fly-replay elsewhere={elsewhere!r} must be true or false")
    return Replay(
        app=app,
        instance=fields.get("instance"),
        prefer_instance=fields.get("prefer_instance"),
        regions=regions,
        state=fields.get("state"),
        elsewhere=elsewhere == "true",
    )


def replay_src(instance: str, region: str, at: float, state: str | None) -> str:
    """The `fly-replay-src` request header: the machine that answered fly-replay, its region, when (microseconds
    since the Unix epoch) and the `state` it gave, if any."""
    value = f"instance={instance};region={region};t={int(at * 1_000_000)}"
    return value if state is None else f"{value};state={state}"


def _fields(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    rest = header.strip()
    if not rest:
        raise ReplayError("fly-replay header is empty")
    while rest:
        found = _FIELD.match(rest)
        if found is None:
            raise ReplayError(f"fly-replay {header!r}: expected key=value at {rest!r}")
        key = found.group(1).lower()
        value = found.group(3) if found.group(3) is not None else found.group(2).strip()
        if key not in _KNOWN:
            raise ReplayError(f"fly-replay {header!r}: unknown field {key!r}")
        if key in out:
            raise ReplayError(f"fly-replay {header!r}: field {key!r} given twice")
        if not value:
            raise ReplayError(f"fly-replay {header!r}: field {key!r} is empty")
        out[key] = value
        rest = rest[found.end() :]
        if rest:
            if not rest.startswith(";"):
                raise ReplayError(f"fly-replay {header!r}: expected ';' at {rest!r}")
            rest = rest[1:]
            if not rest.strip():
                raise ReplayError(f"fly-replay {header!r}: trailing ';'")
    return out
