"""Machines: list, create, get, update (full config replace), delete (docs/reference/fly-machines-api.md §1.4)."""

from __future__ import annotations

from secrets import token_hex
from typing import Any

from emulators.fly.api import ApiError, Request, Response, bad_request, field_of, precondition, route
from emulators.fly.machine_config import image_ref, normalise_config
from emulators.fly.state import App, Lease, Machine, iso, new_instance_id, new_machine_id
from emulators.fly.world import DEFAULT_REGION, World

_WORDS = ("quiet", "bold", "misty", "lively", "royal", "still", "sun", "river", "leaf", "stone")
_RUNNING = ("started", "starting", "restarting", "updating", "stopping", "suspending")


def list_machines(world: World, req: Request) -> Response:
    app = world.app(req.params["app"]).name
    machines = world.state.machines_of(app, include_deleted=req.flag("include_deleted"))
    if "region" in req.query:
        machines = [m for m in machines if m.region == req.query["region"]]
    if req.query.get("state"):
        wanted = set(req.query["state"].split(","))
        machines = [m for m in machines if m.state in wanted]
    for key, value in req.query.items():
        if key.startswith("metadata."):
            name = key.removeprefix("metadata.")
            machines = [m for m in machines if m.config.get("metadata", {}).get(name) == value]
    return Response(200, [m.to_json() for m in machines])


def create_machine(world: World, req: Request) -> Response:
    body = req.json_object()
    app = world.app(req.params["app"])
    config = normalise_config(body.get("config"))
    region = field_of(body, "region", str, DEFAULT_REGION)
    name = field_of(body, "name", str) or f"{_WORDS[int(token_hex(1), 16) % 10]}-{token_hex(3)}"
    skip_launch = field_of(body, "skip_launch", bool, False)
    lease_ttl = field_of(body, "lease_ttl", int)
    _check_secrets_version(app, body)
    holder = next((m for m in world.state.machines_of(app.name) if m.name == name), None)
    if holder is not None:
        # docs/reference/fly-machines-api.md §3.3 (TF #143): the name stays taken until the old machine reaches
        # `destroyed`.
        raise ApiError(422, f"machine name {name!r} is already in use by machine {holder.id} in app {app.name}")
    machine_id = new_machine_id()
    _bind_mount(world, app, region, config, machine_id)
    now = world.clock.monotonic()
    machine = Machine(
        id=machine_id,
        app=app.name,
        name=name,
        region=region,
        config=config,
        image_ref=image_ref(config["image"]),
        instance_id=new_instance_id(),
        private_ip=f"fdaa:0:{token_hex(2)}:a7b:{token_hex(2)}:{token_hex(2)}:{token_hex(2)}:2",
        state="created",
        created_at=iso(world.clock.time()),
        updated_at=iso(world.clock.time()),
    )
    # skip_launch: the machine settles in `stopped` (docs/reference/fly-machines-api.md §7 leaves created/stopped
    # open; we chose
    # stopped so that /wait?state=stopped and /start both work on it).
    steps = ["created", "stopped"] if skip_launch else ["created", "starting", "started"]
    machine.go(now, steps, world.settings.transition)
    machine.record("launch", "created", "user", world.clock.time())
    if not skip_launch:
        machine.boot("flyd", world.clock.time())
    out = machine.to_json()
    if lease_ttl is not None:
        machine.lease = new_lease(world, lease_ttl, "created with lease_ttl")
        out["nonce"] = machine.lease.nonce
    world.state.machines[machine.id] = machine
    return Response(200, out)


def get_machine(world: World, req: Request) -> Response:
    return Response(200, world.machine(req.params["app"], req.params["machine"]).to_json())


def update_machine(world: World, req: Request) -> Response:
    app = world.app(req.params["app"])
    machine = world.machine(app.name, req.params["machine"])
    world.check_lease(machine, req)
    body = req.json_object()
    for key, current in (("region", machine.region), ("name", machine.name)):
        if key in body and body[key] not in (None, "", current):
            raise bad_request(f"{key} is immutable: machine {machine.id} has {key} {current!r}")
    version = field_of(body, "current_version", str)
    if version is not None and version != machine.instance_id:
        # docs/reference/fly-machines-api.md (§1.4) leaves the mismatch status undocumented; we answer 412.
        raise precondition(f"machine {machine.id} is at version {machine.instance_id}, not {version}")
    config = normalise_config(body.get("config"))
    skip_launch = field_of(body, "skip_launch", bool, False)
    _check_secrets_version(app, body)
    if machine.state in ("destroying", "replacing"):
        raise precondition(f"unable to update machine from current state: '{machine.state}'")
    old_mounts = machine.config.get("mounts")
    if old_mounts:
        # docs/reference/fly-machines-api.md §5 (flyctl #1758): changing mounts[].volume on update "succeeds" but
        # does nothing.
        new_mounts = config.get("mounts") or [dict(old_mounts[0])]
        new_mounts[0]["volume"] = old_mounts[0]["volume"]
        config["mounts"] = new_mounts
    else:
        _bind_mount(world, app, machine.region, config, machine.id)
    machine.past_instances.append(machine.instance_id)
    machine.instance_id = new_instance_id()
    machine.config = config
    machine.image_ref = image_ref(config["image"])
    machine.updated_at = iso(world.clock.time())
    # A running machine restarts; a stopped one boots unless skip_launch (then it ends `stopped`).
    steps = ["updating", "stopped"] if skip_launch else ["updating", "starting", "started"]
    machine.go(world.clock.monotonic(), steps, world.settings.transition)
    machine.record("update", steps[-1], "user", world.clock.time())
    if not skip_launch:
        machine.boot("flyd", world.clock.time())
    return Response(200, machine.to_json())


def delete_machine(world: World, req: Request) -> Response:
    machine = world.machine(req.params["app"], req.params["machine"])
    world.check_lease(machine, req)
    force = req.flag("force") or req.flag("kill")
    if machine.state in _RUNNING and not force:
        raise precondition(
            f"unable to destroy machine {machine.id}, not currently stopped or suspended "
            f"(state '{machine.state}'); use force=true"
        )
    if machine.state != "destroying":
        machine.go(world.clock.monotonic(), ["destroying", "destroyed"], world.settings.transition)
        machine.record("destroy", "destroyed", "user", world.clock.time())
    return Response(200, {"ok": True})


def _check_secrets_version(app: App, body: dict[str, Any]) -> None:
    wanted = field_of(body, "min_secrets_version", int)
    if wanted is not None and wanted > app.secrets_version:
        raise bad_request(
            f"min_secrets_version {wanted} is newer than app {app.name}'s secrets version {app.secrets_version}"
        )


def _bind_mount(world: World, app: App, region: str, config: dict[str, Any], machine_id: str) -> None:
    """A mount must name an unbound volume of the same app and region (docs/reference/fly-machines-api.md §1.3)."""
    mounts = config.get("mounts")
    if not mounts:
        return
    volume_id = mounts[0]["volume"]
    volume = world.state.volumes.get(volume_id)
    if volume is None or volume.app != app.name or volume.state in ("pending_destroy", "destroyed"):
        raise bad_request(f"config.mounts[0].volume: volume {volume_id} not found in app {app.name}")
    if volume.region != region:
        raise bad_request(
            f"config.mounts[0].volume: volume {volume_id} is in region {volume.region}, machine is in {region}"
        )
    if volume.attached_machine_id not in (None, machine_id):
        raise ApiError(
            422,
            f"config.mounts[0].volume: volume {volume_id} is currently bound to machine: {volume.attached_machine_id}",
        )
    volume.attached_machine_id = machine_id
    mounts[0].setdefault("name", volume.name)


def new_lease(world: World, ttl: int, description: str) -> Lease:
    return Lease(
        nonce=token_hex(12),
        owner=world.settings.lease_owner,
        description=description,
        expires_at=world.clock.time() + ttl,
        version=new_instance_id(),
    )


ROUTES = [
    route("GET", "/v1/apps/{app}/machines", "machines.list", list_machines),
    route("POST", "/v1/apps/{app}/machines", "machines.create", create_machine),
    route("GET", "/v1/apps/{app}/machines/{machine}", "machines.get", get_machine, rate=(5.0, 10)),
    route("POST", "/v1/apps/{app}/machines/{machine}", "machines.update", update_machine),
    route("DELETE", "/v1/apps/{app}/machines/{machine}", "machines.delete", delete_machine),
]
