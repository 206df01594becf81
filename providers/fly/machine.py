"""Fly machine: full config, created after its volume, waited on until started, updated under a lease.

Create is not idempotent on Fly: the machine carries a deterministic metadata tag, and after an ambiguous
failure (408, 5xx, dropped connection) we look it up by that tag before posting again, so there is never
a second machine. There is no look before the first POST: a machine's name is unique within its app, so
a machine an earlier run made makes Fly refuse the POST, and the refusal is what sends us looking.
Runtime state (started/stopped/suspended by autostop) is never an output or a diff.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from common.provider_inputs import as_int, is_unknown
from providers.fly import endpoints
from providers.fly import normalize as norm
from providers.fly.client import FlyClient, open_client
from providers.fly.common import FlyProvider, changed_keys, check_app_name, check_region
from providers.fly.converge import BUSY_STATUSES, create_or_adopt, delete_until_gone
from providers.fly.errors import FlyError, FlyRequestError, FlyResourceError
from providers.fly.settings import tunables
from providers.fly.states import MACHINE_GONE, MACHINE_RUNNING_OR_LAUNCHING, settled_machine_state

RUN_STATES = ("active", "stopped")
REPLACE_KEYS = ("app", "region", "name")
UPDATE_KEYS = ("config", "run_state", "min_secrets_version")
LEASE_TTL_S = 120
# Refusals that may mean "an earlier run made this machine": its name is taken (Fly documents names as
# unique within the app, not the status of a repeat; TF #143 saw 422) or its volume is still bound to that
# machine (412/422), answered as a conflict or a validation error. Each costs one look, and only then.
HELD_STATUSES = frozenset({400, 409, 412, 422})


# inputs
def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "app": str(props["app"]),
        "region": str(props["region"]),
        "name": str(props["name"]),
        "config": norm.normalize(props.get("config")),
        "run_state": str(props.get("run_state") or "active"),
        "min_secrets_version": as_int(props.get("min_secrets_version")),
        "await_checks": props.get("await_checks") is True,
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


def _find(fly: FlyClient, app: str, key: str) -> dict[str, Any] | None:
    for machine in endpoints.list_machines(fly, app, metadata={norm.CREATE_KEY: key}):
        # Filter here too: the query filter is a convenience, not a guarantee.
        meta = (machine.get("config") or {}).get("metadata") or {}
        if meta.get(norm.CREATE_KEY) == key and machine.get("state") not in MACHINE_GONE:
            return machine
    return None


def _get(fly: FlyClient, app: str, machine_id: str) -> dict[str, Any] | None:
    machine = endpoints.get_machine(fly, app, machine_id)
    return None if machine is None or machine.get("state") in MACHINE_GONE else machine


def wait_for(fly: FlyClient, app: str, machine_id: str, state: str, instance_id: str | None = None) -> None:
    """Loop on /wait (at most 60 s a call) under our own deadline; 408 means "not yet", keep waiting."""
    deadline = fly.deadline(tunables().wait_deadline_s, f"machine {machine_id} to be {state}")
    attempt = 0
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise FlyResourceError(
                f"machine {machine_id} of app {app} did not reach state {state!r} within {deadline.seconds:.0f}s"
            )
        timeout = max(1, min(60, int(remaining)))
        try:
            status: int | None = endpoints.wait_machine(fly, app, machine_id, state, timeout, instance_id).status_code
        except FlyRequestError:
            status = None
        if status == 404 and state == "destroyed":
            return
        if status is not None and status < 400:
            return
        if status == 404:
            raise FlyResourceError(f"machine {machine_id} of app {app} vanished while waiting for {state!r}")
        if status != 408:  # no answer or a server fault: back off; 408 is Fly's own "not yet"
            deadline.sleep(fly.backoff(attempt))
            attempt += 1


def wait_for_checks(fly: FlyClient, app: str, machine_id: str) -> None:
    """After a start: poll until every configured check passes, so a rolling update goes one healthy
    machine at a time (the edge). A check that fails past the deadline fails the update, naming it."""
    deadline = fly.deadline(tunables().wait_deadline_s, f"checks of machine {machine_id}")
    attempt = 0
    while True:
        machine = _get(fly, app, machine_id)
        if machine is None:
            raise FlyResourceError(f"machine {machine_id} of app {app} vanished while waiting for its checks")
        failing = [
            f"{check.get('name')}={check.get('status')}"
            for check in machine.get("checks") or []
            if isinstance(check, Mapping) and check.get("status") != "passing"
        ]
        if not failing:
            return
        if deadline.passed():
            raise FlyResourceError(
                f"machine {machine_id} of app {app} started but its checks did not pass within "
                f"{deadline.seconds:.0f}s: {', '.join(failing)}"
            )
        deadline.sleep(min(2.0, fly.backoff(attempt) + 0.2))
        attempt += 1


def _acquire_lease(fly: FlyClient, app: str, machine_id: str) -> str:
    deadline = fly.deadline(tunables().wait_deadline_s, f"lease on machine {machine_id}")
    attempt = 0
    while True:
        body = endpoints.acquire_lease(fly, app, machine_id, LEASE_TTL_S)
        if body is not None:
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
        endpoints.release_lease(fly, app, machine_id, nonce)


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
        await_checks = news.get("await_checks", False)
        if not is_unknown(await_checks) and not isinstance(await_checks, bool):
            failures.append(CheckFailure("await_checks", f"await_checks must be true or false, got {await_checks!r}"))
        inputs = {k: news.get(k) for k in ("app", "region", "name", "config", "min_secrets_version")}
        inputs["run_state"] = run_state
        inputs["await_checks"] = await_checks
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
        with open_client() as fly:
            # Posted first: one an earlier run made holds the name, so Fly refuses this POST and we adopt it.
            machine = create_or_adopt(
                lambda: _find(fly, app, key),
                lambda: endpoints.create_machine(fly, app, body),
                deadline=fly.deadline(tunables().create_deadline_s, f"machine {name} of app {app}"),
                retries=tunables().retries,
                backoff=fly.backoff,
                look_first=False,
                exists=HELD_STATUSES,
            )
            settled = settled_machine_state(run_state == "active")
            wait_for(fly, app, str(machine["id"]), settled, str(machine.get("instance_id") or "") or None)
            if inputs["await_checks"] and run_state == "active":
                wait_for_checks(fly, app, str(machine["id"]))
        return CreateResult(str(machine["id"]), _outs(inputs, machine))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props)
        with open_client() as fly:
            machine = _get(fly, inputs["app"], id_)
        if machine is None:
            return ReadResult("", {})
        seen = norm.view(machine.get("config"), inputs["config"], inputs["run_state"])
        config = inputs["config"] if norm.content(seen) == norm.content(inputs["config"]) else seen
        return ReadResult(id_, _outs(inputs, machine, config), inputs={**inputs, "config": config})

    # update
    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = _inputs(news)
        app, run_state = inputs["app"], inputs["run_state"]
        with open_client() as fly:
            nonce = _acquire_lease(fly, app, id_)
            try:
                fresh = _get(fly, app, id_)
                if fresh is None:
                    raise FlyResourceError(f"machine {id_} of app {app} is gone; run `pulumi refresh`")
                state = str(fresh.get("state"))
                if run_state == "stopped" and state in MACHINE_RUNNING_OR_LAUNCHING:
                    endpoints.stop_machine(fly, app, id_, nonce)
                    wait_for(fly, app, id_, "stopped", str(fresh.get("instance_id") or "") or None)
                    state = "stopped"
                # Launch only what should run now: a machine autostop put to sleep stays asleep (autostart
                # wakes it), one being reactivated from "stopped" starts.
                launch = run_state == "active" and (
                    state in MACHINE_RUNNING_OR_LAUNCHING or olds.get("run_state") == "stopped"
                )
                config = norm.merge(
                    fresh.get("config") or {}, inputs["config"], run_state, create_key(app, inputs["name"])
                )
                body: dict[str, Any] = {"config": config, "skip_launch": not launch}
                if inputs["min_secrets_version"] is not None:
                    body["min_secrets_version"] = inputs["min_secrets_version"]
                machine = endpoints.update_machine(fly, app, id_, body, nonce)
                # Wait on the new version: started, or settled in stopped after skip_launch.
                wait_for(fly, app, id_, settled_machine_state(launch), str(machine.get("instance_id") or "") or None)
                if inputs["await_checks"] and launch:
                    wait_for_checks(fly, app, id_)
            finally:
                _release_lease(fly, app, id_, nonce)
        return UpdateResult(_outs(inputs, machine))

    # delete
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        app = str(props["app"])
        with open_client() as fly:
            # 409/412: already on its way out. Either way, wait for destroyed, so a replacement with the
            # same name and volume does not race it.
            if delete_until_gone(lambda: endpoints.delete_machine(fly, app, id_), busy=BUSY_STATUSES):
                wait_for(fly, app, id_, "destroyed")


def _diffable(value: Any) -> Any:
    return norm.content(value) if isinstance(value, Mapping) else norm.plain(value)


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
    """A Fly machine in `region` with the given config; run_state "active" or "stopped".

    `await_checks`: a create or update that starts the machine also waits for its checks to pass.
    """

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
        await_checks: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "await_checks": await_checks,
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
