"""The Fly proxy's decisions, taken with the world lock held: which app a hostname reaches, which machine of an app
answers (starting one through the emulator's state machine if need be), and whether a replay may go where it asks.
See proxy.py for the HTTP side and emulators/fly/__init__.py for the choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulators.fly.replay import Replay
from emulators.fly.state import Machine
from emulators.fly.world import World

PUBLIC_IP_TYPES = ("v4", "v6", "shared_v4")  # private_v6 (Flycast) is not a public face
PROXY_SOURCE = "fly-proxy"  # `source` of the events the proxy records


class ProxyError(Exception):
    """The proxy answers by itself: HTTP `status` with body ``{"error": message, "status": code}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.code}


@dataclass(frozen=True)
class Target:
    """The machine that will answer, as the proxy saw it when it chose it."""

    app: str
    machine_id: str
    instance_id: str
    region: str
    port: int  # the public port of the service port with the `http` handler
    tls: bool  # that port also has the `tls` handler
    started: bool  # the proxy started this machine for this request


def has_public_ip(world: World, app: str) -> bool:
    return any(ip.type in PUBLIC_IP_TYPES for ip in world.state.ips.get(app, []))


def app_for_host(world: World, host: str) -> str | None:
    """Most specific first: an exact certificate, then a `*.<parent>` certificate covering exactly one more label,
    then `<app>.fly.dev`; each only for an app with a public IP."""
    certs = world.state.certificates
    candidates = [host]
    label, dot, parent = host.partition(".")
    if dot and label and "." in parent:
        candidates.append(f"*.{parent}")
    for name in candidates:
        for app, held in certs.items():
            if name in held and has_public_ip(world, app):
                return app
    if host.endswith(".fly.dev"):
        app = host.removesuffix(".fly.dev")
        if app in world.state.apps and has_public_ip(world, app):
            return app
    return None


def check_replay_target(world: World, source_app: str, replay: Replay) -> str:
    """The app a replay goes to, or the reason it may not."""
    if replay.app is None or replay.app == source_app:
        return source_app
    if replay.app in world.settings.foreign_apps:
        raise ProxyError(
            403,
            "replay_forbidden",
            f"fly-replay: app {replay.app} belongs to another organization (cross-organization replay is not allowed)",
        )
    target = world.state.apps.get(replay.app)
    if target is None:
        raise ProxyError(502, "replay_target_not_found", f"fly-replay: app {replay.app} not found")
    source = world.state.apps[source_app]
    if target.network != source.network and not world.org_settings.cross_network_replay:
        raise ProxyError(
            403,
            "cross_network_replay_disabled",
            f"fly-replay: app {target.name} is on private network {target.network!r}, app {source_app} on "
            f"{source.network!r}; replays across networks need the organization setting cross_network_replay "
            "(fly orgs cross-network-replays enable)",
        )
    return target.name


def claim_machine(
    world: World,
    app: str,
    *,
    instance: str | None = None,
    prefer_instance: str | None = None,
    replay: Replay | None = None,
    exclude: frozenset[str] = frozenset(),
    timeout: float,
) -> Target:
    """A started machine of `app` with an http service; else start one whose service has autostart and wait
    (on the emulator's clock, at most `timeout`) until it is started."""
    started_id: str | None = None
    deadline = world.clock.monotonic() + timeout
    while True:
        world.tick()
        candidates = _candidates(world, app, instance, replay, exclude)
        if prefer_instance is not None:
            preferred = [m for m in candidates if m.id == prefer_instance]
            candidates = preferred or candidates
        ready = [m for m in candidates if m.state == "started"]
        chosen = next((m for m in ready if m.id == started_id), ready[0] if ready else None)
        if chosen is not None:
            return _target(chosen, started=chosen.id == started_id)
        coming = [m for m in candidates if m.plan and m.plan[-1][1] == "started"]
        if not coming:
            startable = [m for m in candidates if m.state in ("stopped", "suspended") and _autostart(m)]
            if startable:
                machine = startable[0]
                machine.go(world.clock.monotonic(), ["starting", "started"], world.settings.transition)
                machine.boot(PROXY_SOURCE, world.clock.time())
                started_id = machine.id
                world.cond.notify_all()
                continue
            if not any(m.state in ("stopping", "suspending") and _autostart(m) for m in candidates):
                states = ", ".join(f"{m.id} {m.state}" for m in candidates)
                raise ProxyError(
                    503,
                    "no_startable_machine",
                    f"app {app} has no started machine and none it may start (autostart off): {states}",
                )
        remaining = deadline - world.clock.monotonic()
        if remaining <= 0:
            raise ProxyError(503, "machine_start_timeout", f"no machine of app {app} started within {timeout} s")
        world.clock.wait(world.cond, remaining)


def _candidates(
    world: World, app: str, instance: str | None, replay: Replay | None, exclude: frozenset[str]
) -> list[Machine]:
    machines = [m for m in world.state.machines_of(app) if _http_port(m) is not None and not m.cordoned]
    if instance is not None:
        machines = [m for m in machines if m.id == instance]
        if not machines:
            raise ProxyError(
                502, "replay_target_not_found", f"fly-replay: no machine {instance} serving http in app {app}"
            )
        return machines
    if replay is not None and not replay.any_region():
        machines = [m for m in machines if m.region in replay.regions]
    machines = [m for m in machines if m.id not in exclude]
    if not machines:
        where = f" in region {','.join(replay.regions)}" if replay is not None and replay.regions else ""
        raise ProxyError(503, "no_machines", f"app {app} has no machine with an http service{where}")
    return machines


def _http_port(machine: Machine) -> tuple[int, bool] | None:
    """(public port, tls) of the first service port whose handlers include `http`, preferring a tls one."""
    found: list[tuple[int, bool]] = []
    for service in machine.config.get("services") or []:
        for port in service.get("ports") or []:
            handlers = port.get("handlers") or [] if isinstance(port, dict) else []
            if "http" in handlers:
                found.append((int(port.get("port") or 80), "tls" in handlers))
    found.sort(key=lambda p: not p[1])
    return found[0] if found else None


def _autostart(machine: Machine) -> bool:
    """Autostart is per service; a missing `autostart` counts as off (only an explicit true starts a machine)."""
    for service in machine.config.get("services") or []:
        ports = service.get("ports") or []
        if service.get("autostart") is True and any("http" in (p.get("handlers") or []) for p in ports):
            return True
    return False


def _target(machine: Machine, started: bool) -> Target:
    port = _http_port(machine)
    assert port is not None
    return Target(machine.app, machine.id, machine.instance_id, machine.region, port[0], port[1], started)
