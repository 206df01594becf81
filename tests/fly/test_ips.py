"""Ips provider lifecycle against the emulator."""

from __future__ import annotations

import httpx
import pytest

from emulators.faults import Fault
from providers.fly.ips import IpsProvider
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.lifecycle import preview, refresh, up


@pytest.fixture
def ips(host):
    return host.bind(IpsProvider())


def ip_posts(emu) -> int:
    return sum(1 for r in emu.requests if r.method == "POST" and r.path.endswith("/ip_assignments"))


def test_ips_lifecycle_allocate_nodiff_reallocate_after_release_delete(ips, emu, app):
    id_, outs = up(ips, {"app": app})
    assert ":" in outs["v6"] and "." in outs["shared_v4"]
    assert sorted(ip.type for ip in emu.state.ips[app]) == ["shared_v4", "v6"]
    assert preview(ips, id_, outs, {"app": app}).changes is False
    assert preview(ips, id_, outs, {"app": "other-app"}).replaces == ["app"]

    # Released out of band: refresh sees it gone, the diff asks for an update, the update re-allocates.
    httpx.delete(
        f"{emu.url}/v1/apps/{app}/ip_assignments/{outs['v6']}", headers={"Authorization": f"Bearer {FLY_TEST_TOKEN}"}
    ).raise_for_status()
    rid, routs, rinputs = refresh(ips, id_, outs)
    assert rid == id_ and routs["v6"] == "" and routs["shared_v4"] == outs["shared_v4"]
    _, fixed = up(ips, rinputs, id_=rid, outs=routs)
    assert fixed["v6"] and preview(ips, id_, fixed, {"app": app}).changes is False

    ips.delete(id_, fixed)
    assert emu.state.ips[app] == []
    assert refresh(ips, id_, fixed)[0] == ""
    ips.delete(id_, fixed)  # 404 is success


def test_ips_create_is_idempotent_and_survives_a_lost_answer(ips, emu, app):
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/ip_assignments$", drop=True, when="after_work", times=1))
    _, outs = up(ips, {"app": app})
    _, again = up(ips, {"app": app})
    assert again == outs
    assert sorted(ip.type for ip in emu.state.ips[app]) == ["shared_v4", "v6"]
