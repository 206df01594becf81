"""billing.coalesce: events acknowledged at once, one call per burst, calls one after another, failures
tried again after a growing pause. Tests wait on the runner's own conditions, never on a timer."""

from __future__ import annotations

import threading

from billing.coalesce import Coalescer


class Action:
    def __init__(self, results: list[bool] | None = None, gate: threading.Event | None = None) -> None:
        self.counts: list[int] = []
        self.results = list(results or [])
        self.gate = gate
        self.started = threading.Event()
        self.overlap = False
        self._busy = threading.Lock()

    def __call__(self, count: int) -> bool:
        if not self._busy.acquire(blocking=False):
            self.overlap = True
            return True
        try:
            self.started.set()
            if self.gate is not None:
                self.gate.wait(10)
            self.counts.append(count)
            return self.results.pop(0) if self.results else True
        finally:
            self._busy.release()


def test_a_burst_inside_the_window_is_one_call_with_its_count():
    action = Action()
    runner = Coalescer(action, debounce_s=0.2)
    for _ in range(5):
        runner.notify()
    assert runner.pending == 5
    assert runner.wait_idle(10)
    assert action.counts == [5]


def test_events_during_a_call_wait_for_it_and_make_one_more():
    gate = threading.Event()
    action = Action(gate=gate)
    runner = Coalescer(action, debounce_s=0.0)
    runner.notify()
    assert action.started.wait(10)
    for _ in range(7):
        runner.notify()
    gate.set()
    assert runner.wait_runs(2, 10) and runner.wait_idle(10)
    assert action.counts == [1, 7] and not action.overlap


def test_a_failed_call_is_tried_again_with_its_events_kept():
    action = Action(results=[False, False, True])
    runner = Coalescer(action, debounce_s=0.0, retry_s=0.01)
    runner.notify()
    runner.notify()
    assert runner.wait_runs(3, 10) and runner.wait_idle(10)
    assert action.counts == [2, 2, 2]


def test_without_a_retry_a_failed_call_waits_for_the_next_event():
    action = Action(results=[False])
    runner = Coalescer(action, debounce_s=0.0)
    runner.notify()
    assert runner.wait_runs(1, 10) and runner.wait_idle(10)
    assert runner.pending == 0 and action.counts == [1]


def test_an_action_that_raises_is_logged_in_one_line_and_the_runner_lives_on(capfd):
    calls = []

    def broken(count: int) -> bool:
        calls.append(count)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return True

    runner = Coalescer(broken, debounce_s=0.0, name="test")
    runner.notify()
    assert runner.wait_runs(1, 10) and runner.wait_idle(10)
    runner.notify()
    assert runner.wait_runs(2, 10)
    err = capfd.readouterr().err
    assert "test: run failed: RuntimeError" in err and "Traceback" not in err


def test_close_drops_an_open_window():
    action = Action()
    runner = Coalescer(action, debounce_s=60)
    runner.notify()
    runner.close()
    runner.notify()  # after close: counted, never run
    assert runner.pending == 2 and runner.runs == 0 and action.counts == []
