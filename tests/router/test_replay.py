"""A known, active host is answered with `fly-replay: app=<its app>` and nothing else: Fly's proxy
replays the request to the tenant. A request Fly already replayed here is a loop and is not replayed."""

from __future__ import annotations

import httpx


def test_an_active_tenants_hostname_is_replayed_to_its_app(client: httpx.Client) -> None:
    response = client.get("/library/books?page=2", headers={"Host": "alice.example.com"})

    assert response.status_code == 200
    assert response.headers["fly-replay"] == "app=ah-t0000001"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""


def test_a_custom_domain_is_replayed_to_its_tenants_app(client: httpx.Client) -> None:
    response = client.get("/", headers={"Host": "books.alice.net"})

    assert response.status_code == 200
    assert response.headers["fly-replay"] == "app=ah-t0000001"


def test_any_method_is_replayed_and_its_body_is_never_proxied(client: httpx.Client) -> None:
    body = b"x" * 200_000
    posted = client.post("/api/things", headers={"Host": "alice.example.com"}, content=body)
    deleted = client.delete("/api/things/1", headers={"Host": "alice.example.com"})

    assert posted.status_code == 200 and posted.content == b""
    assert posted.headers["fly-replay"] == "app=ah-t0000001"
    # The unread body did not spoil the keep-alive connection for the next request.
    assert deleted.status_code == 200 and deleted.headers["fly-replay"] == "app=ah-t0000001"


def test_suspended_cancelled_and_unknown_hosts_are_never_replayed(client: httpx.Client) -> None:
    for host in ("bob.example.com", "carol.example.com", "dave.example.com", "nobody.example.com"):
        response = client.get("/", headers={"Host": host})
        assert response.status_code in (503, 410, 404), (host, response.status_code)
        assert "fly-replay" not in response.headers, host


def test_a_request_fly_already_replayed_here_is_a_loop_and_not_replayed_again(client: httpx.Client) -> None:
    response = client.get(
        "/", headers={"Host": "alice.example.com", "fly-replay-src": "instance=3d8d9e2b;region=ams;t=1767225600000000"}
    )

    assert response.status_code == 508
    assert "fly-replay" not in response.headers
    assert "Loop detected" in response.text
