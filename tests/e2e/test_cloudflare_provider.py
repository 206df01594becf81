"""The real pulumi-cloudflare 6.17.0 provider against the Cloudflare emulator, on the program's own helpers
(tests/e2e/cloudflare_program): what it sends at each step (docs/reference/cloudflare.md §8), that the
state it leaves reads back with no change, that an update in place stays in place, that faults during `up`
leave nothing duplicated, and that a `resources` echo with spaces would make every token drift.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from emulators.cloudflare import CloudflareEmulator
from emulators.faults import Fault
from tests.e2e.pulumi_run import Engine, PulumiWorkspace
from tests.support.cloudflare_api import ACCOUNT, TOKEN, ZONE_ID, ZONE_NAME

PROGRAM = Path(__file__).parent / "cloudflare_program"
PER_TENANT_CREATES = [
    ("POST", "r2.buckets.create"),
    ("POST", "tokens.create"),
    ("PUT", "r2.cors.put"),
    ("PUT", "r2.lifecycle.put"),
]
EDGE_CREATES = [("POST", "dns.records.create")] * 2


def new_stack(engine: Engine, root: Path, cf: CloudflareEmulator, tenants: list[str]) -> PulumiWorkspace:
    ws = PulumiWorkspace(engine, PROGRAM, root)
    ws.pulumi("stack", "init", "dev")
    ws.pulumi(
        "config",
        "set-all",
        "--plaintext", f"accountId={ACCOUNT}",
        "--plaintext", f"zoneId={ZONE_ID}",
        "--plaintext", f"domain={ZONE_NAME}",
        "--plaintext", f"cloudflare:baseUrl={cf.url}",
        "--plaintext", f"tenants={json.dumps(tenants)}",
        "--secret", f"cloudflare:apiToken={TOKEN}",
    )  # fmt: skip
    return ws


def calls(cf: CloudflareEmulator) -> Counter[tuple[str, str | None]]:
    return Counter((r.method, r.route) for r in cf.requests)


def counts(cf: CloudflareEmulator) -> tuple[int, int, int]:
    """Buckets, tokens and DNS records Cloudflare holds."""
    world = cf.world
    with world.lock:
        return len(world.buckets), len(world.tokens), len(world.zone_records(ZONE_ID))


def test_up_preview_refresh_update_destroy_with_the_real_provider(engine, tmp_path, cloudflare_api):
    cf = cloudflare_api
    ws = new_stack(engine, tmp_path, cf, ["t1"])

    plan = json.loads(ws.pulumi("preview", "--json").stdout)
    assert {step["op"] for step in plan["steps"]} == {"create"}
    assert cf.requests == []  # a preview of creates asks Cloudflare nothing

    up = ws.pulumi("up", "--yes", "--skip-preview")
    assert calls(cf) == Counter(PER_TENANT_CREATES + EDGE_CREATES)
    create = {r.route: r for r in cf.requests}
    assert create["r2.buckets.create"].headers["cf-r2-jurisdiction"] == "default"
    assert create["r2.buckets.create"].body == {"name": "alex-t1", "storageClass": "Standard"}
    policy = create["tokens.create"].body["policies"][0]
    assert policy["resources"] == {f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_alex-t1": "*"}  # an object
    assert counts(cf) == (1, 1, 2)
    (token_id,) = cf.world.tokens
    value = cf.world.token_values[token_id]
    assert value not in up.stdout + up.stderr + ws.state_text()

    cf.reset_log()
    ws.pulumi("preview", "--expect-no-changes")
    assert cf.requests == []
    ws.pulumi("refresh", "--expect-no-changes", "--yes", "--skip-preview")
    assert {r.method for r in cf.requests} == {"GET"}
    assert sorted(r.route or "" for r in cf.requests) == sorted(
        ["r2.buckets.get", "tokens.get", "r2.cors.get", "r2.lifecycle.get", "dns.records.get", "dns.records.get"]
    )

    cf.reset_log()
    ws.pulumi(
        "config",
        "set-all",
        "--plaintext",
        "extraOrigin=https://books.example.net",
        "--plaintext",
        "tokenNameSuffix=-v2",
    )
    ws.pulumi("up", "--yes", "--skip-preview")
    assert calls(cf) == Counter([("PUT", "r2.cors.put"), ("PUT", "tokens.update")])
    assert cf.world.tokens[token_id].name == "r2-alex-t1-v2"  # updated in place: same token, same secret
    assert cf.world.token_values[token_id] == value
    origins = cf.world.buckets[("default", "alex-t1")].cors[0]["allowed"]["origins"]
    assert origins == ["https://t1.alex.example", "https://books.example.net"]
    ws.pulumi("preview", "--expect-no-changes")

    cf.reset_log()
    ws.pulumi("destroy", "--yes", "--skip-preview")
    assert calls(cf) == Counter(
        [("DELETE", "tokens.delete"), ("DELETE", "r2.buckets.delete")] + [("DELETE", "dns.records.delete")] * 2
    )  # CORS and lifecycle go with their bucket
    assert counts(cf) == (0, 0, 0)


def test_faults_during_up_then_the_next_up_converges_without_duplicates(engine, tmp_path, cloudflare_api):
    cf = cloudflare_api
    ws = new_stack(engine, tmp_path, cf, ["t1", "t2"])
    # Token creates are throttled past the client's 10 retries (Retry-After 0 keeps the test quick); one
    # bucket create and one record create meet a 5xx once, which the client retries after its back-off.
    cf.inject(Fault(method="POST", path=r"/tokens$", status=429, times=99, headers={"retry-after": "0"}))
    cf.inject(Fault(method="POST", path=r"/r2/buckets$", status=500))
    cf.inject(Fault(method="POST", path=r"/dns_records$", status=503))

    failed = ws.pulumi("up", "--yes", "--skip-preview", check=False)
    assert failed.returncode != 0
    assert "429" in failed.stdout and "Please wait and consider throttling" in failed.stdout
    # Each token create it started was tried 11 times; after the first failure the engine starts no new step.
    assert calls(cf)[("POST", "tokens.create")] in (11, 22)
    assert calls(cf)[("POST", "r2.buckets.create")] == 3  # t1, t2, and the retry after the 500
    assert counts(cf) == (2, 0, 2)

    cf.clear_faults()
    cf.reset_log()
    ws.pulumi("up", "--yes", "--skip-preview")
    second = calls(cf)
    assert second[("POST", "tokens.create")] == 2  # what is missing, and only that
    assert second[("POST", "r2.buckets.create")] == second[("POST", "dns.records.create")] == 0
    assert counts(cf) == (2, 2, 2)
    assert all(b.cors and b.lifecycle[0]["id"] == "abort-stale-uploads" for b in cf.world.buckets.values())
    ws.pulumi("preview", "--expect-no-changes")


def test_a_resources_echo_with_spaces_would_make_every_token_drift(engine, tmp_path, cloudflare_api):
    """The guard fails when it should: the provider keeps `resources` as the API's raw bytes
    (docs/reference/cloudflare.md §1.3), so an echo that differs from the program's compact JSON is a change."""
    cf = cloudflare_api
    ws = new_stack(engine, tmp_path, cf, ["t1"])
    ws.pulumi("up", "--yes", "--skip-preview")
    cf.quirks.spaced_json = True

    refresh = ws.pulumi("refresh", "--expect-no-changes", "--yes", "--skip-preview", "--diff", check=False)
    assert refresh.returncode != 0
    assert 'default_alex-t1\\\\\\": \\\\\\"*' in refresh.stdout  # the spaced echo, now in state
    preview = ws.pulumi("preview", "--expect-no-changes", "--diff", check=False)
    assert preview.returncode != 0
    assert "cloudflare:index/accountToken:AccountToken: (update)" in preview.stdout
    assert "resources" in preview.stdout
