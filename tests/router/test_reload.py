"""SIGHUP (or, when enabled, a change to the file) re-reads the map and swaps it in whole; a refused map
leaves the old one serving and shows on the health check. Reloads never fail a request in flight."""

from __future__ import annotations

import functools
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.router.conftest import HOSTS, StartRouter
from tests.router.harness import Router, write_bytes, write_map

MOVED = {**HOSTS, "alice.example.com": {"app": "ah-t0000009"}, "fresh.example.com": {"app": "ah-t0000010"}}


def replay(router: Router, host: str) -> str | None:
    answer: str | None = httpx.get(f"{router.url}/", headers={"Host": host}, timeout=5).headers.get("fly-replay")
    return answer


def wait_for(condition: str, check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


def test_sighup_swaps_in_the_new_map(start: StartRouter, map_path: Path) -> None:
    router = start()
    before = router.health()
    write_map(map_path, MOVED, "sha256:second")

    router.reload_to("sha256:second")

    after = router.health()
    assert after["hosts"] == len(MOVED) and after["reloadError"] is None and after["loadedAt"] > before["loadedAt"]
    assert replay(router, "alice.example.com") == "app=ah-t0000009"
    assert replay(router, "fresh.example.com") == "app=ah-t0000010"
    assert "reloaded on SIGHUP: 6 hosts, digest sha256:second" in router.output()


def test_a_bad_map_on_reload_keeps_the_old_one_and_health_says_why(start: StartRouter, map_path: Path) -> None:
    router = start()
    write_bytes(map_path, b'{"version": 2, "digest": "bad", "hosts": {}}')

    router.signal(signal.SIGHUP)
    wait_for("the reload error", lambda: router.health()["reloadError"] is not None)

    health = router.health()
    assert health["reloadError"] == f"map {map_path}: version must be 1, got 2"
    assert health["digest"] == "sha256:first" and health["hosts"] == len(HOSTS)
    assert replay(router, "alice.example.com") == "app=ah-t0000001"
    refusals = [line for line in router.output().splitlines() if "refused" in line]
    assert refusals == [f"edge: reload on SIGHUP refused, still serving digest sha256:first: {health['reloadError']}"]

    write_map(map_path, MOVED, "sha256:fixed")
    router.reload_to("sha256:fixed")
    assert router.health()["reloadError"] is None


def test_a_vanished_map_on_reload_keeps_the_old_one(start: StartRouter, map_path: Path) -> None:
    router = start()
    map_path.unlink()

    router.signal(signal.SIGHUP)
    wait_for("the reload error", lambda: router.health()["reloadError"] is not None)

    assert router.health()["reloadError"] == f"map {map_path}: cannot be read (ENOENT)"
    assert replay(router, "alice.example.com") == "app=ah-t0000001"


def test_a_changed_file_is_reloaded_when_watching_is_on(start: StartRouter, map_path: Path) -> None:
    router = start(EDGE_WATCH_MS="50")
    write_map(map_path, MOVED, "sha256:watched", compress=True)

    wait_for("the watcher's reload", lambda: router.health()["digest"] == "sha256:watched")

    assert replay(router, "alice.example.com") == "app=ah-t0000009"
    assert "reloaded on file change" in router.output()


def test_the_file_is_not_watched_when_watching_is_off(start: StartRouter, map_path: Path) -> None:
    router = start(EDGE_WATCH_MS="0")
    control = start(EDGE_WATCH_MS="50")  # the same file, watched: it shows when a change could be seen
    write_map(map_path, MOVED, "sha256:unwatched")

    wait_for("the watching router's reload", lambda: control.health()["digest"] == "sha256:unwatched")

    assert router.health()["digest"] == "sha256:first"


def test_reloads_under_concurrent_keep_alive_load_fail_no_request(start: StartRouter, map_path: Path) -> None:
    router = start()
    stop = threading.Event()
    errors: list[str] = []
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(base_url=router.url, timeout=5) as http:
            while not stop.is_set():
                for host, answers in (
                    ("alice.example.com", {"app=ah-t0000001", "app=ah-t0000009"}),
                    ("fresh.example.com", {"app=ah-t0000010", None}),
                ):
                    try:
                        response = http.get("/", headers={"Host": host})
                        answer = response.headers.get("fly-replay")
                        ok = answer in answers and response.status_code == (404 if answer is None else 200)
                    except httpx.HTTPError as err:
                        ok, answer = False, repr(err)
                    with lock:
                        if ok:
                            seen[f"{host} {answer}"] += 1
                        else:
                            errors.append(f"{host}: {answer}")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()

    def served() -> int:
        with lock:
            return sum(seen.values())

    def served_past(count: int) -> bool:
        return served() >= count

    try:
        wait_for("the load to run", lambda: served() >= 20)
        for reload in range(1, 12):  # odd reloads move alice; the 11th and last does
            write_map(map_path, MOVED if reload % 2 else HOSTS, f"sha256:reload-{reload}")
            router.reload_to(f"sha256:reload-{reload}")
            wait_for("requests on the new map", functools.partial(served_past, served() + 20))
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)

    assert errors == []
    # Both maps answered while the load ran: the swaps happened under it, not before or after.
    assert seen["alice.example.com app=ah-t0000001"] > 0 and seen["alice.example.com app=ah-t0000009"] > 0
    assert seen["fresh.example.com app=ah-t0000010"] > 0 and seen["fresh.example.com None"] > 0
    assert sum(seen.values()) > 200, seen
    wait_for("the last reload", lambda: router.health()["digest"] == "sha256:reload-11")
    assert replay(router, "alice.example.com") == "app=ah-t0000009"
    assert router.output().count("reloaded on SIGHUP") == 11
