"""Fifty tenants in one `up` (issue: parallel creates hit Fly's rate limit and were not retried).

The real engine runs resource steps in parallel, so a first `up` of many tenants sends many app, volume
and machine creates at once; Fly answers some of them 429. A 429 means the request was not processed, so
the client retries it (after Retry-After, or backoff), POST included, and the `up` completes with exactly
one app, volume and machine per tenant.
"""

from __future__ import annotations

from collections import Counter

from tests.e2e.conftest import bucket_names, tenant

STACK = "e2e"
COUNT = 50


def test_fifty_new_tenants_come_up_in_one_up_under_flys_rate_limits(workspace, config, fly, cloudflare):
    roster = [tenant(f"e2emany{n:03d}", f"reader{n:03d}") for n in range(COUNT)]
    workspace.new_stack(STACK, config, roster)

    workspace.up(STACK).check()

    assert [r for r in fly.requests if r.status == 429], "Fly's limits were never reached: the test proves nothing"
    apps = Counter(a.name for a in fly.state.apps.values())
    assert len(apps) == COUNT + 1 and set(apps.values()) == {1}  # the tenants and the edge, each once
    machines = Counter(m.app for m in fly.state.machines.values() if m.state != "destroyed")
    assert sum(1 for app in machines if not app.endswith("-edge")) == COUNT and max(machines.values()) <= 2
    volumes = Counter(v.app for v in fly.state.volumes.values() if v.state != "destroyed")
    assert len(volumes) == COUNT and set(volumes.values()) == {1}
    assert len(bucket_names(cloudflare)) == COUNT
    workspace.preview(STACK, "--no-changes").check()
