"""Fly emulator: the HTTP edge (FlyProxy), fly-replay from a router app to tenant apps, autostart, wildcard certs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from emulators.clock import FakeClock
from emulators.faults import Fault
from emulators.fly import FlyEmulator
from emulators.fly.replay import REPLAY_BODY_LIMIT, ReplayError, parse_replay, replay_src
from emulators.serving import serve_in_thread
from tests.emulators.test_fly_support import client_for, create_machine, machine_config, running, wait_state
from tests.support.poll import wait_until
from tests.support.servers import free_port

EDGE = "alex-edge"
TENANTS = {"alice.example.com": "alex-t1", "bob.example.com": "alex-t2"}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StandIn:
    """A tiny HTTP server standing in for an app's machines: answers with `answer(request)`, records requests."""

    answer: Callable[[Seen], tuple[int, dict[str, str], bytes]]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                stand_in.seen.append(request)
                status, headers, body = stand_in.answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def router(routes: dict[str, str], state: str | None = None) -> StandIn:
    """The stand-in router: `fly-replay: app=<routes[Host]>` for every request (404 for an unknown Host)."""

    def answer(request: Seen) -> tuple[int, dict[str, str], bytes]:
        target = routes.get(request.headers.get("host", ""))
        if target is None:
            return 404, {}, b"no such tenant"
        value = f"app={target}" + (f";state={state}" if state else "")
        return 200, {"fly-replay": value}, b"the router's own body, never shown to the client"

    return StandIn(answer)


def echo() -> StandIn:
    def answer(request: Seen) -> tuple[int, dict[str, str], bytes]:
        return 201, {"content-type": "text/plain", "x-tenant": "yes"}, b"hello from the tenant"

    return StandIn(answer)


@dataclass
class Edge:
    emu: FlyEmulator
    api: httpx.Client
    proxy: httpx.Client
    router: StandIn
    stack: ExitStack
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)  # app -> machine JSON

    def serve(self, app: str, stand_in: StandIn) -> StandIn:
        stand_in.url = self.stack.enter_context(serve_in_thread(stand_in.handler(), name=f"stand-in-{app}"))
        self.emu.proxy.serve_app(app, stand_in.url)
        return stand_in

    def get(self, host: str, path: str = "/", **kwargs: Any) -> httpx.Response:
        return self.proxy.request(
            kwargs.pop("method", "GET"), path, headers={"host": host, **kwargs.pop("headers", {})}, **kwargs
        )

    def state(self, app: str) -> str:
        return str(self.api.get(f"/v1/apps/{app}/machines/{self.machines[app]['id']}").json()["state"])

    def events(self, app: str) -> list[dict[str, Any]]:
        return list(self.api.get(f"/v1/apps/{app}/machines/{self.machines[app]['id']}").json()["events"])

    def stop_tenant(self, app: str) -> None:
        """The Fly proxy's idle autostop, as the emulator models it."""
        self.emu.autostop(app, self.machines[app]["id"])
        wait_state(self.api, app, self.machines[app], "stopped")


def make_app(api: httpx.Client, name: str, *, network: str | None = None, ips: bool = False) -> str:
    body: dict[str, Any] = {"name": name, "org_slug": "personal"}
    if network is not None:
        body["network"] = network
    assert api.post("/v1/apps", json=body).status_code == 201
    if ips:
        for kind in ("v6", "shared_v4"):
            assert api.post(f"/v1/apps/{name}/ip_assignments", json={"type": kind}).status_code == 200
    return name


def tenant_config(autostart: bool = True) -> dict[str, Any]:
    config = machine_config()
    config["services"][0]["autostart"] = autostart
    return config


def add_tenant(edge: Edge, app: str, *, autostart: bool = True, network: str | None = None) -> dict[str, Any]:
    """A tenant as the App resource makes it: its own private network, no IPs, no certificate, one machine."""
    make_app(edge.api, app, network=network or app)
    machine = create_machine(edge.api, app, config=tenant_config(autostart))
    wait_state(edge.api, app, machine, "started")
    edge.machines[app] = machine
    return machine


@pytest.fixture
def edge(fly, proxy_client) -> Iterator[Edge]:
    emu, api = fly
    with ExitStack() as stack:
        e = Edge(emu, api, proxy_client, router(TENANTS, state="k1"), stack)
        make_app(api, EDGE, ips=True)
        assert api.post(f"/v1/apps/{EDGE}/certificates/acme", json={"hostname": "*.example.com"}).status_code == 201
        machine = create_machine(api, EDGE)
        wait_state(api, EDGE, machine, "started")
        e.machines[EDGE] = machine
        e.serve(EDGE, e.router)
        for app in TENANTS.values():
            add_tenant(e, app)
        emu.set_org_setting(cross_network_replay=True)  # tenants sit on their own networks (see the test below)
        yield e


def error_code(response: httpx.Response) -> str:
    return str(response.json()["status"])


# -- routing through the router --------------------------------------------------------------------------------------
def test_each_tenant_hostname_reaches_its_tenant_machine_through_the_router(edge):
    for host, app in TENANTS.items():
        response = edge.get(host, "/library?page=2")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["app"] == app and body["machine_id"] == edge.machines[app]["id"]
        assert body["host"] == host and body["path"] == "/library?page=2" and body["method"] == "GET"
        src = dict(part.split("=", 1) for part in body["replay_src"].split(";"))
        assert src["instance"] == edge.machines[EDGE]["id"] and src["region"] == "ams" and src["state"] == "k1"
        assert int(src["t"]) == pytest.approx(edge.emu.clock.time() * 1_000_000, abs=60_000_000)
        assert "fly-replay" not in response.headers and response.headers["fly-request-id"]
    assert [entry.apps for entry in edge.emu.proxy.log] == [[EDGE, "alex-t1"], [EDGE, "alex-t2"]]
    assert [entry.status for entry in edge.emu.proxy.log] == [200, 200]


def test_the_router_and_the_tenant_get_fly_headers_and_the_same_request(edge):
    tenant = edge.serve("alex-t1", echo())
    response = edge.get(
        "alice.example.com",
        "/upload?x=1",
        method="POST",
        content=b"payload",
        headers={"fly-replay-src": "instance=forged", "x-custom": "kept"},
    )
    assert response.status_code == 201 and response.text == "hello from the tenant"
    assert response.headers["x-tenant"] == "yes"
    first, replayed = edge.router.seen[0], tenant.seen[0]
    for seen in (first, replayed):
        assert (seen.method, seen.path, seen.body) == ("POST", "/upload?x=1", b"payload")
        assert seen.headers["host"] == "alice.example.com" and seen.headers["x-custom"] == "kept"
        assert seen.headers["fly-client-ip"] == "127.0.0.1" and seen.headers["fly-region"] == "iad"
        assert seen.headers["fly-forwarded-port"] == "443" and seen.headers["x-forwarded-proto"] == "https"
        assert seen.headers["fly-request-id"]
    assert first.headers["fly-request-id"] == replayed.headers["fly-request-id"]
    assert "fly-replay-src" not in first.headers  # a client cannot forge it
    assert replayed.headers["fly-replay-src"].startswith(f"instance={edge.machines[EDGE]['id']};region=ams;t=")
    assert replayed.headers["fly-replay-src"].endswith(";state=k1")


def test_a_stopped_tenant_machine_is_started_by_a_request(edge):
    edge.stop_tenant("alex-t1")
    response = edge.get("alice.example.com")
    assert response.status_code == 200, response.text
    assert response.json()["machine_id"] == edge.machines["alex-t1"]["id"]
    assert edge.state("alex-t1") == "started"
    latest = edge.events("alex-t1")[0]
    assert (latest["type"], latest["source"], latest["status"]) == ("start", "fly-proxy", "started")
    assert edge.emu.proxy.log[-1].started == [edge.machines["alex-t1"]["id"]]
    assert edge.state("alex-t2") == "started" and edge.events("alex-t2")[0]["source"] != "fly-proxy"


def test_a_machine_without_autostart_stays_stopped_and_the_request_gets_503(edge):
    add_tenant(edge, "alex-t3", autostart=False)
    edge.stop_tenant("alex-t3")
    edge.serve(EDGE, router({"carol.example.com": "alex-t3"}))
    response = edge.get("carol.example.com")
    assert response.status_code == 503
    assert error_code(response) == "no_startable_machine"
    assert edge.state("alex-t3") == "stopped"
    assert all(e["source"] != "fly-proxy" for e in edge.events("alex-t3"))
    assert edge.emu.proxy.log[-1].started == []


def test_a_tenant_with_no_machines_answers_503(edge):
    make_app(edge.api, "alex-t4", network="alex-t4")
    edge.serve(EDGE, router({"dave.example.com": "alex-t4"}))
    response = edge.get("dave.example.com")
    assert response.status_code == 503 and error_code(response) == "no_machines"


def test_the_proxy_waits_for_the_start_on_the_emulator_clock():
    clock = FakeClock()
    with running(clock=clock, transition=0.25) as (emu, api), httpx.Client(base_url=emu.proxy_url, timeout=10) as px:
        make_app(api, "alex-t1", ips=True)
        machine = create_machine(api, "alex-t1", config=tenant_config(), skip_launch=True)
        clock.advance(0.25)  # created -> stopped
        result: dict[str, httpx.Response] = {}
        thread = threading.Thread(
            target=lambda: result.update(r=px.get("/", headers={"host": "alex-t1.fly.dev"})), daemon=True
        )
        thread.start()
        clock.until_blocked(1)
        assert api.get(f"/v1/apps/alex-t1/machines/{machine['id']}").json()["state"] == "starting"
        assert "r" not in result
        clock.advance(0.25)
        thread.join(timeout=10)
        assert result["r"].status_code == 200 and result["r"].json()["machine_id"] == machine["id"]


# -- the replay body limit -------------------------------------------------------------------------------------------
def test_a_body_of_exactly_one_mib_replays(edge):
    response = edge.get("alice.example.com", "/upload", method="POST", content=b"x" * REPLAY_BODY_LIMIT)
    assert REPLAY_BODY_LIMIT == 1_048_576
    assert response.status_code == 200, response.text
    assert response.json()["body_bytes"] == 1_048_576 and response.json()["app"] == "alex-t1"


def test_a_body_over_one_mib_is_refused_for_replay(edge):
    response = edge.get("alice.example.com", "/upload", method="POST", content=b"x" * (REPLAY_BODY_LIMIT + 1))
    assert response.status_code == 413
    assert error_code(response) == "replay_body_too_large" and "1048576" in response.json()["error"]
    assert len(edge.router.seen[0].body) == REPLAY_BODY_LIMIT + 1  # the router got it whole: the proxy buffers
    assert edge.emu.proxy.log[-1].apps == [EDGE] and edge.emu.proxy.log[-1].body_bytes == REPLAY_BODY_LIMIT + 1


def test_a_body_over_one_mib_passes_when_nothing_replays(edge):
    tenant = edge.serve("alex-t1", echo())
    assert edge.api.post("/v1/apps/alex-t1/ip_assignments", json={"type": "v6"}).status_code == 200
    response = edge.get("alex-t1.fly.dev", method="PUT", content=b"x" * (2 * REPLAY_BODY_LIMIT))
    assert response.status_code == 201 and len(tenant.seen[0].body) == 2 * REPLAY_BODY_LIMIT


# -- cross-network replay --------------------------------------------------------------------------------------------
def test_cross_network_replay_is_refused_while_the_org_setting_is_off(edge):
    edge.emu.set_org_setting(cross_network_replay=False)
    response = edge.get("alice.example.com")
    assert response.status_code == 403
    assert error_code(response) == "cross_network_replay_disabled"
    assert "cross_network_replay" in response.json()["error"]
    assert edge.emu.proxy.log[-1].apps == [EDGE]
    edge.emu.set_org_setting(cross_network_replay=True)
    assert edge.get("alice.example.com").json()["app"] == "alex-t1"


def test_cross_network_replay_is_off_by_default_and_same_network_replays_need_no_setting():
    with running() as (emu, api), httpx.Client(base_url=emu.proxy_url, timeout=10) as px, ExitStack() as stack:
        e = Edge(emu, api, px, router({"a.example.com": "alex-t1", "s.example.com": "alex-same"}), stack)
        make_app(api, EDGE, ips=True)
        api.post(f"/v1/apps/{EDGE}/certificates/acme", json={"hostname": "*.example.com"})
        create_machine(api, EDGE)
        e.serve(EDGE, e.router)
        add_tenant(e, "alex-t1")
        add_tenant(e, "alex-same", network="default")  # the edge's network
        assert e.get("a.example.com").status_code == 403
        assert e.get("s.example.com").json()["app"] == "alex-same"


# -- replay targets and loops ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "status", "code"),
    [("alex-nope", 502, "replay_target_not_found"), ("taken", 403, "replay_forbidden")],
    ids=["unknown-app", "other-org"],
)
def test_a_replay_to_an_app_out_of_reach_fails(edge, target, status, code):
    edge.serve(EDGE, router({"x.example.com": target}))
    response = edge.get("x.example.com")
    assert response.status_code == status and error_code(response) == code


@pytest.mark.parametrize(
    "header", ["app=", "app=Alex_T1", "bogus=1", "app=alex-t1;app=alex-t2", "state=only", "app=alex-t1;"]
)
def test_a_malformed_fly_replay_is_a_502(edge, header):
    edge.serve(EDGE, StandIn(lambda _: (200, {"fly-replay": header}, b"")))
    response = edge.get("alice.example.com")
    assert response.status_code == 502 and error_code(response) == "bad_replay"


def test_a_replay_to_a_named_instance_reaches_that_machine(edge):
    second = create_machine(edge.api, "alex-t1", config=tenant_config())
    wait_state(edge.api, "alex-t1", second, "started")
    edge.serve(EDGE, StandIn(lambda _: (200, {"fly-replay": f"app=alex-t1;instance={second['id']}"}, b"")))
    assert edge.get("alice.example.com").json()["machine_id"] == second["id"]
    edge.serve(EDGE, StandIn(lambda _: (200, {"fly-replay": f"instance={second['id']}"}, b"")))  # not in alex-edge
    response = edge.get("alice.example.com")
    assert response.status_code == 502 and error_code(response) == "replay_target_not_found"


def test_a_router_replaying_to_itself_is_cut_off(edge):
    edge.serve(EDGE, router({"loop.example.com": EDGE}))
    response = edge.get("loop.example.com")
    assert response.status_code == 508 and error_code(response) == "replay_loop"
    assert edge.emu.proxy.log[-1].apps == [EDGE] * (edge.emu.proxy.max_replays + 1)
    assert edge.emu.proxy.log[-1].hops[-1].replay == f"app={EDGE}"


def test_two_apps_replaying_to_each_other_are_cut_off(edge):
    edge.serve("alex-t1", router({"alice.example.com": EDGE}))
    edge.router.seen.clear()
    response = edge.get("alice.example.com")
    assert response.status_code == 508
    assert edge.emu.proxy.log[-1].apps == [EDGE, "alex-t1", EDGE, "alex-t1", EDGE, "alex-t1"]


# -- hostnames -------------------------------------------------------------------------------------------------------
def test_fly_dev_routes_only_to_an_app_with_ips(edge):
    response = edge.get("alex-t1.fly.dev")
    assert response.status_code == 404 and error_code(response) == "unknown_host"
    assert edge.api.post("/v1/apps/alex-t1/ip_assignments", json={"type": "private_v6"}).status_code == 200
    assert edge.get("alex-t1.fly.dev").status_code == 404  # Flycast is not a public face
    assert edge.api.post("/v1/apps/alex-t1/ip_assignments", json={"type": "v6"}).status_code == 200
    response = edge.get("alex-t1.fly.dev:443")
    assert response.status_code == 200 and response.json()["app"] == "alex-t1"
    assert edge.emu.proxy.log[-1].apps == ["alex-t1"] and response.json()["replay_src"] is None


@pytest.mark.parametrize("host", ["nobody.example.org", "taken.fly.dev", "example.com", "a.b.example.com"])
def test_an_unknown_host_is_a_404(edge, host):
    response = edge.get(host)
    assert response.status_code == 404 and error_code(response) == "unknown_host"
    assert edge.emu.proxy.log[-1].hops == [] and edge.router.seen == []


def test_a_certificate_routes_only_for_an_app_with_ips(edge):
    edge.api.delete(f"/v1/apps/{EDGE}/certificates/%2A.example.com")
    edge.api.post("/v1/apps/alex-t1/certificates/acme", json={"hostname": "*.example.com"})  # tenant has no IPs
    assert edge.get("alice.example.com").status_code == 404


def test_an_exact_certificate_wins_over_a_wildcard(edge):
    make_app(edge.api, "alex-vip", ips=True)
    vip = create_machine(edge.api, "alex-vip", config=tenant_config())
    wait_state(edge.api, "alex-vip", vip, "started")
    assert (
        edge.api.post("/v1/apps/alex-vip/certificates/acme", json={"hostname": "alice.example.com"}).status_code == 201
    )
    response = edge.get("alice.example.com")
    assert response.json()["app"] == "alex-vip" and edge.emu.proxy.log[-1].apps == ["alex-vip"]
    assert edge.get("bob.example.com").json()["app"] == "alex-t2"  # still through the wildcard's router


# -- the proxy's own controls ----------------------------------------------------------------------------------------
def test_a_replay_target_fault_answers_once(edge):
    edge.emu.proxy.inject("alex-t1", Fault(path="^/", status=502))
    first = edge.get("alice.example.com")
    assert first.status_code == 502 and first.json() == {"error": "injected fault 502", "status": "unknown"}
    assert edge.emu.proxy.log[-1].apps == [EDGE, "alex-t1"] and edge.emu.proxy.log[-1].hops[-1].status == 502
    assert edge.get("alice.example.com").status_code == 200


def test_an_unreachable_upstream_is_a_502(edge):
    edge.emu.proxy.serve_app("alex-t1", "http://127.0.0.1:9")
    response = edge.get("alice.example.com")
    assert response.status_code == 502 and error_code(response) == "upstream_unreachable"


def test_a_machine_the_proxy_woke_is_given_time_to_listen(edge):
    """Fly's proxy waits for a woken machine's port: a server that listens a moment after the start answers."""
    port = free_port()
    edge.emu.proxy.serve_app("alex-t1", f"http://127.0.0.1:{port}")
    edge.stop_tenant("alex-t1")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(edge.get, "alice.example.com")
        # The proxy woke it; nothing listens on its port yet, so the request is still waiting.
        wait_until(lambda: edge.state("alex-t1") == "started", "the proxy to start the machine", timeout=10)
        assert not pending.done()
        tenant = echo()
        with serve_in_thread(tenant.handler(), port=port, name="late-tenant"):
            response = pending.result(timeout=10)
    assert response.status_code == 201 and response.text == "hello from the tenant"
    assert edge.emu.proxy.log[-1].started == [edge.machines["alex-t1"]["id"]]


def test_a_woken_machine_that_never_listens_is_a_502_after_the_listen_timeout(edge):
    edge.emu.proxy.listen_timeout = 0.3
    edge.emu.proxy.serve_app("alex-t1", f"http://127.0.0.1:{free_port()}")
    edge.stop_tenant("alex-t1")
    response = edge.get("alice.example.com")
    assert response.status_code == 502 and error_code(response) == "upstream_unreachable"


def test_serve_app_refuses_anything_but_local_http(edge):
    with pytest.raises(ValueError):
        edge.emu.proxy.serve_app("alex-t1", "https://example.com")


# -- wildcard certificates in the REST API ---------------------------------------------------------------------------
def test_wildcard_certificate_create_get_delete_with_percent_2a(fly):
    emu, api = fly
    make_app(api, "alex-router", ips=True)
    make_app(api, "alex-other")
    created = api.post("/v1/apps/alex-router/certificates/acme", json={"hostname": "*.Example.com"})
    assert created.status_code == 201, created.text
    cert = created.json()
    assert cert["hostname"] == "*.example.com"
    challenge = cert["dns_requirements"]["acme_challenge"]
    assert challenge["name"] == "_acme-challenge.example.com"
    assert challenge["target"].startswith("example.com.") and challenge["target"].endswith(".flydns.net")
    assert cert["dns_requirements"]["ownership"]["name"] == "_fly-ownership.example.com"
    url = "/v1/apps/alex-router/certificates/%2A.example.com"
    got = api.get(url)
    assert got.status_code == 200 and got.json()["hostname"] == "*.example.com"
    assert emu.requests[-1].path.endswith("/certificates/%2A.example.com")  # sent encoded, decoded by the server
    clash = api.post("/v1/apps/alex-other/certificates/acme", json={"hostname": "*.example.com"})
    assert clash.status_code == 422
    assert api.post("/v1/apps/alex-other/certificates/acme", json={"hostname": "a.example.com"}).status_code == 201
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.post("/v1/apps/alex-other/certificates/acme", json={"hostname": "*.example.com"}).status_code == 201


@pytest.mark.parametrize("hostname", ["*.com", "a.*.example.com", "**.example.com", "*example.com"])
def test_malformed_wildcards_are_refused(fly, hostname):
    _, api = fly
    make_app(api, "alex-router")
    assert api.post("/v1/apps/alex-router/certificates/acme", json={"hostname": hostname}).status_code == 400


# -- the fly-replay header -------------------------------------------------------------------------------------------
def test_parse_replay_reads_the_documented_fields():
    replay = parse_replay('app=alex-t1; region="ams,iad" ;state=a=b;elsewhere=true;timeout=2s;fallback=force_self')
    assert replay.app == "alex-t1" and replay.regions == ("ams", "iad") and replay.state == "a=b"
    assert replay.elsewhere and not replay.any_region()
    assert parse_replay('region="sjc,any"').any_region()
    assert parse_replay("instance=00bb33ff").instance == "00bb33ff"


@pytest.mark.parametrize(
    "header", ["", ";", "app", "app=a;;b=c", "elsewhere=maybe", 'region="ams,"', "instance=ZZ!", "state=x", "app=a b"]
)
def test_parse_replay_refuses_malformed_headers(header):
    with pytest.raises(ReplayError):
        parse_replay(header)


def test_replay_src_format():
    assert replay_src("m1", "ams", 1.5, None) == "instance=m1;region=ams;t=1500000"
    assert replay_src("m1", "ams", 1.5, "k") == "instance=m1;region=ams;t=1500000;state=k"


def test_the_emulator_api_is_unchanged_by_the_proxy(fly):
    emu, _ = fly
    assert emu.proxy_url != emu.url and emu.proxy_url.startswith("http://127.0.0.1:")
    with client_for(emu) as api:
        assert api.get("/v1/apps").status_code == 200
    assert json.loads(httpx.get(emu.proxy_url + "/", headers={"host": "x.invalid"}).text)["status"] == "unknown_host"
