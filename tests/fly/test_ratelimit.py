"""Token bucket: Fly's 1 req/s with bursts of 3, on a fake clock (no real sleeping)."""

from __future__ import annotations

import pytest

from providers.fly.ratelimit import RateLimiter, TokenBucket
from tests.fly.clock import FakeTime


def test_token_bucket_allows_burst_then_paces_at_rate():
    t = FakeTime()
    bucket = TokenBucket(1.0, 3, clock=t.clock, sleep=t.sleep)
    delays = [bucket.acquire() for _ in range(6)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:] == pytest.approx([1.0, 1.0, 1.0])
    assert t.now == pytest.approx(3.0)


def test_token_bucket_refills_while_idle_up_to_burst():
    t = FakeTime()
    bucket = TokenBucket(1.0, 3, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        bucket.acquire()
    t.now += 100.0
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(1.0)


def test_rate_limiter_separate_buckets_per_action_and_app():
    t = FakeTime()
    limiter = RateLimiter(1.0, 1, clock=t.clock, sleep=t.sleep)
    assert limiter.acquire("create", "a") == 0.0
    assert limiter.acquire("create", "b") == 0.0
    assert limiter.acquire("get", "a") == 0.0
    assert limiter.acquire("create", "a") == pytest.approx(1.0)


def test_token_bucket_rejects_nonsense_rate():
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 3)
