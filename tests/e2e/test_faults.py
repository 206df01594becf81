"""Faults during a real `up` (step 5): whatever Fly and Cloudflare do mid-update, the next `up` converges
with no duplicate anywhere, and then nothing is left to change.

The faults are the ones production sees: a 429 with Retry-After and a 500 on creates, an answer lost after
the work was done (the object exists, the client saw an error), a dropped connection. The engine runs the
creates in parallel, as in production.
"""

from __future__ import annotations

from collections import Counter

from emulators.faults import Fault
from tests.e2e.conftest import bucket_names, dns_records, tenant, token_count

STACK = "e2e"
ROSTER = [tenant("e2efault01", "first"), tenant("e2efault02", "second"), tenant("e2efault03", "third")]


def test_an_up_hit_by_faults_converges_on_the_next_with_no_duplicate(workspace, config, fly, cloudflare):
    workspace.new_stack(STACK, config, ROSTER)
    fly.inject(Fault(path=r"^/v1/apps$", method="POST", status=500, when="after_work"))  # created, answer lost
    fly.inject(Fault(path=r"/volumes$", method="POST", status=429, headers={"Retry-After": "1"}))
    fly.inject(Fault(path=r"/machines$", method="POST", drop=True, when="after_work"))  # created, connection lost
    cloudflare.inject(Fault(path=r"/r2/buckets$", method="POST", status=429, headers={"Retry-After": "1"}))
    cloudflare.inject(Fault(path=r"/tokens$", method="POST", status=500))
    cloudflare.inject(Fault(path=r"/dns_records$", method="POST", status=502, times=2))
    workspace.up(STACK)  # may fail part-way: that is the point

    workspace.up(STACK).check()
    workspace.preview(STACK, "--no-changes").check()

    apps = Counter(a.name for a in fly.state.apps.values())
    assert all(n == 1 for n in apps.values()), apps
    machines = Counter(m.app for m in fly.state.machines.values() if m.state != "destroyed")
    assert {app: n for app, n in machines.items() if not app.endswith("-edge")} == {
        f"e2e-{t['id']}": 1 for t in ROSTER if t["state"] == "active"
    }
    volumes = Counter(v.app for v in fly.state.volumes.values() if v.state != "destroyed")
    assert all(n == 1 for n in volumes.values()), volumes
    assert sorted(bucket_names(cloudflare)) == sorted(f"alex-{t['id']}" for t in ROSTER)
    assert token_count(cloudflare) == len(ROSTER)
    assert Counter(r["name"] for r in dns_records(cloudflare)) == {"*.books.test": 1, "_acme-challenge.books.test": 1}
