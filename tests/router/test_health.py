"""The health check (map size, digest, load time, reload errors) answers on the health port only.

Fly's machine checks connect to the machine on a port of their own (`HEALTH_PORT`, which no Fly service
exposes), so the health answer needs no Host there. On the public port, where every tenant hostname
arrives, `/_edge/health` is a path like any other: whatever the Host, the request target's spelling or the
method, nobody outside learns how many libraries there are, the map's digest or a reload error.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.router.conftest import DIGEST, HOSTS, StartRouter
from tests.router.harness import HEALTH_PATH, Router, raw_exchange, run_until_exit, write_bytes, write_map
from tests.router.test_reload import wait_for

# What would give the health answer away in any response body or header.
LEAKS = ('"digest"', DIGEST, '"hosts"', '"reloadError"', '"loadedAt"')


def test_health_reports_the_maps_size_digest_and_load_time(shared_router: Router) -> None:
    response = httpx.get(f"{shared_router.health_url}{HEALTH_PATH}", timeout=5)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"ok", "hosts", "digest", "loadedAt", "reloadError"}
    assert body["ok"] is True and body["reloadError"] is None
    assert body["hosts"] == len(HOSTS) and body["digest"] == DIGEST
    loaded = datetime.fromisoformat(body["loadedAt"].replace("Z", "+00:00"))
    assert timedelta(0) <= datetime.now(UTC) - loaded < timedelta(minutes=5)


@pytest.mark.parametrize("host", ["10.0.0.7:8081", "[fdaa::3]:8081", "bob.example.com", "<bad host>"])
def test_health_answers_on_its_port_whatever_the_host(shared_router: Router, host: str) -> None:
    response = httpx.get(f"{shared_router.health_url}{HEALTH_PATH}?probe=1", headers={"Host": host}, timeout=5)

    assert response.status_code == 200 and response.json()["ok"] is True
    assert "fly-replay" not in response.headers


def test_health_answers_on_its_port_without_a_host(shared_router: Router) -> None:
    status, answer = raw_exchange(shared_router.health_port, b"GET /_edge/health HTTP/1.0\r\n\r\n")

    assert status == 200 and '"ok":true' in answer


def test_health_answers_head_without_a_body_and_refuses_other_methods(shared_router: Router) -> None:
    with httpx.Client(base_url=shared_router.health_url, timeout=5) as http:
        head = http.head(HEALTH_PATH)
        post = http.post(HEALTH_PATH)

    assert head.status_code == 200 and head.content == b""
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/", "/_edge/health/", "/_edge", "/_EDGE/HEALTH", "/login"])
def test_the_health_port_answers_nothing_else(shared_router: Router, path: str) -> None:
    response = httpx.get(f"{shared_router.health_url}{path}", headers={"Host": "alice.example.com"}, timeout=5)

    assert response.status_code == 404 and response.text == "Not found\n"
    assert "fly-replay" not in response.headers


# Every tenant hostname and its state, the hostnames the map lacks, and no usable Host at all.
PUBLIC_HOSTS = [*HOSTS, "Alice.Example.com.:443", "nobody.example.com", "10.0.0.7:8080", "[fdaa::3]:8080"]
# The request target in each spelling an HTTP parser might map onto the health path.
TARGETS = [
    "/_edge/health",
    "/_edge/health?probe=1",
    "/_edge/health/",
    "//_edge/health",
    "/_edge/./health",
    "/_edge/health%3Fx",
    "/%5Fedge/health",
    "/_EDGE/health",
    "/_edge/health#x",
    "http://alice.example.com/_edge/health",
    "*",
]


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
@pytest.mark.parametrize("target", TARGETS)
def test_health_is_never_answered_on_the_public_port(shared_router: Router, host: str, target: str) -> None:
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()

    status, answer = raw_exchange(shared_router.port, request)

    assert status in (200, 400, 404, 410, 503), answer
    assert not [leak for leak in LEAKS if leak in answer], answer


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "OPTIONS"])
def test_health_is_never_answered_on_the_public_port_without_a_host(shared_router: Router, method: str) -> None:
    status, answer = raw_exchange(shared_router.port, f"{method} /_edge/health HTTP/1.0\r\n\r\n".encode())

    assert status == 400 and not [leak for leak in LEAKS if leak in answer], answer


def test_the_public_path_is_the_tenant_s_own(shared_router: Router) -> None:
    # An active tenant's `/_edge/health` goes to the tenant like every other path of theirs.
    response = httpx.get(f"{shared_router.url}/_edge/health", headers={"Host": "alice.example.com"}, timeout=5)

    assert response.status_code == 200 and response.headers["fly-replay"] == "app=ah-t0000001"
    assert response.content == b""


def test_a_reload_error_is_reported_on_the_health_port_only(start: StartRouter, map_path: Path) -> None:
    router = start()
    write_bytes(map_path, b"{not json")
    router.signal(signal.SIGHUP)
    wait_for("the reload error", lambda: router.health()["reloadError"] is not None)

    error = router.health()["reloadError"]
    for host in HOSTS:
        status, answer = raw_exchange(router.port, f"GET {HEALTH_PATH} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        assert error not in answer and str(map_path) not in answer and "not json" not in answer.lower(), answer


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PORT": "18181", "HEALTH_PORT": "18181"}, "HEALTH_PORT must differ from PORT (18181)"),
        ({"HEALTH_PORT": "80a"}, "HEALTH_PORT must be a whole number"),
        ({"HEALTH_PORT": "0"}, "HEALTH_PORT must be a whole number"),
        ({"HEALTH_PORT": "65536"}, "HEALTH_PORT must be a whole number"),
    ],
)
def test_a_health_port_that_cannot_be_used_stops_the_start_with_status_2(
    map_path: Path, env: dict[str, str], says: str
) -> None:
    write_map(map_path, HOSTS, DIGEST)

    result = run_until_exit(map_path, env)

    assert result.returncode == 2 and says in result.stderr, result.stderr
