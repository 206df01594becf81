"""create_or_adopt, delete_until_gone, Deadline and the machine wait/lease loops, on a fake clock."""

from __future__ import annotations

import httpx
import pytest

from providers.fly import machine as machine_mod
from providers.fly.client import FlyClient
from providers.fly.converge import create_or_adopt, delete_until_gone
from providers.fly.deadline import Deadline
from providers.fly.errors import FlyError, FlyNotFoundError, FlyRequestError, FlyResourceError, FlyStatusError
from providers.fly.normalize import CREATE_KEY
from providers.fly.states import MACHINE_GONE, VOLUME_GONE
from tests.fly.clock import FakeTime


def status(code: int) -> FlyStatusError:
    return FlyStatusError("POST", "/v1/apps/a/volumes", code, "boom", None)


class Script:
    """`create` raises the scripted errors in turn, then returns "made"; `find` answers from `found`."""

    def __init__(self, *errors: FlyError, found: list[str | None] | None = None) -> None:
        self.errors = list(errors)
        self.found = list(found or [])
        self.log: list[str] = []

    def create(self) -> str:
        self.log.append("post")
        if self.errors:
            raise self.errors.pop(0)
        return "made"

    def find(self) -> str | None:
        self.log.append("find")
        return self.found.pop(0) if self.found else None


def adopt(script: Script, t: FakeTime, *, retries: int = 4, seconds: float = 60.0, **kwargs) -> str:
    return create_or_adopt(
        script.find,
        script.create,
        deadline=Deadline(seconds, "test", clock=t.clock, sleep=t.sleep),
        retries=retries,
        backoff=lambda attempt: 2.0**attempt,
        **kwargs,
    )


def test_create_or_adopt_adopts_what_an_earlier_run_made_without_posting():
    script = Script(found=["earlier"])
    assert adopt(script, FakeTime()) == "earlier" and script.log == ["find"]


@pytest.mark.parametrize(
    "error",
    [FlyRequestError("POST", "/p", "ReadTimeout"), status(408), status(500), status(502), status(503), status(504)],
)
def test_create_or_adopt_looks_before_posting_again_after_an_ambiguous_failure(error):
    t = FakeTime()
    script = Script(error, found=[None, "made-by-the-lost-post"])
    assert adopt(script, t) == "made-by-the-lost-post"
    assert script.log == ["find", "post", "find"] and t.slept == [1.0]


def test_create_or_adopt_posts_again_only_when_the_look_finds_nothing():
    t = FakeTime()
    script = Script(status(500), status(502))
    assert adopt(script, t) == "made"
    assert script.log == ["find", "post", "find", "post", "find", "post"] and t.slept == [1.0, 2.0]


def test_create_or_adopt_ends_on_a_429_the_client_gave_up_on_without_looking_again():
    """Fly did nothing with a 429, and the client retried it until the call's deadline: nothing to adopt."""
    script = Script(status(429))
    with pytest.raises(FlyStatusError) as caught:
        adopt(script, FakeTime())
    assert caught.value.status == 429 and script.log == ["find", "post"]


def test_create_or_adopt_raises_a_clear_refusal_at_once():
    script = Script(status(400))
    with pytest.raises(FlyStatusError) as caught:
        adopt(script, FakeTime())
    assert caught.value.status == 400 and script.log == ["find", "post"]


def test_create_or_adopt_stops_after_its_retries_and_looks_once_more_first():
    t = FakeTime()
    script = Script(*[status(500)] * 10)
    with pytest.raises(FlyStatusError):
        adopt(script, t, retries=2)
    assert script.log.count("post") == 3 and script.log[-2:] == ["post", "find"]
    assert t.slept == [1.0, 2.0]  # no wait before the last look: nothing is posted after it


def test_create_or_adopt_stops_at_the_deadline_on_the_fake_clock():
    t = FakeTime()
    script = Script(*[status(503)] * 10)
    with pytest.raises(FlyStatusError):
        adopt(script, t, retries=100, seconds=5.0)
    assert t.now == pytest.approx(5.0) and t.slept == [1.0, 2.0, 2.0]  # the last sleep is cut at the deadline


def test_create_or_adopt_exists_status_adopts_or_raises():
    script = Script(status(422), found=["there"])
    assert adopt(script, FakeTime(), retries=0, look_first=False, exists=frozenset({422})) == "there"
    assert script.log == ["post", "find"]
    with pytest.raises(FlyStatusError):
        adopt(Script(status(422)), FakeTime(), retries=0, look_first=False, exists=frozenset({422}))


def deleter(*outcomes: FlyError | None):
    log: list[str] = []
    queue = list(outcomes)

    def delete() -> None:
        log.append("delete")
        outcome = queue.pop(0) if queue else None
        if outcome is not None:
            raise outcome

    return delete, log


def test_delete_until_gone_404_is_already_gone():
    delete, log = deleter(FlyNotFoundError("DELETE", "/p", 404, "", None))
    assert delete_until_gone(delete) is False and log == ["delete"]


def test_delete_until_gone_retries_busy_under_the_deadline_on_the_fake_clock():
    t = FakeTime()
    delete, log = deleter(status(412), status(409), None)
    deadline = Deadline(10.0, "unbind", clock=t.clock, sleep=t.sleep)
    assert delete_until_gone(delete, busy=frozenset({409, 412}), deadline=deadline, pause=lambda n: n + 1.0)
    assert log == ["delete"] * 3 and t.slept == [1.0, 2.0]


def test_delete_until_gone_gives_up_when_still_busy_at_the_deadline():
    t = FakeTime()
    delete, _ = deleter(*[status(412)] * 100)
    deadline = Deadline(3.0, "unbind", clock=t.clock, sleep=t.sleep)
    with pytest.raises(FlyStatusError):
        delete_until_gone(delete, busy=frozenset({412}), deadline=deadline, pause=lambda _n: 1.0)
    assert t.now == pytest.approx(3.0)


def test_delete_until_gone_without_deadline_takes_busy_as_on_its_way_out_and_raises_the_rest():
    delete, log = deleter(status(409))
    assert delete_until_gone(delete, busy=frozenset({409})) is True and log == ["delete"]
    delete, _ = deleter(status(500))
    with pytest.raises(FlyStatusError):
        delete_until_gone(delete, busy=frozenset({409}))


def test_deadline_runs_on_the_clock_it_is_given():
    t = FakeTime(100.0)
    deadline = Deadline(5.0, "x", clock=t.clock, sleep=t.sleep)
    deadline.sleep(3.0)
    assert deadline.remaining() == pytest.approx(2.0) and not deadline.passed()
    deadline.sleep(10.0)  # never past the end
    assert t.slept == [3.0, 2.0] and deadline.passed()


def fake_client(handler, t: FakeTime) -> FlyClient:
    return FlyClient(
        base_url="http://fly.test",
        token="converge-token",
        transport=httpx.MockTransport(handler),
        sleep=t.sleep,
        clock=t.clock,
        jitter=lambda: 1.0,
        retry_base_s=0.5,
    )


def test_wait_for_keeps_waiting_through_408_and_gives_up_at_its_deadline(monkeypatch):
    monkeypatch.setenv("ALEX_FLY_WAIT_DEADLINE_S", "90")
    t = FakeTime()
    timeouts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.url.params["timeout"])
        t.now += float(request.url.params["timeout"])  # Fly holds /wait that long before its 408
        return httpx.Response(408, json={"error": "deadline_exceeded"})

    with pytest.raises(FlyResourceError, match="did not reach state 'started' within 90s"):
        machine_mod.wait_for(fake_client(handler, t), "a", "m1", "started")
    assert timeouts == ["60", "30"] and t.slept == []


def test_wait_for_backs_off_on_the_fake_clock_after_a_dropped_wait(monkeypatch):
    monkeypatch.setenv("ALEX_FLY_WAIT_DEADLINE_S", "30")
    t = FakeTime()
    answers = iter([0, 503, 200])  # 0: the connection drops

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer == 0:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(answer, json={})

    machine_mod.wait_for(fake_client(handler, t), "a", "m1", "started")
    assert t.slept == [0.5, 1.0]


def test_lease_held_elsewhere_is_retried_then_a_clear_error_on_the_fake_clock(monkeypatch):
    monkeypatch.setenv("ALEX_FLY_WAIT_DEADLINE_S", "5")
    t = FakeTime()

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"error": "machine is leased"})

    with pytest.raises(FlyResourceError, match="leased by someone else"):
        machine_mod._acquire_lease(fake_client(handler, t), "a", "m1")
    assert t.now == pytest.approx(5.0)


@pytest.mark.parametrize("state", sorted(MACHINE_GONE))
def test_machine_lookup_after_an_ambiguous_create_never_adopts_a_gone_machine(state):
    """Drift: the provider's GONE lacked `replaced` and `migrated` (scripts/status.py had them)."""
    key = machine_mod.create_key("a", "web")
    listed = [{"id": "m-old", "state": state, "config": {"metadata": {CREATE_KEY: key}}}]
    fly = fake_client(lambda _r: httpx.Response(200, json=listed), FakeTime())
    assert machine_mod._find(fly, "a", key) is None
    live = [{**listed[0], "state": "started"}]
    fly = fake_client(lambda _r: httpx.Response(200, json=live), FakeTime())
    assert machine_mod._find(fly, "a", key) == live[0]


def test_volume_gone_states_cover_the_whole_destroy_path():
    """Drift: scripts/status.py's copy lacked `scheduling_destroy`, the first step of a volume's destroy."""
    assert {"scheduling_destroy", "pending_destroy", "destroying", "destroyed"} <= VOLUME_GONE
