"""Fly volume: extend-only. A bigger size extends in place; a smaller one keeps the volume and says so.

Name, region and encryption cannot change on Fly: a change is reported as a replace, and Pulumi's own
`protect` (set by the Tenant) decides whether that may happen.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from common.provider_inputs import as_int, is_unknown
from providers.fly import endpoints
from providers.fly.client import FlyClient, open_client
from providers.fly.common import FlyProvider, changed_keys, check_app_name, check_region
from providers.fly.converge import BUSY_STATUSES, create_or_adopt, delete_until_gone
from providers.fly.errors import FlyResourceError
from providers.fly.machine import wait_for
from providers.fly.settings import tunables
from providers.fly.states import VOLUME_GONE

VOLUME_NAME_RE = re.compile(r"[a-z0-9_]{1,30}")  # whole string: fullmatch
MAX_SIZE_GB = 500
REPLACE_KEYS = ("app", "name", "region", "encrypted")


# inputs
def _inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "app": str(props["app"]),
        "name": str(props["name"]),
        "region": str(props["region"]),
        "size_gb": as_int(props.get("size_gb")) or 0,
        "encrypted": bool(props.get("encrypted", True)),
    }


def _outs(inputs: dict[str, Any], volume: dict[str, Any], requested: int) -> dict[str, Any]:
    size = as_int(volume.get("size_gb")) or 0
    return {
        **inputs,
        "size_gb": size,
        "requested_size_gb": requested,
        "kept_larger": size > requested,
        "volume_id": str(volume["id"]),
    }


def _find(fly: FlyClient, app: str, name: str, region: str) -> dict[str, Any] | None:
    """A live volume of ours with this name in this region (adopted after an ambiguous create)."""
    for volume in endpoints.list_volumes(fly, app):
        if volume.get("name") == name and volume.get("region") == region and volume.get("state") not in VOLUME_GONE:
            return volume
    return None


def _get(fly: FlyClient, app: str, volume_id: str) -> dict[str, Any] | None:
    volume = endpoints.get_volume(fly, app, volume_id)
    return None if volume is None or volume.get("state") in VOLUME_GONE else volume


def _warn_kept(inputs: dict[str, Any], size: int) -> None:
    pulumi.log.warn(
        f"volume {inputs['name']} of app {inputs['app']}: kept at {size} GB; volumes never shrink, "
        f"so the requested {inputs['size_gb']} GB was not applied"
    )


class VolumeProvider(FlyProvider):
    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        check_app_name(news, "app", failures)
        check_region(news, "region", failures)
        name = news.get("name")
        if not is_unknown(name) and not (isinstance(name, str) and VOLUME_NAME_RE.fullmatch(name)):
            failures.append(CheckFailure("name", f"name must be 1-30 of a-z, 0-9 and '_', got {name!r}"))
        size = news.get("size_gb")
        whole = as_int(size)
        if not is_unknown(size) and not (whole is not None and 1 <= whole <= MAX_SIZE_GB):
            failures.append(
                CheckFailure("size_gb", f"size_gb must be a whole number of GB in 1-{MAX_SIZE_GB}, got {size!r}")
            )
        encrypted = news.get("encrypted", True)
        if not is_unknown(encrypted) and not isinstance(encrypted, bool):
            failures.append(CheckFailure("encrypted", f"encrypted must be true or false, got {encrypted!r}"))
        inputs = {k: news.get(k) for k in ("app", "name", "region", "size_gb")}
        inputs["encrypted"] = encrypted
        if whole is not None:
            inputs["size_gb"] = whole
        return CheckResult(inputs, failures)

    # diff
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed_keys(olds, news, REPLACE_KEYS)
        # Compare with what was asked last time: a request below the real size is an update that only
        # records "kept larger", and once recorded it is no change.
        size = news.get("size_gb")
        resized = is_unknown(size) or as_int(size) != as_int(olds.get("requested_size_gb", olds.get("size_gb")))
        return DiffResult(changes=bool(replaces) or resized, replaces=replaces)

    # create
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs(props)
        app = inputs["app"]
        body = {k: inputs[k] for k in ("name", "region", "size_gb", "encrypted")}
        with open_client() as fly:
            volume = create_or_adopt(
                lambda: _find(fly, app, inputs["name"], inputs["region"]),
                lambda: endpoints.create_volume(fly, app, body),
                deadline=fly.deadline(tunables().create_deadline_s, f"volume {inputs['name']} of app {app}"),
                retries=tunables().retries,
                backoff=fly.backoff,
            )
        return CreateResult(str(volume["id"]), _outs(inputs, volume, inputs["size_gb"]))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props)
        requested = as_int(props.get("requested_size_gb")) or inputs["size_gb"]
        with open_client() as fly:
            volume = _get(fly, inputs["app"], id_)
        if volume is None:
            return ReadResult("", {})
        outs = _outs(inputs, volume, requested)
        return ReadResult(id_, outs, inputs={**inputs, "size_gb": requested})

    # update
    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = _inputs(news)
        app, wanted = inputs["app"], inputs["size_gb"]
        with open_client() as fly:
            volume = _get(fly, app, id_)
            if volume is None:
                raise FlyResourceError(f"volume {inputs['name']} ({id_}) of app {app} is gone; run `pulumi refresh`")
            size = as_int(volume.get("size_gb")) or 0
            if wanted > size:
                volume = self._extend(fly, app, id_, wanted)
            elif wanted < size:
                _warn_kept(inputs, size)
        return UpdateResult(_outs(inputs, volume, wanted))

    @staticmethod
    def _extend(fly: FlyClient, app: str, volume_id: str, size_gb: int) -> dict[str, Any]:
        """Extend in place (PUT: repeatable); restart the machine only when Fly says it needs one."""
        body = endpoints.extend_volume(fly, app, volume_id, size_gb)
        volume = dict(body.get("volume") or body)
        machine_id = volume.get("attached_machine_id")
        if body.get("needs_restart") and machine_id:
            machine = endpoints.get_machine(fly, app, str(machine_id))
            # A stopped machine sees the new size on its next boot; a machine gone meanwhile needs nothing.
            if machine is not None and machine.get("state") == "started":
                endpoints.restart_machine(fly, app, str(machine_id))
                wait_for(fly, app, str(machine_id), "started")
        return volume

    # delete
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        app = str(props["app"])
        with open_client() as fly:
            # Still bound to a machine destroyed moments ago: Fly lets go within about a minute.
            delete_until_gone(
                lambda: endpoints.delete_volume(fly, app, id_),
                busy=BUSY_STATUSES,
                deadline=fly.deadline(tunables().delete_deadline_s, f"volume {id_} of app {app} to unbind"),
                pause=lambda attempt: min(2.0, fly.backoff(attempt) + 0.1),
            )


class Volume(Resource, module="fly", name="Volume"):
    """A Fly volume; `size_gb` is its real size, never below what exists."""

    volume_id: pulumi.Output[str]
    size_gb: pulumi.Output[int]
    requested_size_gb: pulumi.Output[int]
    kept_larger: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        app: pulumi.Input[str],
        name: pulumi.Input[str],
        region: pulumi.Input[str],
        size_gb: pulumi.Input[int],
        encrypted: pulumi.Input[bool] = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "app": app,
            "name": name,
            "region": region,
            "size_gb": size_gb,
            "encrypted": encrypted,
            "volume_id": None,
            "requested_size_gb": None,
            "kept_larger": None,
        }
        super().__init__(VolumeProvider(), resource_name, props, opts)
