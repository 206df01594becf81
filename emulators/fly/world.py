"""The emulator's shared world: settings, the state model and the one lock that guards it."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from emulators.clock import Clock
from emulators.fly.api import ApiError, Request
from emulators.fly.state import App, FlyState, Machine, Volume

DEFAULT_REGION = "iad"


@dataclass(frozen=True)
class Settings:
    token: str
    org: str
    foreign_apps: frozenset[str]
    app_visible_after: float
    volume_unbind_after: float
    wait_cap: float
    transition: float
    rate_limit: bool
    org_limits: Mapping[str, tuple[float, int]]  # action -> (requests per second, burst), org-wide

    @property
    def lease_owner(self) -> str:
        return f"emulator@{self.org}.fly"


@dataclass
class OrgSettings:
    """Organization settings an org admin changes in Fly's dashboard or flyctl; the Machines REST API has no
    endpoint for them, so tests set them with FlyEmulator.set_org_setting."""

    # `fly orgs cross-network-replays enable`: fly-replay `app=` may cross private networks. Off by default, as on Fly.
    cross_network_replay: bool = False


class World:
    """Handlers run with `cond` held; /wait releases it while it blocks."""

    def __init__(self, settings: Settings, clock: Clock, org_settings: OrgSettings | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.org_settings = org_settings or OrgSettings()
        self.state = FlyState()
        self.cond = threading.Condition(threading.RLock())

    def tick(self) -> None:
        self.state.tick(self.clock.monotonic(), self.settings.volume_unbind_after)

    def app(self, name: str, *, visible_only: bool = False) -> App:
        """The app, or 403 (another org holds the name) / 404 (docs/reference/fly-machines-api.md §1.1)."""
        if name in self.settings.foreign_apps:
            raise ApiError(403, f"unauthorized: app {name} belongs to an organization you cannot access")
        app = self.state.apps.get(name)
        if app is None or (visible_only and self.clock.monotonic() < app.visible_at):
            raise ApiError(404, f"app not found: {name}", "not_found")
        return app

    def machine(self, app: str, machine_id: str) -> Machine:
        """A live machine of `app`; destroyed ones answer 404 (flyctl #2852)."""
        self.app(app)
        machine = self.state.machines.get(machine_id)
        if machine is None or machine.app != app or machine.state == "destroyed":
            raise ApiError(404, f"machine not found: {machine_id} in app {app}", "not_found")
        return machine

    def volume(self, app: str, volume_id: str) -> Volume:
        self.app(app)
        volume = self.state.volumes.get(volume_id)
        if volume is None or volume.app != app or volume.state == "destroyed":
            raise ApiError(404, f"volume not found: {volume_id} in app {app}", "not_found")
        return volume

    def check_lease(self, machine: Machine, req: Request) -> None:
        """docs/reference/fly-machines-api.md §1.5: while a lease is held, writes need the `fly-machine-lease-nonce`
        header."""
        lease = machine.live_lease(self.clock.time())
        if lease is None or req.headers.get("fly-machine-lease-nonce") == lease.nonce:
            return
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lease.expires_at))
        raise ApiError(
            409,
            f"aborted: machine ID {machine.id} lease currently held by {lease.owner}, expires at {expires}",
            "aborted",
        )
