"""Roster writers in different processes: of several that read the same text, exactly one writes.

The webhook's thread lock covers only its own process; the hourly sync, `storage --suspend-after` and
a second webhook are other processes. Each round here starts every writer from the same read, lines
them up on a barrier and lets them write at once: without a lock across the compare and the rename,
two "win" and one change vanishes.
"""

from __future__ import annotations

import multiprocessing
from contextlib import AbstractContextManager
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from tenants.roster import RosterChanged, RosterEntry, dump_roster, load_roster, lock_path, read_roster, write_roster

WRITERS = 4
ROUNDS = 25
WAIT = 60.0  # seconds any barrier may wait: a deadlock fails the test instead of hanging the suite


def _tenant(writer: int, round_: int) -> RosterEntry:
    return RosterEntry(
        f"w{writer}r{round_:03d}x", f"w{writer}-r{round_:03d}", f"w{writer}@example.org", "free", "active"
    )


def _writer(writer: int, path: str, barrier: Barrier, results: Queue[tuple[int, int, str]]) -> None:
    for round_ in range(ROUNDS):
        barrier.wait(WAIT)  # the previous round is settled
        tenants, text = read_roster(path)
        barrier.wait(WAIT)  # everyone holds the same text: now race
        try:
            write_roster(path, [*tenants, _tenant(writer, round_)], expected=text)
            outcome = "won"
        except RosterChanged as exc:
            outcome = "lost" if path in str(exc) else f"lost without naming the roster: {exc}"
        except Exception as exc:  # anything else is a failure the parent must see, not a hung barrier
            outcome = f"error: {exc!r}"
        results.put((round_, writer, outcome))


def test_roster_writers_in_separate_processes_never_lose_an_accepted_change(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    write_roster(path, [])
    context = multiprocessing.get_context("spawn")  # no fork of a threaded pytest process
    barrier = context.Barrier(WRITERS)
    results: Queue[tuple[int, int, str]] = context.Queue()
    workers = [context.Process(target=_writer, args=(i, str(path), barrier, results)) for i in range(WRITERS)]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=WAIT) for _ in range(WRITERS * ROUNDS)]
    finally:
        for worker in workers:
            worker.join(timeout=WAIT)
            if worker.is_alive():
                worker.kill()
    assert not [o for o in outcomes if o[2] not in ("won", "lost")], outcomes
    winners = {(r, w) for r, w, outcome in outcomes if outcome == "won"}
    per_round = [sum(1 for r, _ in winners if r == round_) for round_ in range(ROUNDS)]
    assert per_round == [1] * ROUNDS, "each round must have exactly one winner"
    # Every accepted change is in the file, and nothing else is.
    assert {t.id for t in load_roster(path)} == {_tenant(w, r).id for r, w in winners}
    assert lock_path(path).exists() and lock_path(path).name == ".dev.yaml.lock"


def test_roster_write_waits_for_the_lock_and_then_sees_the_other_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compare happens under the lock: a write that lands while we wait for it is detected."""
    import tenants.roster as roster_module

    path = tmp_path / "dev.yaml"
    write_roster(path, [])
    tenants, text = read_roster(path)
    real_lock = roster_module.roster_lock

    def lock_after_someone_else_wrote(target: Path) -> AbstractContextManager[None]:
        # Another writer held the lock and replaced the file while this one waited for it.
        target.write_text(dump_roster([_tenant(9, 0)]), encoding="utf-8")
        return real_lock(target)

    monkeypatch.setattr(roster_module, "roster_lock", lock_after_someone_else_wrote)
    with pytest.raises(RosterChanged, match=r"dev\.yaml: 1 problem:\n  - changed on disk since it was read"):
        write_roster(path, [*tenants, _tenant(1, 0)], expected=text)
    assert [t.id for t in load_roster(path)] == [_tenant(9, 0).id]
