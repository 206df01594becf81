"""Stderr gets one line per start, reload and stop; a line per request only with EDGE_ACCESS_LOG=1, and
never the path or query."""

from __future__ import annotations

import httpx

from tests.router.conftest import StartRouter


def test_requests_are_not_logged_by_default(start: StartRouter) -> None:
    router = start()
    httpx.get(f"{router.url}/secret-path?token=abc", headers={"Host": "alice.example.com"})
    router.stop()

    lines = router.output().splitlines()
    assert lines[0].startswith(f"edge: listening on 127.0.0.1:{router.port}: 5 hosts from ")
    assert lines[0].endswith(f", digest sha256:first; health check on 127.0.0.1:{router.health_port}")
    assert lines[1:] == ["edge: SIGTERM: stopping; requests in flight finish first (at most 10000 ms)", "edge: stopped"]


def test_the_access_log_has_one_line_per_request_without_path_or_query(start: StartRouter) -> None:
    router = start(EDGE_ACCESS_LOG="1")
    with httpx.Client(base_url=router.url) as http:
        http.get("/secret-path?token=abc", headers={"Host": "Alice.Example.com:443"})
        http.post("/x", headers={"Host": "bob.example.com"})
        http.get("/", headers={"Host": "nobody.example.com"})
    router.stop()

    output = router.output()
    assert "edge: GET alice.example.com 200 ah-t0000001" in output
    assert "edge: POST bob.example.com 503 ah-t0000002" in output
    assert "edge: GET nobody.example.com 404 -" in output
    assert "secret-path" not in output and "token" not in output
