"""Fly emulator: auth, apps, IPs, secrets, certificates, plumbing, over real HTTP."""

from __future__ import annotations

import threading

import httpx
import pytest

from emulators.clock import FakeClock
from emulators.fly import FlyEmulator
from tests.emulators.test_fly_support import (
    FAST,
    client_for,
    create_app,
    create_machine,
    create_volume,
    running,
)


@pytest.mark.parametrize(
    ("token", "header", "status"),
    [
        ("test-fly-token", "Bearer test-fly-token", 200),
        ("test-fly-token", "Bearer wrong", 401),
        ("test-fly-token", "FlyV1 test-fly-token", 401),
        ("test-fly-token", "", 401),
        ("FlyV1 fm2_abc,fm2_def", "FlyV1 fm2_abc,fm2_def", 200),
        ("FlyV1 fm2_abc,fm2_def", "Bearer FlyV1 fm2_abc,fm2_def", 401),
        ("FlyV1 fm2_abc,fm2_def", "FlyV1 fm2_abc", 401),
    ],
)
def test_auth_accepts_only_the_exact_header(token, header, status):
    with FlyEmulator(token=token, **FAST) as emu, client_for(emu, header) as client:
        response = client.get("/v1/apps", params={"org_slug": "personal"})
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json() == {"error": "unauthorized"}


def test_app_create_returns_201_and_is_invisible_until_the_delay_passes():
    clock = FakeClock()
    with running(app_visible_after=0.5, clock=clock) as (_, client):
        created = client.post("/v1/apps", json={"name": "alex-t1", "org_slug": "personal"})
        assert created.status_code == 201
        assert set(created.json()) == {"id", "created_at"}
        assert client.get("/v1/apps/alex-t1").status_code == 404
        clock.advance(0.25)
        assert client.get("/v1/apps/alex-t1").status_code == 404
        clock.advance(0.25)
        app = client.get("/v1/apps/alex-t1").json()
    assert app["name"] == "alex-t1"
    assert app["organization"] == {"name": "personal", "slug": "personal"}
    assert app["id"] == created.json()["id"]


def test_app_create_with_wait_answers_once_the_app_is_visible():
    """fly-go's `POST /v1/apps?wait=true`: the answer comes after propagation, so a GET right after sees it."""
    clock = FakeClock()
    with running(app_visible_after=0.5, clock=clock) as (emu, client):
        answers: list[httpx.Response] = []
        body = {"name": "alex-t1", "org_slug": "personal"}
        thread = threading.Thread(
            target=lambda: answers.append(client.post("/v1/apps", params={"wait": "true"}, json=body)), daemon=True
        )
        thread.start()
        clock.until_blocked()
        assert answers == [] and "alex-t1" in emu.state.apps  # made, not yet propagated
        assert client.get("/v1/apps/alex-t1").status_code == 404  # other requests are served meanwhile
        clock.advance(0.5)
        thread.join(timeout=10)
        assert [a.status_code for a in answers] == [201]
        assert client.get("/v1/apps/alex-t1").json()["id"] == answers[0].json()["id"]


def test_app_create_accepts_the_documented_app_name_field(client):
    response = client.post("/v1/apps", json={"app_name": "alex-t2", "org_slug": "personal", "network": "n1"})
    assert response.status_code == 201
    assert client.get("/v1/apps/alex-t2").json()["network"] == "n1"


def test_app_foreign_name_is_403_on_get_and_taken_on_create(client):
    assert client.get("/v1/apps/taken").status_code == 403
    response = client.post("/v1/apps", json={"name": "taken", "org_slug": "personal"})
    assert response.status_code == 422
    assert response.json() == {"error": "Name has already been taken", "status": "name_taken"}


def test_app_own_name_twice_is_name_taken(client):
    create_app(client)
    response = client.post("/v1/apps", json={"name": "alex-t1", "org_slug": "personal"})
    assert response.status_code == 422
    assert response.json()["status"] == "name_taken"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "alex-t1", "org_slug": "someone-else"}, 404),
        ({"org_slug": "personal"}, 400),
        ({"name": "Bad_Name", "org_slug": "personal"}, 400),
        ({"name": "alex-t1"}, 400),
    ],
)
def test_app_create_rejects_bad_input(client, body, status):
    response = client.post("/v1/apps", json=body)
    assert response.status_code == status, response.text
    assert "error" in response.json()


def test_app_list_by_org(client):
    create_app(client, "alex-a")
    create_app(client, "alex-b")
    listing = client.get("/v1/apps", params={"org_slug": "personal"}).json()
    assert listing["total_apps"] == 2
    assert sorted(a["name"] for a in listing["apps"]) == ["alex-a", "alex-b"]


def test_app_delete_cascades_to_every_child(fly):
    emu, client = fly
    app = create_app(client)
    volume = create_volume(client, app)
    create_machine(client, app, config={"image": "x/y:1", "mounts": [{"volume": volume["id"], "path": "/d"}]})
    client.post(f"/v1/apps/{app}/ip_assignments", json={"type": "v6"})
    client.post(f"/v1/apps/{app}/secrets", json={"values": {"A": "1"}})
    client.post(f"/v1/apps/{app}/certificates/acme", json={"hostname": "a.example.com"})
    response = client.delete(f"/v1/apps/{app}")
    assert response.status_code == 202
    assert response.content == b""
    state = emu.state
    assert app not in state.apps
    assert not state.machines and not state.volumes
    assert app not in state.ips and app not in state.secrets and app not in state.certificates
    assert client.get(f"/v1/apps/{app}").status_code == 404
    assert client.get(f"/v1/apps/{app}/machines").status_code == 404
    create_app(client)  # the name is free again


def test_app_delete_unknown_is_404(client):
    assert client.delete("/v1/apps/nope").status_code == 404


def test_ip_shared_v4_is_reused_and_v6_is_fresh(client):
    app = create_app(client)
    first = client.post(f"/v1/apps/{app}/ip_assignments", json={"type": "shared_v4"}).json()
    second = client.post(f"/v1/apps/{app}/ip_assignments", json={"type": "shared_v4"}).json()
    assert first["ip"] == second["ip"] and first["shared"] is True
    v6a = client.post(f"/v1/apps/{app}/ip_assignments", json={"type": "v6"}).json()
    v6b = client.post(f"/v1/apps/{app}/ip_assignments", json={"type": "v6"}).json()
    assert v6a["ip"] != v6b["ip"] and ":" in v6a["ip"]
    assert set(v6a) == {"ip", "region", "service_name", "shared", "created_at"}
    assert len(client.get(f"/v1/apps/{app}/ip_assignments").json()["ips"]) == 3
    assert client.post(f"/v1/apps/{app}/ip_assignments", json={"type": "v5"}).status_code == 400
    assert client.delete(f"/v1/apps/{app}/ip_assignments/{v6a['ip']}").status_code == 204
    assert client.delete(f"/v1/apps/{app}/ip_assignments/{v6a['ip']}").status_code == 404


def test_secrets_write_bumps_version_and_hides_values(client):
    app = create_app(client)
    first = client.post(f"/v1/apps/{app}/secrets", json={"values": {"B": "hunter2", "A": "x"}}).json()
    assert first["version"] == 1
    assert [s["name"] for s in first["secrets"]] == ["A", "B"]
    second = client.post(f"/v1/apps/{app}/secrets", json={"values": {"A": None}}).json()
    assert second["version"] == 2
    listing = client.get(f"/v1/apps/{app}/secrets")
    assert [s["name"] for s in listing.json()["secrets"]] == ["B"]
    assert "hunter2" not in listing.text
    shown = client.get(f"/v1/apps/{app}/secrets", params={"show_secrets": "true"}).json()
    assert shown["secrets"][0]["value"] == "hunter2"
    assert client.post(f"/v1/apps/{app}/secrets/C", json={"value": "c"}).json()["version"] == 3
    assert client.delete(f"/v1/apps/{app}/secrets/C").json()["version"] == 4
    assert client.delete(f"/v1/apps/{app}/secrets/C").status_code == 404
    assert client.post(f"/v1/apps/{app}/secrets", json={"values": {"A": 1}}).status_code == 400


def test_certificate_lifecycle(fly):
    emu, client = fly
    app = create_app(client)
    other = create_app(client, "alex-t2")
    client.post(f"/v1/apps/{app}/ip_assignments", json={"type": "v6"})
    created = client.post(f"/v1/apps/{app}/certificates/acme", json={"hostname": "alice.example.com"})
    assert created.status_code == 201
    cert = created.json()
    assert cert["status"] == "pending_validation" and cert["certificates"] == []
    req = cert["dns_requirements"]
    assert req["cname"] == f"{app}.fly.dev" and len(req["aaaa"]) == 1
    assert req["acme_challenge"]["name"] == "_acme-challenge.alice.example.com"
    assert req["acme_challenge"]["target"].startswith("alice.example.com.")
    assert req["acme_challenge"]["target"].endswith(".flydns.net")
    assert req["ownership"]["name"] == "_fly-ownership.alice.example.com"
    again = client.post(f"/v1/apps/{app}/certificates/acme", json={"hostname": "alice.example.com"})
    assert again.status_code == 200
    assert again.json()["dns_requirements"] == req
    clash = client.post(f"/v1/apps/{other}/certificates/acme", json={"hostname": "alice.example.com"})
    assert clash.status_code == 422
    emu.set_certificate_status(app, "alice.example.com", "active")
    url = f"/v1/apps/{app}/certificates/alice.example.com"
    assert client.get(url).json()["status"] == "active"
    assert client.post(url + "/check").json()["configured"] is True
    assert len(client.get(f"/v1/apps/{app}/certificates").json()["certificates"]) == 1
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_every_response_has_a_unique_request_id(client):
    ids = {client.get("/v1/apps/nope").headers["fly-request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nothing"), ("PATCH", "/v1/apps/x/machines/y")])
def test_unknown_route_is_404(client, method, path):
    response = client.request(method, path)
    assert response.status_code == 404
    assert "error" in response.json()


def test_bad_json_is_400(client):
    response = client.post("/v1/apps", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_requests_are_recorded_in_order(fly):
    emu, client = fly
    create_app(client)
    client.get("/v1/apps/alex-t1", params={"x": "1"})
    recorded = emu.requests
    assert [(r.method, r.path, r.status) for r in recorded] == [
        ("POST", "/v1/apps", 201),
        ("GET", "/v1/apps/alex-t1", 200),
    ]
    assert recorded[0].body == {"name": "alex-t1", "org_slug": "personal"}
    assert recorded[1].query == {"x": "1"}
    assert emu.writes() == 1
    emu.reset_log()
    assert emu.requests == [] and emu.writes() == 0


def test_stop_then_url_raises():
    emu = FlyEmulator(**FAST).start()
    url = emu.url
    emu.stop()
    with pytest.raises(RuntimeError):
        _ = emu.url
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/v1/apps", timeout=1)
