"""The real pulumi-cloudflare 6.17.0 provider against the Cloudflare emulator, on the program's own helpers
(tests/e2e/cloudflare_program): what it sends at each step (docs/reference/cloudflare.md §8), that the
state it leaves reads back with no change, that an update in place stays in place, that faults during `up`
leave nothing duplicated, and that a `resources` echo with spaces would make every token drift.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from emulators.cloudflare import CloudflareEmulator
from emulators.faults import Fault
from tests.e2e.conftest import ACCOUNT, CF_TOKEN, ZONE
from tests.support.pulumi_cli import Run, Workspace

PROGRAM = Path(__file__).parent / "cloudflare_program"
PROJECT = "alex-hosted-cloudflare-check"
STACK = "cf"
DOMAIN = "books.test"
PER_TENANT_CREATES = [
    ("POST", "r2.buckets.create"),
    ("POST", "tokens.create"),
    ("PUT", "r2.cors.put"),
    ("PUT", "r2.lifecycle.put"),
]
EDGE_CREATES = [("POST", "dns.records.create")] * 2


@pytest.fixture
def ws(tmp_path: Path, cloudflare: CloudflareEmulator) -> Workspace:
    return Workspace(tmp_path, {"CLOUDFLARE_API_TOKEN": CF_TOKEN}, program=PROGRAM)


def settings(cf: CloudflareEmulator, tenants: list[str], **extra: str) -> dict[str, Any]:
    return {
        f"{PROJECT}:accountId": ACCOUNT,
        f"{PROJECT}:zoneId": ZONE,
        f"{PROJECT}:domain": DOMAIN,
        f"{PROJECT}:tenants": tenants,
        **{f"{PROJECT}:{key}": value for key, value in extra.items()},
        "cloudflare:baseUrl": cf.url,
    }


def up(ws: Workspace) -> Run:
    return ws.pulumi("up", "--stack", STACK, "--yes", "--skip-preview", "--non-interactive")


def preview(ws: Workspace, *options: str) -> Run:
    return ws.pulumi("preview", "--stack", STACK, "--non-interactive", *options)


def calls(cf: CloudflareEmulator) -> Counter[tuple[str, str | None]]:
    return Counter((r.method, r.route) for r in cf.requests)


def counts(cf: CloudflareEmulator) -> tuple[int, int, int]:
    """Buckets, tokens and DNS records Cloudflare holds."""
    world = cf.world
    with world.lock:
        return len(world.buckets), len(world.tokens), len(world.zone_records(ZONE))


def test_up_preview_refresh_update_destroy_with_the_real_provider(ws, cloudflare):
    cf = cloudflare
    ws.new_stack(STACK, settings(cf, ["t1"]))

    plan = preview(ws).check()
    assert {op for op, _ in plan.steps()} == {"create"}
    assert cf.requests == []  # a preview of creates asks Cloudflare nothing

    first = up(ws).check()
    assert calls(cf) == Counter(PER_TENANT_CREATES + EDGE_CREATES)
    sent = {r.route: r for r in cf.requests}
    assert sent["r2.buckets.create"].headers["cf-r2-jurisdiction"] == "default"
    assert sent["r2.buckets.create"].body == {"name": "alex-t1", "storageClass": "Standard"}
    policy = sent["tokens.create"].body["policies"][0]
    assert policy["resources"] == {f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_alex-t1": "*"}  # an object
    assert counts(cf) == (1, 1, 2)
    (token_id,) = cf.world.tokens
    value = cf.world.token_values[token_id]
    assert value not in first.output + ws.state_text(STACK)

    cf.reset_log()
    assert preview(ws, "--expect-no-changes").check().changes() == {}
    assert cf.requests == []
    ws.refresh(STACK, "--expect-no-changes").check()
    assert sorted(r.route or "" for r in cf.requests) == sorted(
        ["r2.buckets.get", "tokens.get", "r2.cors.get", "r2.lifecycle.get", "dns.records.get", "dns.records.get"]
    )
    cf.use_token(token_id)  # the tenant's app used its credentials: only an output moves (`lastUsedOn`)
    ws.pulumi("preview", "--stack", STACK, "--refresh", "--expect-no-changes", "--non-interactive").check()

    cf.reset_log()
    ws.write_config(STACK, settings(cf, ["t1"], extraOrigin="https://books.example.net", tokenNameSuffix="-v2"))
    assert up(ws).check().changes() == {"update": 2}
    assert calls(cf) == Counter([("PUT", "r2.cors.put"), ("PUT", "tokens.update")])
    assert cf.world.tokens[token_id].name == "r2-alex-t1-v2"  # updated in place: same token, same secret
    assert cf.world.token_values[token_id] == value
    cors = cf.world.buckets[("default", "alex-t1")].cors or []
    assert cors[0]["allowed"]["origins"] == ["https://t1.books.test", "https://books.example.net"]
    assert preview(ws, "--expect-no-changes").check().changes() == {}

    cf.reset_log()
    ws.pulumi("destroy", "--stack", STACK, "--yes", "--skip-preview", "--non-interactive").check()
    assert calls(cf) == Counter(
        [("DELETE", "tokens.delete"), ("DELETE", "r2.buckets.delete")] + [("DELETE", "dns.records.delete")] * 2
    )  # CORS and lifecycle go with their bucket
    assert counts(cf) == (0, 0, 0)


def test_faults_during_up_then_the_next_up_converges_without_duplicates(ws, cloudflare):
    cf = cloudflare
    ws.new_stack(STACK, settings(cf, ["t1", "t2"]))
    # Token creates are throttled past the client's 10 retries (Retry-After 0 keeps the test quick); one
    # bucket create and one record create meet a 5xx once, which the client retries after its back-off.
    cf.inject(Fault(method="POST", path=r"/tokens$", status=429, times=99, headers={"retry-after": "0"}))
    cf.inject(Fault(method="POST", path=r"/r2/buckets$", status=500))
    cf.inject(Fault(method="POST", path=r"/dns_records$", status=503))

    failed = up(ws)
    assert failed.returncode != 0
    assert any("429" in d and "Please wait and consider throttling" in d for d in failed.diagnostics())
    assert failed.failures() and all(urn.endswith("-r2-token") for urn in failed.failures())
    # Each token create the engine started was tried 11 times; after a failure it starts no new step.
    assert calls(cf)[("POST", "tokens.create")] in (11, 22)
    assert calls(cf)[("POST", "r2.buckets.create")] == 3  # t1, t2, and the retry after the 500
    assert counts(cf) == (2, 0, 2)

    cf.clear_faults()
    cf.reset_log()
    up(ws).check()
    second = calls(cf)
    assert second[("POST", "tokens.create")] == 2  # what is missing, and only that
    assert second[("POST", "r2.buckets.create")] == second[("POST", "dns.records.create")] == 0
    assert counts(cf) == (2, 2, 2)
    assert all(
        b.cors and [r["id"] for r in b.lifecycle] == ["staging-uploads", "abort-stale-multipart-uploads"]
        for b in cf.world.buckets.values()
    )
    assert preview(ws, "--expect-no-changes").check().changes() == {}


def test_a_resources_echo_with_spaces_would_make_every_token_drift(ws, cloudflare):
    """The guard fails when it should: the provider keeps `resources` as the API's raw bytes
    (docs/reference/cloudflare.md §1.3), so an echo that differs from the program's compact JSON is a change."""
    cf = cloudflare
    ws.new_stack(STACK, settings(cf, ["t1", "t2"]))
    up(ws).check()
    cf.quirks.spaced_json = True

    refresh = ws.refresh(STACK, "--expect-no-changes")
    assert refresh.returncode != 0
    assert refresh.changes() == {"update": 2}, refresh.summary()  # the spaced echo is read into both tokens
    drift = preview(ws, "--expect-no-changes")
    assert drift.returncode != 0
    assert drift.changes() == {"update": 2}  # every token, and nothing else
    assert all(urn.endswith("-r2-token") for _, urn in drift.steps("update"))
    cf.reset_log()
    up(ws).check()
    assert calls(cf) == Counter([("PUT", "tokens.update")] * 2)  # and so on at every `up`
    assert preview(ws, "--expect-no-changes").returncode != 0
