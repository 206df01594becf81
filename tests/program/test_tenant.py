"""The Tenant component's resource graph under mocks: what one roster entry becomes."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest

from components.storage import BUCKET_ITEM_READ, BUCKET_ITEM_WRITE, cors_rules, https_origins, s3_cors_configuration
from tenants import bucket_layout
from tenants.roster import RosterEntry
from tests.program.harness import Recording, is_secret, plain_strings, run_program, token_value

TID = "acme000001"
ACCOUNT = "0123456789abcdef0123456789abcdef"

EXPECTED = {
    f"{TID}": "alex-hosted:tenant:Tenant",
    f"{TID}-bucket": "cloudflare:index/r2Bucket:R2Bucket",
    f"{TID}-r2-token": "cloudflare:index/accountToken:AccountToken",
    f"{TID}-bucket-cors": "cloudflare:index/r2BucketCors:R2BucketCors",
    f"{TID}-bucket-lifecycle": "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
    f"{TID}-bucket-emptier": "command:local:Command",
    f"{TID}-app": "pulumi-python:dynamic/fly:App",
    f"{TID}-nextauth-secret": "random:index/randomPassword:RandomPassword",
    f"{TID}-owner-password": "random:index/randomPassword:RandomPassword",
    f"{TID}-secrets": "pulumi-python:dynamic/fly:Secrets",
    f"{TID}-volume": "pulumi-python:dynamic/fly:Volume",
    f"{TID}-machine": "pulumi-python:dynamic/fly:Machine",
}


def entry(**changes: object) -> RosterEntry:
    base = RosterEntry(TID, "alice", "alice@example.org", "reader", "active", created_at=date(2026, 1, 1))
    return base.with_changes(**changes)


@pytest.fixture(scope="module")
def active() -> Recording:
    return run_program([entry()])


def tenant_resources(recording: Recording) -> dict[str, str]:
    return {name: r.type for name, r in recording.registrations.items() if name.startswith(TID)}


def test_tenant_declares_exactly_the_designed_resources(active: Recording) -> None:
    assert tenant_resources(active) == EXPECTED


def test_tenant_has_no_public_face_of_its_own(active: Recording) -> None:
    """No IPs, certificate or DNS record per tenant: every hostname reaches it through the edge."""
    types = set(tenant_resources(active).values())
    assert not {"pulumi-python:dynamic/fly:Ips", "pulumi-python:dynamic/fly:Certificate"} & types
    assert "cloudflare:index/dnsRecord:DnsRecord" not in types
    # The service stays: the proxy replays into it and autostarts the machine through it.
    (service,) = active.one(f"{TID}-machine").plain("config")["services"]
    assert service["autostart"] is True and service["internal_port"] == 3000


def test_tenant_children_are_parented_to_the_tenant(active: Recording) -> None:
    component = active.one(TID)
    for name in EXPECTED:
        if name != TID:
            assert active.one(name).parent == component.urn, name


def test_tenant_physical_names_derive_from_the_id_not_the_username(active: Recording) -> None:
    assert active.one(f"{TID}-bucket").plain("name") == f"alex-{TID}"
    assert active.one(f"{TID}-app").plain("name") == f"alex-{TID}"
    assert active.one(f"{TID}-volume").plain("name") == "data"
    assert active.one(f"{TID}-machine").plain("name") == f"{TID}-web"


def test_tenant_token_policy_names_only_its_own_bucket(active: Recording) -> None:
    token = active.one(f"{TID}-r2-token")
    (policy,) = token.plain("policies")
    assert policy["effect"] == "allow"
    assert [g["id"] for g in policy["permissionGroups"]] == [BUCKET_ITEM_WRITE, BUCKET_ITEM_READ]
    # Compact JSON, one key: the API echoes it byte for byte, so it never drifts.
    assert policy["resources"] == ('{"com.cloudflare.edge.r2.bucket.' + ACCOUNT + "_default_alex-" + TID + '":"*"}')
    assert json.loads(policy["resources"]) == {f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_alex-{TID}": "*"}


def test_tenant_bucket_cors_lets_the_tenants_hostname_upload_straight_to_its_bucket(active: Recording) -> None:
    cors = active.one(f"{TID}-bucket-cors")
    assert (cors.plain("accountId"), cors.plain("bucketName"), cors.plain("jurisdiction")) == (
        ACCOUNT,
        f"alex-{TID}",
        "default",
    )
    assert cors.plain("rules") == [
        {
            "allowed": {
                "origins": ["https://alice.books.example.com"],
                "methods": ["PUT", "GET", "HEAD"],
                "headers": ["content-type"],
            },
            "exposeHeaders": ["ETag"],  # the page reads each part's ETag for multipart
            "maxAgeSeconds": 3600,
        }
    ]
    assert not cors.protect  # it holds no data; the roster rebuilds it
    assert active.one(f"{TID}-bucket").urn in cors.dependencies
    assert cors.deleted_with == active.one(f"{TID}-bucket").urn


def test_tenant_bucket_lifecycle_empties_staging_as_a_backstop_and_keeps_r2s_multipart_rule(
    active: Recording,
) -> None:
    lifecycle = active.one(f"{TID}-bucket-lifecycle")
    assert (lifecycle.plain("accountId"), lifecycle.plain("bucketName"), lifecycle.plain("jurisdiction")) == (
        ACCOUNT,
        f"alex-{TID}",
        "default",
    )
    day, week = 24 * 3600, 7 * 24 * 3600
    assert lifecycle.plain("rules") == [
        {
            "id": "staging-uploads",
            "enabled": True,
            "conditions": {"prefix": bucket_layout.STAGING_PREFIX},
            "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": day}},
            "abortMultipartUploadsTransition": {"condition": {"type": "Age", "maxAge": day}},
        },
        {
            "id": "abort-stale-multipart-uploads",
            "enabled": True,
            "conditions": {"prefix": ""},
            "abortMultipartUploadsTransition": {"condition": {"type": "Age", "maxAge": week}},
        },
    ]
    # Far longer than any upload URL lives (the companion allows at most an hour): never a live upload.
    assert bucket_layout.STAGING_MAX_AGE_SECONDS > 2 * 3600
    assert not lifecycle.protect
    bucket = active.one(f"{TID}-bucket")
    assert bucket.urn in lifecycle.dependencies
    assert lifecycle.deleted_with == bucket.urn
    assert lifecycle.urn in active.one(f"{TID}-bucket-emptier").dependencies, "the emptier goes first"


def test_cors_rules_are_one_spelling_for_r2_and_for_s3() -> None:
    """The browser test applies `s3_cors_configuration` to moto; the Tenant declares the same rules."""
    (rule,) = cors_rules(https_origins(["alice.books.example.com", "books.alice.example"]))
    assert s3_cors_configuration([rule]) == {
        "CORSRules": [
            {
                "AllowedOrigins": ["https://alice.books.example.com", "https://books.alice.example"],
                "AllowedMethods": ["PUT", "GET", "HEAD"],
                "AllowedHeaders": ["content-type"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3600,
            }
        ]
    }


def test_cors_rules_refuse_an_empty_origin_list() -> None:
    with pytest.raises(ValueError, match="at least one origin"):
        cors_rules([])


def test_tenant_dependencies_follow_the_data(active: Recording) -> None:
    def deps(name: str) -> set[str]:
        return set(active.one(name).dependencies)

    urn = {name: active.one(name).urn for name in EXPECTED}
    assert urn[f"{TID}-bucket"] in deps(f"{TID}-r2-token")
    assert {urn[f"{TID}-volume"], urn[f"{TID}-secrets"], urn[f"{TID}-app"]} <= deps(f"{TID}-machine")


def test_tenant_bucket_emptier_depends_on_everything_so_it_is_deleted_first(active: Recording) -> None:
    emptier = set(active.one(f"{TID}-bucket-emptier").dependencies)
    others = {
        active.one(name).urn
        for name in EXPECTED
        if name not in (TID, f"{TID}-bucket-emptier", f"{TID}-nextauth-secret", f"{TID}-owner-password")
    }
    assert others <= emptier


def test_tenant_emptier_uses_the_tenants_own_scoped_credentials(active: Recording) -> None:
    env = active.one(f"{TID}-bucket-emptier").inputs["environment"]
    assert is_secret(env["R2_SECRET_ACCESS_KEY"])
    env = active.one(f"{TID}-bucket-emptier").plain("environment")
    token_id = hashlib.md5(f"{TID}-r2-token".encode()).hexdigest()
    assert env["R2_ACCESS_KEY_ID"] == token_id
    assert env["R2_SECRET_ACCESS_KEY"]["value"] == hashlib.sha256(token_value(f"{TID}-r2-token").encode()).hexdigest()
    assert env["R2_BUCKET"] == f"alex-{TID}"
    assert env["ALEX_PURGE_CONFIRMED"] == ""


def test_tenant_machine_env_is_the_designed_set_and_holds_no_secret(active: Recording) -> None:
    config = active.one(f"{TID}-machine").plain("config")
    assert config["env"] == {
        "DATABASE_PATH": "/app/data/library.db",
        "LIBRARY_PATH": "/app/data/library",
        "COVERS_PATH": "/app/data/covers",
        "NEXTAUTH_URL": "https://alice.books.example.com",
        "OWNER_EMAIL": "alice@example.org",
        "R2_ENDPOINT": f"https://{ACCOUNT}.r2.cloudflarestorage.com",
        "R2_BUCKET": f"alex-{TID}",
        "STORAGE_QUOTA_BYTES": str(5 * 1024**3),  # the reader plan's 5 GB
    }
    assert config["mounts"] == [{"volume": f"vol_{TID}-volume", "path": "/app/data"}]
    # The companion's health answers 200 only while Alex answers it too (tests/companion/test_alex_start.py).
    assert config["checks"]["health"]["path"] == "/_hosted/healthz"
    # The companion listens on 3000 (proxying Alex on 3001): the service and the check stay on 3000.
    assert config["checks"]["health"]["port"] == 3000
    assert [service["internal_port"] for service in config["services"]] == [3000]
    assert config["metadata"]["tenant"] == TID
    assert config["guest"]["memory_mb"] == 512
    assert config["image"] == "ghcr.io/alex-hosted/alex-hosted:0.6.0-1"
    assert config["stop_config"] == {"signal": "SIGTERM", "timeout": "30s"}  # time for the final backup
    assert "init" not in config  # the image's own entrypoint runs (image/README.md)


def test_tenant_app_secrets_are_secret_inputs_with_the_designed_names(active: Recording) -> None:
    secrets = active.one(f"{TID}-secrets")
    values = secrets.inputs["values"]
    assert is_secret(values)
    assert sorted(values["value"]) == [
        "NEXTAUTH_SECRET",
        "OWNER_INITIAL_PASSWORD",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
    ]
    assert "values" in secrets.additional_secret_outputs
    assert active.one(f"{TID}-machine").plain("min_secrets_version") == 1


def test_no_secret_value_appears_anywhere_in_plain_text(active: Recording) -> None:
    secrets = {
        token_value(f"{TID}-r2-token"),
        hashlib.sha256(token_value(f"{TID}-r2-token").encode()).hexdigest(),
        f"pw-{TID}-nextauth-secret-{'x' * 16}",
        f"pw-{TID}-owner-password-{'x' * 16}",
    }
    for registration in active.registrations.values():
        leaked = secrets & set(plain_strings(registration.inputs))
        assert not leaked, f"{registration.name} carries a secret in plain text"
    for urn, outputs in active.outputs.items():
        assert not secrets & set(plain_strings(outputs)), urn
    for name, (value, secret) in active.exports.items():
        if not secret:
            assert not secrets & set(plain_strings(value)), f"stack output {name}"


def test_stack_outputs_give_operators_the_summary_and_keep_passwords_secret(active: Recording) -> None:
    tenants, tenants_secret = active.exports["tenants"]
    assert not tenants_secret
    assert tenants == {
        TID: {
            "hostname": "alice.books.example.com",
            "hostnames": ["alice.books.example.com"],
            "app": f"alex-{TID}",
            "state": "active",
            "plan": "reader",
        }
    }
    assert active.exports["totals"] == ({"tenants": 1, "byPlan": {"reader": 1}, "byState": {"active": 1}}, False)
    passwords, passwords_secret = active.exports["initialPasswords"]
    assert passwords_secret and set(passwords) == {TID}
