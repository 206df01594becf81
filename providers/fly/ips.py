"""Public IPs of a Fly app: a dedicated anycast `v6` and a free `shared_v4` (API-created apps get none)."""

from __future__ import annotations

import functools
from typing import Any

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from providers.fly import endpoints
from providers.fly.client import FlyClient, open_client
from providers.fly.common import FlyProvider, changed_keys, check_app_name
from providers.fly.converge import create_or_adopt, delete_until_gone
from providers.fly.deadline import Deadline
from providers.fly.errors import FlyNotFoundError, FlyResourceError
from providers.fly.settings import tunables

KINDS = ("v6", "shared_v4")


# inputs
def _kind(entry: dict[str, Any]) -> str | None:
    ip = str(entry.get("ip") or "")
    if ":" in ip and not entry.get("shared") and entry.get("type", "v6") != "private_v6":
        return "v6"
    if "." in ip and entry.get("shared"):
        return "shared_v4"
    return None


def _list(fly: FlyClient, app: str) -> dict[str, str] | None:
    """{kind: ip} for the kinds we manage; None when the app is gone."""
    try:
        entries = endpoints.list_ips(fly, app)
    except FlyNotFoundError:
        return None
    found: dict[str, str] = {}
    for entry in entries:
        kind = _kind(entry)
        if kind and kind not in found:
            found[kind] = str(entry["ip"])
    return found


def _listed(fly: FlyClient, app: str) -> dict[str, str]:
    found = _list(fly, app)
    if found is None:
        raise FlyResourceError(f"cannot allocate IPs: Fly app {app!r} does not exist")
    return found


def _ensure(fly: FlyClient, app: str) -> dict[str, str]:
    """Allocate whichever of v6/shared_v4 is missing; after an ambiguous failure list again, never post blind."""
    deadline = fly.deadline(tunables().create_deadline_s, f"IPs of app {app}")
    found = _listed(fly, app)
    for kind in KINDS:
        if kind not in found:
            found[kind] = _allocate(fly, app, kind, deadline)
    return found


def _allocate(fly: FlyClient, app: str, kind: str, deadline: Deadline) -> str:
    def find() -> str | None:
        return _listed(fly, app).get(kind)

    def create() -> str:
        return str(endpoints.allocate_ip(fly, app, kind)["ip"])

    return create_or_adopt(
        find, create, deadline=deadline, retries=tunables().retries, backoff=fly.backoff, look_first=False
    )


def _outs(app: str, found: dict[str, str]) -> dict[str, Any]:
    return {"app": app, "v6": found.get("v6", ""), "shared_v4": found.get("shared_v4", "")}


class IpsProvider(FlyProvider):
    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[Any] = []
        check_app_name(news, "app", failures)
        return CheckResult({"app": news.get("app")}, failures)

    # diff
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed_keys(olds, news, ("app",))
        # An address released out of band (refresh left it empty) is re-allocated by an update.
        missing = [kind for kind in KINDS if not olds.get(kind)]
        return DiffResult(changes=bool(replaces or missing), replaces=replaces)

    # create
    def create(self, props: dict[str, Any]) -> CreateResult:
        app = str(props["app"])
        with open_client() as fly:
            found = _ensure(fly, app)
        return CreateResult(app, _outs(app, found))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        app = str(props.get("app") or id_)
        with open_client() as fly:
            found = _list(fly, app)
        if not found:
            return ReadResult("", {})
        return ReadResult(id_, _outs(app, found), inputs={"app": app})

    # update
    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        app = str(news["app"])
        with open_client() as fly:
            found = _ensure(fly, app)
        return UpdateResult(_outs(app, found))

    # delete
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        app = str(props.get("app") or id_)
        with open_client() as fly:
            for ip in (props.get(kind) for kind in KINDS):
                if ip:
                    delete_until_gone(functools.partial(endpoints.release_ip, fly, app, str(ip)))


class Ips(Resource, module="fly", name="Ips"):
    """The app's `v6` and `shared_v4` addresses."""

    app: pulumi.Output[str]
    v6: pulumi.Output[str]
    shared_v4: pulumi.Output[str]

    def __init__(
        self, resource_name: str, *, app: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(IpsProvider(), resource_name, {"app": app, "v6": None, "shared_v4": None}, opts)
