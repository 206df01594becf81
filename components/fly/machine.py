"""Fly machine: full config, created after its volume, waited on until started, updated under a lease.

Create is not idempotent on Fly: the machine carries a deterministic metadata tag, and after an ambiguous
failure (408, 5xx, dropped connection) we look it up by that tag before posting again, so there is never
a second machine. Runtime state (started/stopped/suspended by autostop) is never an output or a diff.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.fly import normalize as norm
from components.fly.client import TRANSIENT_STATUSES, FlyClient, open_client
from components.fly.common import (
    Deadline,
    FlyProvider,
    as_int,
    changed_keys,
    check_app_name,
    check_region,
    is_ambiguous,
    is_unknown,
)
from components.fly.errors import FlyError, FlyNotFoundError, FlyRequestError, FlyResourceError, FlyStatusError
from components.fly.settings import tunables

RUN_STATES = ("active", "stopped")
REPLACE_KEYS = ("app", "region", "name")
UPDATE_KEYS = ("config", "run_state", "min_secrets_version")
RUNNING = frozenset({"started", "starting", "created", "restarting", "updating", "replacing"})
GONE = frozenset({"destroyed", "destroying"})
LEASE_TTL_S = 120


# inputs
def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "app": str(props["app"]),
        "region": str(props["region"]),
        "name": str(props["name"]),
        "config": norm.normalize(props.get("config")),
        "run_state": str(props.get("run_state") or "active"),
        "min_secrets_version": as_int(props.get("min_secrets_version")),
    }


def create_key(app: str, name: str) -> str:
    """Deterministic per (app, machine name): what a retried create looks the machine up by."""
    return hashlib.sha256(f"{app}/{name}".encode()).hexdigest()[:24]


def _outs(inputs: dict[str, Any], machine: Mapping[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **inputs,
        "config": inputs["config"] if config is None else config,
        "machine_id": str(machine["id"]),
        "instance_id": str(machine.get("instance_id") or ""),
        "private_ip": str(machine.get("private_ip") or ""),
    }


def _path(app: str, machine_id: str = "", tail: str = "") -> str:
    return f"/v1/apps/{app}/machines" + (f"/{machine_id}" if machine_id else "") + tail


def _find(fly: FlyClient, app: str, key: str) -> dict[str, Any] | None:
    params = {f"metadata.{norm.CREATE_KEY}": key}
    machines = fly.call("GET", _path(app), action="list_machines", app=app, params=params) or []
    for machine in machines:  # filter here too: the query filter is a convenience, not a guarantee
        meta = (machine.get("config") or {}).get("metadata") or {}
        if meta.get(norm.CREATE_KEY) == key and machine.get("state") not in GONE:
            return dict(machine)
    return None


def _get(fly: FlyClient, app: str, machine_id: str) -> dict[str, Any] | None:
    try:
        machine = fly.call("GET", _path(app, machine_id), action="get_machine", app=app)
    except FlyNotFoundError:
        return None
    return None if machine.get("state") in GONE else dict(machine)


def wait_for(fly: FlyClient, app: str, machine_id: str, state: str, instance_id: str | None = None) -> None:
    """Loop on /wait (at most 60 s a call) under our own deadline; 408 means "not yet", keep waiting."""
    deadline = Deadline(tunables().wait_deadline_s, f"machine {machine_id} to be {state}")
    attempt = 0
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise FlyResourceError(
                f"machine {machine_id} of app {app} did not reach state {state!r} within {deadline.seconds:.0f}s"
            )
        timeout = max(1, min(60, int(remaining)))
        params: dict[str, str | int | bool] = {"state": state, "timeout": timeout}
        if instance_id:
            params["instance_id"] = instance_id
        try:
            response = fly.request(
                "GET",
                _path(app, machine_id, "/wait"),
                action="wait",
                app=app,
                params=params,
                retry=False,
                timeout=timeout + 15.0,
                expect=TRANSIENT_STATUSES | {404},
            )
        except FlyRequestError:
            response = None
        if response is not None and response.status_code == 404 and state == "destroyed":
            return
        if response is not None and response.status_code < 400:
            return
        if response is not None and response.status_code == 404:
            raise FlyResourceError(f"machine {machine_id} of app {app} vanished while waiting for {state!r}")
        if response is None or response.status_code != 408:
            deadline.sleep(fly.backoff(attempt))
            attempt += 1


def _acquire_lease(fly: FlyClient, app: str, machine_id: str) -> str:
    deadline = Deadline(tunables().wait_deadline_s, f"lease on machine {machine_id}")
    attempt = 0
    while True:
        response = fly.request(
            "POST",
            _path(app, machine_id, "/lease"),
            action="lease",
            app=app,
            json={"ttl": LEASE_TTL_S},
            params={"ttl": LEASE_TTL_S},
            retry=True,
            expect=frozenset({409}),
        )
        if response.status_code != 409:
            body = fly.decode(response) or {}
            nonce = (body.get("data") or {}).get("nonce") or body.get("nonce")
            if not nonce:
                raise FlyResourceError(f"lease on machine {machine_id} of app {app} came back without a nonce")
            return str(nonce)
        if deadline.passed():
            raise FlyResourceError(f"machine {machine_id} of app {app} is leased by someone else; try again later")
        deadline.sleep(fly.backoff(attempt) + 0.2)
        attempt += 1


def _release_lease(fly: FlyClient, app: str, machine_id: str, nonce: str) -> None:
    # Expired or already gone: the TTL frees it anyway. Never let this hide the update's own outcome.
    with contextlib.suppress(FlyError):
        fly.request(
            "DELETE",
            _path(app, machine_id, "/lease"),
            action="lease",
            app=app,
            headers={"fly-machine-lease-nonce": nonce},
        )


class MachineProvider(FlyProvider):
    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        check_app_name(news, "app", failures)
        check_region(news, "region", failures)
        name = news.get("name")
        if not is_unknown(name) and not (isinstance(name, str) and name):
            failures.append(CheckFailure("name", "name is required: the machine's name within its app"))
        config = news.get("config")
        if not is_unknown(config):
            if not isinstance(config, Mapping):
                failures.append(CheckFailure("config", "config must be a machine config map"))
            else:
                failures += _check_config(config)
        run_state = news.get("run_state", "active")
        if not is_unknown(run_state) and run_state not in RUN_STATES:
            failures.append(CheckFailure("run_state", f"run_state must be one of {RUN_STATES}, got {run_state!r}"))
        msv = news.get("min_secrets_version")
        whole = as_int(msv)
        if msv is not None and not is_unknown(msv) and (whole is None or whole < 0):
            failures.append(
                CheckFailure("min_secrets_version", f"min_secrets_version must be a whole number, got {msv!r}")
            )
        inputs = {k: news.get(k) for k in ("app", "region", "name", "config", "min_secrets_version")}
        inputs["run_state"] = run_state
        return CheckResult(inputs, failures)

    # diff
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed_keys(olds, news, REPLACE_KEYS)
        old_mounts = norm.normalize(olds.get("config")).get("mounts")
        new_config = news.get("config")
        if isinstance(new_config, Mapping):
            new_mounts = new_config.get("mounts")
            mounts_changed = is_unknown(new_mounts) or norm.plain(new_mounts) != old_mounts
        else:  # wholly unknown in preview: assume the worst
            mounts_changed = True
        if mounts_changed:
            replaces.append("config")
        changes = changed_keys(olds, news, UPDATE_KEYS, _diffable)
        # One volume, one machine: the old machine must let go of the volume before the new one mounts it.
        return DiffResult(changes=bool(replaces or changes), replaces=replaces, delete_before_replace=True)

    # create
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs(props)
        app, name, run_state = inputs["app"], inputs["name"], inputs["run_state"]
        key = create_key(app, name)
        config = norm.with_run_state(inputs["config"], run_state)
        config["metadata"] = {**dict(config.get("metadata") or {}), norm.CREATE_KEY: key}
        body: dict[str, Any] = {"name": name, "region": inputs["region"], "config": config}
        if run_state == "stopped":
            body["skip_launch"] = True
        if inputs["min_secrets_version"] is not None:
            body["min_secrets_version"] = inputs["min_secrets_version"]
        deadline = Deadline(tunables().create_deadline_s, f"machine {name} of app {app}")
        with open_client() as fly:
            machine = _find(fly, app, key)  # a create that failed after the fact in an earlier run
            attempt = 0
            while machine is None:
                try:
                    machine = fly.call("POST", _path(app), action="create_machine", app=app, json=body, retry=False)
                except FlyError as exc:
                    if not is_ambiguous(exc) or deadline.passed() or attempt >= tunables().retries:
                        raise
                    deadline.sleep(fly.backoff(attempt))
                    attempt += 1
                    machine = _find(fly, app, key)  # never post again before looking
            settled = "started" if run_state == "active" else "stopped"  # skip_launch settles in stopped
            wait_for(fly, app, str(machine["id"]), settled, str(machine.get("instance_id") or "") or None)
        return CreateResult(str(machine["id"]), _outs(inputs, machine))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props)
        with open_client() as fly:
            machine = _get(fly, inputs["app"], id_)
        if machine is None:
            return ReadResult("", {})
        seen = norm.view(machine.get("config"), inputs["config"], inputs["run_state"])
        config = inputs["config"] if seen == inputs["config"] else seen
        return ReadResult(id_, _outs(inputs, machine, config), inputs={**inputs, "config": config})

    # update
    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = _inputs(news)
        app, run_state = inputs["app"], inputs["run_state"]
        with open_client() as fly:
            nonce = _acquire_lease(fly, app, id_)
            lease = {"fly-machine-lease-nonce": nonce}
            try:
                fresh = _get(fly, app, id_)
                if fresh is None:
                    raise FlyResourceError(f"machine {id_} of app {app} is gone; run `pulumi refresh`")
                state = str(fresh.get("state"))
                if run_state == "stopped" and state in RUNNING:
                    fly.request("POST", _path(app, id_, "/stop"), action="stop", app=app, headers=lease, retry=True)
                    wait_for(fly, app, id_, "stopped", str(fresh.get("instance_id") or "") or None)
                    state = "stopped"
                # Launch only what should run now: a machine autostop put to sleep stays asleep (autostart
                # wakes it), one being reactivated from "stopped" starts.
                launch = run_state == "active" and (state in RUNNING or olds.get("run_state") == "stopped")
                config = norm.merge(
                    fresh.get("config") or {}, inputs["config"], run_state, create_key(app, inputs["name"])
                )
                body: dict[str, Any] = {"config": config, "skip_launch": not launch}
                if inputs["min_secrets_version"] is not None:
                    body["min_secrets_version"] = inputs["min_secrets_version"]
                machine = fly.call(
                    "POST", _path(app, id_), action="update_machine", app=app, json=body, headers=lease, retry=True
                )
                # Wait on the new version: started, or settled in stopped after skip_launch.
                settled = "started" if launch else "stopped"
                wait_for(fly, app, id_, settled, str(machine.get("instance_id") or "") or None)
            finally:
                _release_lease(fly, app, id_, nonce)
        return UpdateResult(_outs(inputs, machine))

    # delete
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        app = str(props["app"])
        with open_client() as fly:
            try:
                fly.request("DELETE", _path(app, id_), action="delete_machine", app=app, params={"force": True})
            except FlyNotFoundError:
                return
            except FlyStatusError as exc:
                if exc.status not in (409, 412):
                    raise
            # Wait for destroyed, so a replacement with the same name and volume does not race it.
            wait_for(fly, app, id_, "destroyed")


def _diffable(value: Any) -> Any:
    return norm.normalize(value) if isinstance(value, Mapping) else norm.plain(value)


def _check_config(config: Mapping[str, Any]) -> list[CheckFailure]:
    failures: list[CheckFailure] = []
    image = config.get("image")
    if not is_unknown(image) and not (isinstance(image, str) and image):
        failures.append(CheckFailure("config.image", "config.image is required: the pinned image reference"))
    unknown = sorted(set(config) - set(norm.MANAGED_KEYS))
    if unknown:
        failures.append(CheckFailure("config", f"config keys {unknown} are not managed; allowed: {norm.MANAGED_KEYS}"))
    mounts = config.get("mounts") or []
    if not is_unknown(mounts) and (not isinstance(mounts, list) or len(mounts) > 1):
        failures.append(CheckFailure("config.mounts", "config.mounts takes at most one {volume, path} entry"))
    for i, service in enumerate(config.get("services") or []):
        if is_unknown(service) or not isinstance(service, Mapping):
            continue
        autostop = service.get("autostop")
        if (
            autostop is not None
            and not is_unknown(autostop)
            and autostop not in ("stop", "off", "suspend", True, False)
        ):
            failures.append(
                CheckFailure(
                    f"config.services[{i}].autostop", f"autostop must be stop, off or suspend, got {autostop!r}"
                )
            )
        autostart = service.get("autostart")
        if autostart is not None and not is_unknown(autostart) and not isinstance(autostart, bool):
            failures.append(
                CheckFailure(f"config.services[{i}].autostart", f"autostart must be true or false, got {autostart!r}")
            )
    metadata = config.get("metadata") or {}
    if isinstance(metadata, Mapping) and norm.CREATE_KEY in metadata:
        failures.append(CheckFailure("config.metadata", f"metadata key {norm.CREATE_KEY} is reserved for the provider"))
    return failures


class Machine(Resource, module="fly", name="Machine"):
    """A Fly machine in `region` with the Tenant's config; run_state "active" or "stopped"."""

    machine_id: pulumi.Output[str]
    instance_id: pulumi.Output[str]
    private_ip: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        app: pulumi.Input[str],
        region: pulumi.Input[str],
        name: pulumi.Input[str],
        config: pulumi.Input[Mapping[str, Any]],
        run_state: pulumi.Input[str] = "active",
        min_secrets_version: pulumi.Input[int] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "app": app,
            "region": region,
            "name": name,
            "config": config,
            "run_state": run_state,
            "min_secrets_version": min_secrets_version,
            "machine_id": None,
            "instance_id": None,
            "private_ip": None,
        }
        super().__init__(MachineProvider(), resource_name, props, opts)
