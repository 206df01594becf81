"""Fly app: created in the configured org on its own private network; adopted when it is already ours."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from providers.fly import endpoints
from providers.fly.client import FlyClient, open_client
from providers.fly.common import FlyProvider, changed_keys, check_app_name, require_str
from providers.fly.converge import delete_until_gone
from providers.fly.deadline import backoff_delays
from providers.fly.errors import FlyResourceError, FlyStatusError
from providers.fly.settings import tunables

INPUT_KEYS = ("name", "org")


# inputs
def _inputs(props: dict[str, Any]) -> tuple[str, str]:
    return str(props["name"]), str(props["org"])


def _outs(name: str, org: str, app: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "org": org, "network": app.get("network") or name, "app_id": str(app.get("id") or "")}


def _get_app(fly: FlyClient, name: str, org: str) -> dict[str, Any] | None:
    """The app if it is ours, None if the name is free; an error if another org holds it."""
    try:
        app = endpoints.get_app(fly, name)
    except FlyStatusError as exc:
        if exc.status != 403:
            raise
        held = f"Fly app name {name!r} is held by another organization; choose another app name"
        raise FlyResourceError(held) from None
    if app is None:
        return None
    slug = (app.get("organization") or {}).get("slug")
    if slug and slug != org:
        raise FlyResourceError(f"Fly app {name!r} exists in org {slug!r}, not in the configured org {org!r}")
    return app


def _wait_visible(fly: FlyClient, name: str, org: str) -> dict[str, Any]:
    """Poll GET until the app shows, treating 404 as not yet (fly-go WaitForApp).

    The create's `?wait=true` answer comes once the app has propagated, so the first GET normally sees it;
    Fly's own CLI still polls after every create, and so do we (docs/reference/fly-machines-api.md §1.2).
    """
    deadline = fly.deadline(tunables().app_visible_deadline_s, f"app {name} to become visible")
    for delay in backoff_delays(0.1, 0.5):
        app = _get_app(fly, name, org)
        if app is not None:
            return app
        if deadline.passed():
            raise FlyResourceError(f"Fly app {name!r} was created but is not visible after {deadline.seconds:.0f}s")
        deadline.sleep(delay)
    raise AssertionError("unreachable")


class AppProvider(FlyProvider):
    # check
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[Any] = []
        check_app_name(news, "name", failures)
        require_str(news, "org", failures, "the Fly organization slug")
        return CheckResult({k: news.get(k) for k in INPUT_KEYS}, failures)

    # diff
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = changed_keys(olds, news, INPUT_KEYS)
        return DiffResult(changes=bool(changes), replaces=changes, delete_before_replace=True)

    # create
    def create(self, props: dict[str, Any]) -> CreateResult:
        name, org = _inputs(props)
        with open_client() as fly:
            # Posted without a look first: names are unique across Fly, so the POST's own answer says whether
            # the name was free. "Name taken" (an earlier run's app, a repeat after a lost answer, or another
            # org's) is settled by the GET below: adopted when ours, a clear error when not.
            try:
                endpoints.create_app(fly, name, org, network=name)
            except FlyStatusError as exc:
                if exc.status not in (409, 422):
                    raise
            app = _wait_visible(fly, name, org)
        return CreateResult(name, _outs(name, org, app))

    # read
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        name, org = _inputs(props)
        with open_client() as fly:
            app = _get_app(fly, id_ or name, org)
        if app is None:
            return ReadResult("", {})
        return ReadResult(id_, _outs(name, org, app), inputs={"name": name, "org": org})

    # update
    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # name and org replace; nothing else is managed, so an update only re-reads.
        name, org = _inputs(news)
        with open_client() as fly:
            app = _get_app(fly, id_, org)
        if app is None:
            raise FlyResourceError(f"Fly app {id_!r} is gone; run `pulumi refresh` to drop it from the state")
        return UpdateResult(_outs(name, org, app))

    # delete
    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with open_client() as fly:
            delete_until_gone(lambda: endpoints.delete_app(fly, id_))


class App(Resource, module="fly", name="App"):
    """A Fly app in `org` with its own private network."""

    name: pulumi.Output[str]
    org: pulumi.Output[str]
    network: pulumi.Output[str]
    app_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        name: pulumi.Input[str],
        org: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"name": name, "org": org, "network": None, "app_id": None}
        super().__init__(AppProvider(), resource_name, props, opts)
