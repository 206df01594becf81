"""Checkout Sessions by id: Stripe asked once per id in a while, in bounded memory."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import stripe

from signup.sessions import Completed, Missing, Sessions


class FakeSessions:
    """`client.v1.checkout.sessions.retrieve`, counting calls; ids it does not hold are Stripe's 404."""

    def __init__(self, held: dict[str, Any]) -> None:
        self.held = held
        self.calls: list[str] = []

    def retrieve(self, session_id: str) -> Any:
        self.calls.append(session_id)
        if session_id not in self.held:
            raise stripe.InvalidRequestError(f"No such checkout.session: '{session_id}'", "id")
        return self.held[session_id]


def client_with(held: dict[str, Any]) -> tuple[Any, FakeSessions]:
    sessions = FakeSessions(held)
    return SimpleNamespace(v1=SimpleNamespace(checkout=SimpleNamespace(sessions=sessions))), sessions


def session(status: str = "complete", username: str | None = "new-reader", email: str = "r@example.org") -> Any:
    return SimpleNamespace(
        status=status,
        metadata={"username": username} if username is not None else {},
        customer_details=SimpleNamespace(email=email),
        customer_email=None,
    )


def test_a_made_up_id_is_asked_once_until_its_memory_expires():
    now = [0.0]
    client, fake = client_with({})
    sessions = Sessions(client, missing_ttl_s=600, clock=lambda: now[0])
    assert sessions.lookup("cs_test_x") == Missing()
    assert sessions.cached("cs_test_x") == Missing()
    now[0] += 599
    assert sessions.cached("cs_test_x") == Missing()
    now[0] += 1
    assert sessions.cached("cs_test_x") is None  # forgotten: Stripe may be asked again
    assert fake.calls == ["cs_test_x"]


def test_an_unfinished_session_is_remembered_briefly_a_completed_one_for_good():
    now = [0.0]
    client, fake = client_with({"cs_test_open": session("open"), "cs_test_done": session()})
    sessions = Sessions(client, unfinished_ttl_s=5, clock=lambda: now[0])
    assert sessions.lookup("cs_test_open") == Missing(unfinished=True)
    assert sessions.lookup("cs_test_done") == Completed("new-reader", "r@example.org")
    now[0] += 5
    assert sessions.cached("cs_test_open") is None
    now[0] += 10**6
    assert sessions.cached("cs_test_done") == Completed("new-reader", "r@example.org")


@pytest.mark.parametrize(
    "found", [session(username=None), session(username="Not A Name"), session(status="expired")], ids=str
)
def test_a_session_that_is_not_a_completed_signup_of_ours_is_missing(found):
    client, _ = client_with({"cs_test_1": found})
    assert Sessions(client).lookup("cs_test_1") == Missing()


def test_the_memories_are_bounded_oldest_first_out():
    client, _ = client_with({f"cs_test_ok{n}": session() for n in range(5)})
    sessions = Sessions(client, known_limit=3, missing_limit=4)
    for n in range(5):
        sessions.lookup(f"cs_test_ok{n}")
        sessions.lookup(f"cs_test_no{n}")
    assert len(sessions) == 3 + 4
    assert sessions.cached("cs_test_ok0") is None and sessions.cached("cs_test_ok4") is not None
    assert sessions.cached("cs_test_no0") is None and sessions.cached("cs_test_no4") == Missing()


def test_a_stripe_failure_is_not_remembered():
    client, fake = client_with({})

    def down(session_id: str) -> Any:
        raise stripe.APIConnectionError("unreachable")

    fake.retrieve = down  # type: ignore[method-assign]
    sessions = Sessions(client)
    with pytest.raises(stripe.APIConnectionError):
        sessions.lookup("cs_test_x")
    assert sessions.cached("cs_test_x") is None
