"""At every boot the companion listens a second or two before Alex does. The request that woke the stopped
machine waits for Alex (bounded), its health says "not yet" until Alex answers, and after the bound the
visitor reads that the library is still starting, not that it is unavailable."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest

from tests.companion.harness import Companion
from tests.image.test_image_files import workflow
from tests.support.alex_web import PASSWORD, AlexWeb
from tests.support.poll import wait_until
from tests.support.servers import free_port


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def before_alex(start: Callable[..., Companion], **env: str) -> tuple[Companion, int]:
    """A companion started while nothing listens at its Alex address yet: that address's port."""
    port = free_port()
    companion = start(wait=False, alex_url=f"http://127.0.0.1:{port}", **env)
    companion.wait_for_output("listening on")
    return companion, port


def health(companion: Companion) -> httpx.Response:
    return httpx.get(f"{companion.url}/_hosted/healthz", timeout=10)


def wait_until_waiting(companion: Companion, count: int, pending: list[Future[httpx.Response]]) -> None:
    """Until the companion holds `count` requests (its health says so); fails if one was answered instead."""
    deadline = time.monotonic() + 10
    while health(companion).json().get("waiting") != count:
        done = [f.result() for f in pending if f.done()]
        assert not done, f"answered before Alex listened: {[(r.status_code, r.text[:200]) for r in done]}"
        assert time.monotonic() < deadline, f"the companion never held {count} request(s): {health(companion).text}"
        time.sleep(0.02)


def test_a_request_before_alex_listens_waits_and_gets_alex_answer(
    start: Callable[..., Companion], pool: ThreadPoolExecutor
) -> None:
    companion, port = before_alex(start)
    answer = health(companion)
    assert (answer.status_code, answer.json()) == (503, {"ok": False, "alex": False, "waiting": 0})

    pending = [pool.submit(httpx.get, f"{companion.url}/login?callbackUrl=%2F", timeout=20)]
    wait_until_waiting(companion, 1, pending)
    with AlexWeb(port=port):
        page = pending[0].result()
        assert page.status_code == 200
        assert "Sign in to Alex" in page.text
        answer = health(companion)
        assert (answer.status_code, answer.json()) == (200, {"ok": True, "alex": True, "waiting": 0})


def test_the_upload_page_and_api_wait_for_alex_too(
    start: Callable[..., Companion], pool: ThreadPoolExecutor, alex_web: AlexWeb
) -> None:
    """They ask Alex whether the visitor is signed in: asked too early, that was a 502."""
    companion, port = before_alex(start)
    # A session of the companion's database's reader (Alex's tokens are stateless: any Alex with the secret
    # reads it); the Alex at `port` binds its port when made, so it is made once the requests wait.
    cookie = {"Cookie": alex_web.cookie_header()}
    pending = [
        pool.submit(httpx.get, f"{companion.url}/_hosted/", headers=cookie, timeout=20),
        pool.submit(
            httpx.post,
            f"{companion.url}/_hosted/api/uploads",
            json={"name": "Book.pdf", "size": 10, "type": "application/pdf"},
            headers=cookie,
            timeout=20,
        ),
        pool.submit(httpx.post, f"{companion.url}/login", data={"email": "x", "password": PASSWORD}, timeout=20),
    ]
    wait_until_waiting(companion, 3, pending)
    with AlexWeb(port=port):
        page, planned, login = (f.result() for f in pending)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert planned.status_code == 200, planned.text
    assert login.status_code == 401, "a body sent while held reaches Alex whole"


def test_after_the_bound_the_visitor_is_told_the_library_is_still_starting(start: Callable[..., Companion]) -> None:
    companion, _ = before_alex(start, ALEX_START_WAIT_SECONDS="1")
    page = httpx.get(f"{companion.url}/library", timeout=10)
    assert page.status_code == 503
    assert page.headers["retry-after"] == "10"
    assert page.headers["content-type"].startswith("text/html")
    assert "taking longer than usual to start" in page.text
    assert "unavailable" not in page.text.lower()
    api = httpx.post(f"{companion.url}/_hosted/api/uploads", json={}, timeout=10)
    assert (api.status_code, api.headers["retry-after"]) == (503, "10")
    assert api.json() == {"error": "Your library is taking longer than usual to start. Please try again in a minute."}
    assert health(companion).json()["waiting"] == 0, "nothing is held after the bound"


def test_a_visitor_who_leaves_is_not_held(start: Callable[..., Companion]) -> None:
    companion, _ = before_alex(start)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{companion.url}/library", timeout=0.5)
    wait_until(lambda: health(companion).json()["waiting"] == 0, "the closed request to give up its place")


@pytest.mark.parametrize("value", ["0", "301", "ten", "-1"])
def test_a_bad_start_wait_stops_the_start(start: Callable[..., Companion], value: str) -> None:
    companion = start(wait=False, ALEX_START_WAIT_SECONDS=value)
    assert companion.proc.wait(10) == 2
    assert "ALEX_START_WAIT_SECONDS must be" in companion.output()


def test_the_image_workflow_smoke_check_passes_against_a_companion_without_alex(
    start: Callable[..., Companion],
) -> None:
    """The image's CI starts the companion alone (no Alex) and runs this check until it passes."""
    steps = workflow()["jobs"]["build"]["steps"]
    smoke = next(s for s in steps if "companion" in str(s.get("name", "")))
    check = re.search(r'node -e "(fetch\(.*?)"; then', smoke["run"])
    assert check is not None, smoke["run"]
    companion, _ = before_alex(start)
    script = check.group(1).replace('\\"', '"').replace("http://127.0.0.1:3000", companion.url)
    assert subprocess.run(["node", "-e", script], timeout=20).returncode == 0
