"""Faults during a real `up` (step 5): what Fly and Cloudflare do mid-update never leaves a duplicate, and
the next `up` converges with nothing left to change.

The faults are the ones production sees: 429s (with and without Retry-After), 5xx, an answer lost after the
work was done (the object exists, the client saw an error), a dropped connection. The engine runs the
creates in parallel, as in production.
"""

from __future__ import annotations

from collections import Counter

from emulators.faults import Fault
from tests.e2e.conftest import bucket_names, dns_records, tenant, token_count

STACK = "e2e"
ROSTER = [tenant("e2efault01", "first"), tenant("e2efault02", "second"), tenant("e2efault03", "third")]


def assert_one_of_everything(fly, cloudflare) -> None:
    apps = Counter(a.name for a in fly.state.apps.values())
    assert set(apps.values()) == {1}, apps
    assert set(apps) == {"e2e-edge", *(f"e2e-{t['id']}" for t in ROSTER)}
    machines = Counter(m.app for m in fly.state.machines.values() if m.state != "destroyed")
    assert {app: n for app, n in machines.items() if not app.endswith("-edge")} == {f"e2e-{t['id']}": 1 for t in ROSTER}
    assert machines["e2e-edge"] == 2  # one router per edge region
    volumes = Counter(v.app for v in fly.state.volumes.values() if v.state != "destroyed")
    assert set(volumes.values()) == {1} and len(volumes) == len(ROSTER), volumes
    assert bucket_names(cloudflare) == sorted(f"alex-{t['id']}" for t in ROSTER)
    assert token_count(cloudflare) == len(ROSTER)
    assert Counter(r["name"] for r in dns_records(cloudflare)) == {"*.books.test": 1, "_acme-challenge.books.test": 1}


def test_faults_a_client_can_recover_from_are_recovered_in_the_same_up(workspace, config, fly, cloudflare):
    workspace.new_stack(STACK, config, ROSTER)
    fly.inject(Fault(path=r"^/v1/apps$", method="POST", status=500, when="after_work"))  # created, answer lost
    fly.inject(Fault(path=r"/volumes$", method="POST", status=429, headers={"Retry-After": "1"}))
    fly.inject(Fault(path=r"/machines$", method="POST", drop=True, when="after_work"))  # created, connection lost
    fly.inject(Fault(path=r"/secrets$", method="POST", status=429))  # no Retry-After: Fly documents none
    cloudflare.inject(Fault(path=r"/r2/buckets$", method="POST", status=429, headers={"Retry-After": "1"}))
    cloudflare.inject(Fault(path=r"/tokens$", method="POST", status=500))
    cloudflare.inject(Fault(path=r"/dns_records$", method="POST", status=502, times=2))

    workspace.up(STACK).check()
    assert_one_of_everything(fly, cloudflare)

    fly.reset_log()
    cloudflare.reset_log()
    assert workspace.up(STACK).check().changes() == {}
    assert fly.writes() == 0 and cloudflare.writes() == []


def test_an_up_that_faults_break_converges_on_the_next_with_no_duplicate(workspace, config, fly, cloudflare):
    workspace.new_stack(STACK, config, ROSTER)
    fly.inject(Fault(path=r"e2efault02/machines$", method="POST", status=500, times=50))  # a region down
    cloudflare.inject(Fault(path=r"/tokens$", method="POST", status=503, times=50, skip=1))
    broken = workspace.up(STACK)
    assert broken.returncode != 0 and broken.failures(), broken.output[-2000:]
    # --continue-on-error: what did not depend on the failures was still done
    assert "e2e-e2efault01" in {a.name for a in fly.state.apps.values()}

    fly.clear_faults()
    cloudflare.clear_faults()
    workspace.up(STACK).check()
    workspace.preview(STACK, "--no-changes").check()
    assert_one_of_everything(fly, cloudflare)
