"""Every provider create that POSTs, answered 429 first: the same POST is sent again (after Retry-After when
Fly gives one) with no look-up in between, since Fly did nothing with it, and exactly one object exists."""

from __future__ import annotations

import pytest

from emulators.faults import Fault
from providers.fly.certificate import CertificateProvider
from providers.fly.ips import IpsProvider
from providers.fly.machine import MachineProvider
from providers.fly.secrets import SecretsProvider
from providers.fly.volume import VolumeProvider
from tests.fly.lifecycle import up
from tests.fly.machines import machine_inputs

THROTTLES = [{}, {"Retry-After": "0"}, {"Retry-After": "Thu, 01 Jan 2026 00:00:00 GMT"}]  # a past date: go now
IDS = ["backoff", "retry-after-seconds", "retry-after-date"]


def throttle(emu, path: str, headers: dict[str, str]) -> None:
    emu.inject(Fault(method="POST", path=f"^{path}$", status=429, times=2, headers=headers))


def sent(emu, path: str) -> list[tuple[str, int]]:
    """(method, status) of every request to `path`, in order."""
    return [(r.method, r.status) for r in emu.requests if r.path == path]


@pytest.mark.parametrize("headers", THROTTLES, ids=IDS)
def test_app_create_throttled_is_posted_again_and_makes_one_app(apps, emu, app_name, headers):
    throttle(emu, "/v1/apps", headers)
    id_, outs = up(apps, {"name": app_name, "org": "personal"})
    assert id_ == app_name and outs["app_id"] == emu.state.apps[app_name].id
    assert sent(emu, "/v1/apps") == [("POST", 429), ("POST", 429), ("POST", 201)]


@pytest.mark.parametrize("headers", THROTTLES, ids=IDS)
def test_secrets_write_throttled_is_posted_again_once(host, emu, app, headers):
    path = f"/v1/apps/{app}/secrets"
    throttle(emu, path, headers)
    _, outs = up(host.bind(SecretsProvider()), {"app": app, "values": {"K": "v"}})
    assert outs["version"] == 1 and sent(emu, path) == [("POST", 429), ("POST", 429), ("POST", 200)]


@pytest.mark.parametrize("headers", THROTTLES, ids=IDS)
def test_volume_create_throttled_is_posted_again_and_makes_one_volume(host, emu, app, headers):
    path = f"/v1/apps/{app}/volumes"
    throttle(emu, path, headers)
    id_, _ = up(host.bind(VolumeProvider()), {"app": app, "name": "data", "region": "ams", "size_gb": 1})
    assert [v.id for v in emu.state.volumes.values() if v.app == app] == [id_]
    # One look before the first POST (an earlier run may have made it), none between the 429s.
    assert sent(emu, path) == [("GET", 200), ("POST", 429), ("POST", 429), ("POST", 200)]


@pytest.mark.parametrize("headers", THROTTLES, ids=IDS)
def test_machine_create_throttled_is_posted_again_and_makes_one_machine(host, emu, app, headers):
    volume_id, _ = up(host.bind(VolumeProvider()), {"app": app, "name": "data", "region": "ams", "size_gb": 1})
    path = f"/v1/apps/{app}/machines"
    throttle(emu, path, headers)
    emu.reset_log()
    id_, _ = up(host.bind(MachineProvider()), machine_inputs(app, volume_id))
    assert [m.id for m in emu.state.machines.values() if m.app == app] == [id_]
    # No look at all: the name is unique in the app, so only a refusal would send the provider looking.
    assert sent(emu, path) == [("POST", 429), ("POST", 429), ("POST", 200)]


@pytest.mark.parametrize("headers", THROTTLES, ids=IDS)
def test_ip_allocation_throttled_is_posted_again_and_makes_one_address_of_each_kind(host, emu, app, headers):
    path = f"/v1/apps/{app}/ip_assignments"
    throttle(emu, path, headers)
    up(host.bind(IpsProvider()), {"app": app})
    assert sorted(ip.type for ip in emu.state.ips[app]) == ["shared_v4", "v6"]
    assert sent(emu, path) == [("GET", 200), ("POST", 429), ("POST", 429), ("POST", 200), ("POST", 200)]


@pytest.mark.parametrize("headers", THROTTLES, ids=IDS)
def test_certificate_request_throttled_is_posted_again_and_makes_one_certificate(host, emu, app, headers):
    path = f"/v1/apps/{app}/certificates/acme"
    throttle(emu, path, headers)
    id_, outs = up(host.bind(CertificateProvider()), {"app": app, "hostname": f"{app}.example.com"})
    assert list(emu.state.certificates[app]) == [id_] and outs["cname_target"] == f"{app}.fly.dev"
    assert sent(emu, path) == [("POST", 429), ("POST", 429), ("POST", 201)]
