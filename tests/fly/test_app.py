"""App provider lifecycle against the emulator, through a fresh provider process."""

from __future__ import annotations

import pytest

from emulators.faults import Fault
from providers.fly.app import AppProvider
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.conftest import FAST_ENV
from tests.fly.lifecycle import preview, refresh, up
from tests.support.engine import ProviderCallError, ProviderHost


def app_posts(emu) -> list[int]:
    """The status of every app create, in order."""
    return [r.status for r in emu.requests if r.method == "POST" and r.path == "/v1/apps"]


def test_app_lifecycle_create_nodiff_replace_read_delete(apps, emu, app_name):
    inputs = {"name": app_name, "org": "personal"}
    id_, outs = up(apps, inputs)
    assert id_ == app_name
    assert outs["network"] == app_name and outs["app_id"] and outs["org"] == "personal"
    assert emu.state.apps[app_name].network == app_name  # its own private network

    again = preview(apps, id_, outs, inputs)
    assert again.changes is False
    rid, routs, rinputs = refresh(apps, id_, outs)
    assert rid == id_ and preview(apps, rid, routs, rinputs).changes is False

    moved = preview(apps, id_, outs, {**inputs, "org": "other"})
    assert moved.changes and moved.replaces == ["org"]

    apps.delete(id_, outs)
    assert refresh(apps, id_, outs)[0] == ""
    apps.delete(id_, outs)  # 404 is success


def test_app_create_sends_no_look_first_and_reads_the_app_once_it_is_visible(apps, emu, app_name):
    id_, outs = up(apps, {"name": app_name, "org": "personal"})
    assert outs["app_id"] == emu.state.apps[app_name].id
    assert [(r.method, r.path, r.status) for r in emu.requests] == [
        ("POST", "/v1/apps", 201),
        ("GET", f"/v1/apps/{app_name}", 200),  # `?wait=true` answered once it had propagated
    ]


def test_app_create_keeps_polling_while_the_new_app_is_not_visible_yet(apps, emu, app_name):
    # Fly's own CLI polls after every `?wait=true` create (fly-go WaitForApp): a 404 then means "not yet".
    emu.inject(Fault(method="GET", path=rf"^/v1/apps/{app_name}$", status=404, times=2))
    id_, outs = up(apps, {"name": app_name, "org": "personal"})
    assert id_ == app_name and outs["app_id"] == emu.state.apps[app_name].id
    assert [r.status for r in emu.requests if r.method == "GET"] == [404, 404, 200]
    assert app_posts(emu) == [201]


def test_app_create_adopts_existing_app_of_ours(apps, emu, app_name):
    first_id, first = up(apps, {"name": app_name, "org": "personal"})
    second_id, second = up(apps, {"name": app_name, "org": "personal"})
    assert (second_id, second["app_id"]) == (first_id, first["app_id"])
    # No look before posting: the second POST's "name taken" sent the provider to the app it adopted.
    assert app_posts(emu) == [201, 422]


@pytest.mark.parametrize("answer", [{"status": 500}, {"drop": True}], ids=["after", "drop_after"])
def test_app_create_ambiguous_failure_converges_on_one_app(apps, emu, app_name, answer):
    emu.inject(Fault(method="POST", path=r"^/v1/apps$", when="after_work", times=1, **answer))
    id_, outs = up(apps, {"name": app_name, "org": "personal"})
    assert id_ == app_name and outs["app_id"] == emu.state.apps[app_name].id
    # The repeated POST found the name taken by the app the first one made, and adopted it.
    assert app_posts(emu)[1:] == [422]


def test_app_create_converges_through_429_and_5xx_bursts(apps, emu, app_name):
    emu.inject(Fault(method="GET", path=rf"^/v1/apps/{app_name}$", status=429, times=3))
    emu.inject(Fault(method="POST", path=r"^/v1/apps$", status=503, times=1))
    id_, _ = up(apps, {"name": app_name, "org": "personal"})
    assert id_ == app_name and app_name in emu.state.apps
    assert sum(1 for r in emu.requests if r.status == 429) == 3


def test_app_name_held_by_another_org_is_a_clear_error(apps, emu):
    with pytest.raises(ProviderCallError) as info:
        up(apps, {"name": "taken", "org": "personal"})
    assert "'taken' is held by another organization" in info.value.details
    assert app_posts(emu) == [422] and "taken" not in emu.state.apps


@pytest.mark.parametrize(
    ("news", "prop"),
    [({"name": "Bad_Name", "org": "personal"}, "name"), ({"name": "ok-name", "org": ""}, "org")],
)
def test_app_check_rejects_bad_inputs(apps, news, prop):
    failures = apps.check({}, news).failures
    assert [p for p, _ in failures] == [prop]


def test_app_token_from_configure_when_env_has_none(fly_emu, app_name):
    with ProviderHost(env={"FLY_API_URL": fly_emu.url, **FAST_ENV}) as host:
        bound = host.bind(AppProvider())
        bound.configure({"alex-hosted:flyApiToken": FLY_TEST_TOKEN, "alex-hosted:region": "ams"})
        id_, _ = up(bound, {"name": app_name, "org": "personal"})
        assert id_ == app_name
        assert FLY_TEST_TOKEN not in host.stderr()


def test_app_missing_token_error_names_env_and_config(fly_emu, app_name):
    with ProviderHost(env={"FLY_API_URL": fly_emu.url, **FAST_ENV}) as host, pytest.raises(ProviderCallError) as info:
        up(host.bind(AppProvider()), {"name": app_name, "org": "personal"})
    assert "FLY_API_TOKEN" in info.value.details and "alex-hosted:flyApiToken" in info.value.details
