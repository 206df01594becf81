"""`GET|HEAD /_edge/health` answers 200 with the map's size and digest whatever the Host, because Fly's
checks use the machine's own address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.router.conftest import DIGEST, HOSTS
from tests.router.harness import Router, raw_exchange


def test_health_reports_the_maps_size_digest_and_load_time(client: httpx.Client) -> None:
    response = client.get("/_edge/health")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"ok", "hosts", "digest", "loadedAt", "reloadError"}
    assert body["ok"] is True and body["reloadError"] is None
    assert body["hosts"] == len(HOSTS) and body["digest"] == DIGEST
    loaded = datetime.fromisoformat(body["loadedAt"].replace("Z", "+00:00"))
    assert timedelta(0) <= datetime.now(UTC) - loaded < timedelta(minutes=5)


@pytest.mark.parametrize("host", ["10.0.0.7:8080", "bob.example.com", "alice.example.com", "<bad host>"])
def test_health_answers_whatever_the_host(client: httpx.Client, host: str) -> None:
    response = client.get("/_edge/health?probe=1", headers={"Host": host})

    assert response.status_code == 200 and response.json()["ok"] is True
    assert "fly-replay" not in response.headers


def test_health_answers_without_a_host(shared_router: Router) -> None:
    status, answer = raw_exchange(shared_router.port, b"GET /_edge/health HTTP/1.0\r\n\r\n")

    assert status == 200 and '"ok":true' in answer


def test_health_answers_head_without_a_body_and_refuses_other_methods(client: httpx.Client) -> None:
    head = client.head("/_edge/health")
    post = client.post("/_edge/health", headers={"Host": "alice.example.com"})

    assert head.status_code == 200 and head.content == b""
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
    assert "fly-replay" not in post.headers
