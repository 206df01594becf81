"""Machine actions: start/stop/restart/suspend, /wait, leases, metadata, cordon (docs/reference/fly-machines-api.md
§1.4-1.6)."""

from __future__ import annotations

from emulators.fly.api import ApiError, Request, Response, bad_request, field_of, precondition, route
from emulators.fly.routes_machines import new_lease
from emulators.fly.state import Machine
from emulators.fly.world import World

_WAIT_STATES = ("started", "stopped", "suspended", "destroyed", "settled")
_SETTLED = ("started", "stopped", "suspended", "destroyed", "failed", "created")


def start_machine(world: World, req: Request) -> Response:
    machine = _leased(world, req)
    previous = machine.state
    if previous in ("stopped", "suspended", "failed"):
        machine.go(world.clock.monotonic(), ["starting", "started"], world.settings.transition)
        machine.boot("user", world.clock.time())
    elif previous not in ("started", "starting"):
        # docs/reference/fly-machines-api.md §1.1: observed text for a start while the machine is still `created`.
        raise precondition(f"unable to start machine from current state: '{previous}'")
    return Response(200, {"previous_state": previous, "migrated": False, "new_host": ""})


def stop_machine(world: World, req: Request) -> Response:
    machine = _leased(world, req)
    req.optional_object()  # {signal, timeout}: accepted, not modelled
    if machine.state == "destroying":
        raise precondition("unable to stop machine from current state: 'destroying'")
    if machine.state not in ("stopped", "stopping"):
        # Stopping a suspended machine discards its snapshot (docs/reference/fly-machines-api.md §1.4): it ends
        # `stopped` too.
        machine.go(world.clock.monotonic(), ["stopping", "stopped"], world.settings.transition)
        machine.record("stop", "stopped", "user", world.clock.time())
    return Response(200, {"ok": True})


def restart_machine(world: World, req: Request) -> Response:
    machine = _leased(world, req)
    if machine.state != "started":
        raise precondition(f"unable to restart machine from current state: '{machine.state}'")
    machine.go(world.clock.monotonic(), ["restarting", "started"], world.settings.transition)
    machine.boot("user", world.clock.time(), kind="restart")
    return Response(200, {"ok": True})


def suspend_machine(world: World, req: Request) -> Response:
    machine = _leased(world, req)
    if machine.state != "started":
        raise precondition(f"unable to suspend machine from current state: '{machine.state}'")
    if machine.config["guest"]["memory_mb"] > 2048:
        raise precondition(f"machine {machine.id} has more than 2 GB of memory and cannot be suspended")
    machine.go(world.clock.monotonic(), ["suspending", "suspended"], world.settings.transition)
    machine.record("suspend", "suspended", "user", world.clock.time())
    return Response(200, {"ok": True})


def wait_machine(world: World, req: Request) -> Response:
    """docs/reference/fly-machines-api.md §1.6: block until the state is reached, else 408 after the clamped timeout."""
    app = world.app(req.params["app"]).name
    machine = world.state.machines.get(req.params["machine"])
    if machine is None or machine.app != app:
        raise ApiError(404, f"machine not found: {req.params['machine']} in app {app}", "not_found")
    wanted = req.query.get("state", "started").split(",")
    for state in wanted:
        if state not in _WAIT_STATES:
            raise bad_request(f"state: unsupported wait state {state!r}")
    raw_timeout = req.query.get("timeout", "60").removesuffix("s")
    try:
        timeout = float(raw_timeout)
    except ValueError:
        raise bad_request(f"timeout: not a number of seconds: {raw_timeout!r}") from None
    if not 1 <= timeout <= 60:
        raise bad_request(f"timeout: must be between 1 and 60 seconds, got {raw_timeout}")
    instance = req.query.get("instance_id") or req.query.get("version")
    deadline = world.clock.monotonic() + min(timeout, world.settings.wait_cap)
    while True:
        world.tick()
        current = _state_of(machine, instance)
        if current in wanted or ("settled" in wanted and current in _SETTLED):
            return Response(200, {"ok": True, "state": current})
        remaining = deadline - world.clock.monotonic()
        if remaining <= 0:
            raise ApiError(
                408,
                f"deadline_exceeded: machine failed to reach desired state, {','.join(wanted)}, currently {current}",
                "deadline_exceeded",
            )
        world.clock.wait(world.cond, remaining)


def _state_of(machine: Machine, instance: str | None) -> str:
    if instance and instance != machine.instance_id and machine.state != "destroyed":
        return "replaced" if instance in machine.past_instances else "unknown"
    return machine.state


def acquire_lease(world: World, req: Request) -> Response:
    machine = world.machine(req.params["app"], req.params["machine"])
    body = req.optional_object()
    ttl = field_of(body, "ttl", int)
    if ttl is None:
        try:
            ttl = int(req.query.get("ttl", "30"))
        except ValueError:
            raise bad_request(f"ttl: not an integer: {req.query['ttl']!r}") from None
    if ttl < 1:
        raise bad_request(f"ttl: must be at least 1 second, got {ttl}")
    # a held lease -> 409; with its nonce -> refresh (docs/reference/fly-machines-api.md §1.5)
    world.check_lease(machine, req)
    lease = machine.live_lease(world.clock.time())
    if lease is None:
        lease = machine.lease = new_lease(world, ttl, field_of(body, "description", str, ""))
    else:
        lease.expires_at = world.clock.time() + ttl
    return Response(200, {"status": "success", "data": lease.to_json()})


def get_lease(world: World, req: Request) -> Response:
    lease = world.machine(req.params["app"], req.params["machine"]).live_lease(world.clock.time())
    if lease is None:
        raise ApiError(404, "lease not found", "not_found")
    return Response(200, {"status": "success", "data": lease.to_json()})


def release_lease(world: World, req: Request) -> Response:
    machine = world.machine(req.params["app"], req.params["machine"])
    if machine.live_lease(world.clock.time()) is None:
        raise ApiError(404, "lease not found", "not_found")
    world.check_lease(machine, req)
    machine.lease = None
    return Response(200, {"ok": True})


def get_metadata(world: World, req: Request) -> Response:
    machine = world.machine(req.params["app"], req.params["machine"])
    return Response(200, dict(machine.config.get("metadata", {})))


def set_metadata(world: World, req: Request) -> Response:
    """Metadata writes are not lease-guarded (docs/reference/fly-machines-api.md §1.5)."""
    machine = world.machine(req.params["app"], req.params["machine"])
    value = field_of(req.json_object(), "value", str)
    if value is None:
        raise bad_request("value is required")
    machine.config.setdefault("metadata", {})[req.params["key"]] = value
    return Response(204)


def delete_metadata(world: World, req: Request) -> Response:
    machine = world.machine(req.params["app"], req.params["machine"])
    machine.config.get("metadata", {}).pop(req.params["key"], None)
    return Response(204)


def cordon(world: World, req: Request) -> Response:
    _leased(world, req).cordoned = True
    return Response(200, {"ok": True})


def uncordon(world: World, req: Request) -> Response:
    _leased(world, req).cordoned = False
    return Response(200, {"ok": True})


def _leased(world: World, req: Request) -> Machine:
    machine = world.machine(req.params["app"], req.params["machine"])
    world.check_lease(machine, req)
    return machine


_M = "/v1/apps/{app}/machines/{machine}"
ROUTES = [
    route("POST", _M + "/start", "machines.start", start_machine),
    route("POST", _M + "/stop", "machines.stop", stop_machine),
    route("POST", _M + "/restart", "machines.restart", restart_machine),
    route("POST", _M + "/suspend", "machines.suspend", suspend_machine),
    route("GET", _M + "/wait", "machines.wait", wait_machine),
    route("POST", _M + "/lease", "machines.lease", acquire_lease),
    route("GET", _M + "/lease", "machines.lease_get", get_lease),
    route("DELETE", _M + "/lease", "machines.lease_release", release_lease),
    route("GET", _M + "/metadata", "machines.metadata", get_metadata),
    route("POST", _M + "/metadata/{key}", "machines.metadata_set", set_metadata),
    route("DELETE", _M + "/metadata/{key}", "machines.metadata_delete", delete_metadata),
    route("POST", _M + "/cordon", "machines.cordon", cordon),
    route("POST", _M + "/uncordon", "machines.uncordon", uncordon),
]
