"""The Edge component's resource graph under mocks: the router app, its machines, certificates and records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pulumi
import pytest

import components.program
from components.edge import EDGE_TYPE, Edge
from components.program import declare_edge, run
from config.edge_map import MAP_PATH, EdgeMapError, EdgeSource, edge_hosts, map_document
from config.stack_config import from_mapping
from tenants.roster import RosterEntry
from tests.program.harness import (
    SETTINGS_VALUES,
    Recording,
    TenantMocks,
    decode_map,
    plain_strings,
    run_program,
    settings,
    token_value,
)
from tests.support.recording import record_under

DAY = date(2026, 1, 1)
ALICE = RosterEntry(
    "alice00001", "alice", "alice@example.org", "reader", "active", created_at=DAY, domains=("read.alice.net",)
)
BOB = RosterEntry("bob0000001", "bob", "bob@example.org", "reader", "suspended", created_at=DAY)
PAT = RosterEntry(
    "pat0000001", "pat", "pat@example.org", "reader", "purging", created_at=DAY, domains=("read.pat.net",),
    cancelled_at=DAY, purge_after=DAY, purge_marked_at=DAY,
)  # fmt: skip
ROSTER = [ALICE, BOB, PAT]

MACHINE = "pulumi-python:dynamic/fly:Machine"
CERTIFICATE = "pulumi-python:dynamic/fly:Certificate"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
EXPECTED = {
    "edge": "alex-hosted:edge:Edge",
    "edge-app": "pulumi-python:dynamic/fly:App",
    "edge-ips": "pulumi-python:dynamic/fly:Ips",
    "edge-machine-ams": MACHINE,
    "edge-machine-fra": MACHINE,
    "edge-wildcard-cert": CERTIFICATE,
    "edge-wildcard-dns": DNS,
    "edge-acme-dns": DNS,
    "edge-domain-read.alice.net": CERTIFICATE,
}


@pytest.fixture(scope="module")
def recording() -> Recording:
    return run_program(ROSTER)


def edge_resources(recording: Recording) -> dict[str, str]:
    return {name: r.type for name, r in recording.registrations.items() if name.startswith("edge")}


def secret_values(roster: list[RosterEntry]) -> set[str]:
    """Every secret value the mocks hand out for these tenants (see tests/program/harness.py)."""
    values: set[str] = set()
    for entry in roster:
        token = token_value(f"{entry.id}-r2-token")
        values |= {
            token,
            hashlib.sha256(token.encode()).hexdigest(),
            f"pw-{entry.id}-nextauth-secret-{'x' * 16}",
            f"pw-{entry.id}-owner-password-{'x' * 16}",
        }
    return values


# --- the resources ---------------------------------------------------------------------------------


def test_edge_declares_exactly_the_designed_resources(recording: Recording) -> None:
    assert edge_resources(recording) == EXPECTED
    assert EDGE_TYPE == "alex-hosted:edge:Edge"


def test_edge_children_are_parented_to_the_edge_component(recording: Recording) -> None:
    component = recording.one("edge")
    assert component.parent == recording.one("alex-hosted-test").urn
    for name in EXPECTED:
        if name != "edge":
            assert recording.one(name).parent == component.urn, name


def test_edge_app_alone_is_protected(recording: Recording) -> None:
    assert {name for name in EXPECTED if recording.one(name).protect} == {"edge-app"}


def test_edge_app_is_named_after_the_prefix_in_the_org(recording: Recording) -> None:
    app = recording.one("edge-app")
    assert (app.plain("name"), app.plain("org")) == ("alex-edge", "alex-hosted")
    assert recording.one("edge-ips").plain("app") == "alex-edge"


def test_edge_routers_are_updated_one_after_another(recording: Recording) -> None:
    ams, fra = recording.one("edge-machine-ams"), recording.one("edge-machine-fra")
    assert recording.one("edge-ips").urn in ams.dependencies
    assert ams.urn in fra.dependencies
    assert fra.urn not in ams.dependencies


@pytest.mark.parametrize("region", ["ams", "fra"])
def test_edge_router_waits_for_its_checks_and_never_sleeps(recording: Recording, region: str) -> None:
    machine = recording.one(f"edge-machine-{region}")
    assert machine.plain("app") == "alex-edge"
    assert machine.plain("region") == region
    assert machine.plain("name") == f"edge-{region}"
    assert machine.plain("await_checks") is True
    assert machine.plain("run_state") == "active"
    config = machine.plain("config")
    assert config["image"] == "ghcr.io/alex-hosted/alex-hosted-edge:1.0.0-1"
    (service,) = config["services"]
    assert service["autostop"] == "off" and service["autostart"] is True
    assert service["internal_port"] == 8080
    assert [(p["port"], p["handlers"]) for p in service["ports"]] == [(80, ["http"]), (443, ["tls", "http"])]
    assert config["checks"] == {
        "health": {
            "type": "http",
            "port": 8081,
            "method": "GET",
            "path": "/_edge/health",
            "interval": "10s",
            "timeout": "2s",
            "grace_period": "5s",
        }
    }
    assert [f["guest_path"] for f in config["files"]] == [MAP_PATH] == ["/etc/alex-edge/map.json"]
    assert config["env"] == {"PORT": "8080", "HEALTH_PORT": "8081", "EDGE_MAP": "/etc/alex-edge/map.json"}
    assert config["restart"] == {"policy": "always"}
    assert config["stop_config"] == {"signal": "SIGINT", "timeout": "10s"}


@pytest.mark.parametrize("region", ["ams", "fra"])
def test_edge_router_health_is_checked_on_a_port_no_service_exposes(recording: Recording, region: str) -> None:
    config = recording.one(f"edge-machine-{region}").plain("config")
    (check,) = config["checks"].values()
    public = {service["internal_port"] for service in config["services"]}
    # Fly's proxy forwards only to a service's internal port: the health port is reached by the check alone.
    assert check["port"] == int(config["env"]["HEALTH_PORT"]) and check["port"] not in public
    assert public == {int(config["env"]["PORT"])}
    assert all("checks" not in service for service in config["services"])


def test_edge_routers_carry_the_same_map_of_the_roster(recording: Recording) -> None:
    ams = recording.one("edge-machine-ams").plain("config")
    fra = recording.one("edge-machine-fra").plain("config")
    assert ams == fra
    document = decode_map(ams)
    hosts = edge_hosts([EdgeSource(settings(), ROSTER)])
    assert document == map_document(hosts)
    assert document["hosts"] == {
        "alice.books.example.com": {"app": "alex-alice00001"},
        "bob.books.example.com": {"app": "alex-bob0000001", "state": "suspended"},
        "read.alice.net": {"app": "alex-alice00001"},
    }
    assert ams["metadata"] == {"role": "edge", "managed_by": "alex-hosted", "map_digest": document["digest"]}


def test_edge_wildcard_certificate_covers_every_tenant_hostname(recording: Recording) -> None:
    cert = recording.one("edge-wildcard-cert")
    assert (cert.plain("app"), cert.plain("hostname")) == ("alex-edge", "*.books.example.com")
    assert recording.one("edge-ips").urn in cert.dependencies  # validation needs the app's IPv6


def test_edge_wildcard_dns_points_every_name_at_the_edge_unproxied(recording: Recording) -> None:
    record = recording.one("edge-wildcard-dns")
    assert {key: record.plain(key) for key in ("zoneId", "name", "type", "content", "proxied", "ttl")} == {
        "zoneId": "fedcba9876543210fedcba9876543210",
        "name": "*.books.example.com",
        "type": "CNAME",
        "content": "alex-edge.fly.dev",
        "proxied": False,
        "ttl": 1,
    }


def test_edge_acme_dns_delegates_validation_to_the_certificates_target(recording: Recording) -> None:
    record = recording.one("edge-acme-dns")
    assert {key: record.plain(key) for key in ("zoneId", "name", "type", "content", "proxied")} == {
        "zoneId": "fedcba9876543210fedcba9876543210",
        "name": "_acme-challenge.books.example.com",
        "type": "CNAME",
        "content": "books.example.com.x1y2z3.flydns.net",  # the mocks' acme target for *.books.example.com
        "proxied": False,
    }
    assert recording.one("edge-wildcard-cert").urn in record.dependencies


# --- custom domains --------------------------------------------------------------------------------


def test_edge_custom_domain_is_a_certificate_on_the_edge_app(recording: Recording) -> None:
    cert = recording.one("edge-domain-read.alice.net")
    assert (cert.plain("app"), cert.plain("hostname")) == ("alex-edge", "read.alice.net")
    assert recording.one("edge-ips").urn in cert.dependencies


def test_edge_custom_domain_of_a_purging_tenant_has_no_certificate(recording: Recording) -> None:
    assert "edge-domain-read.pat.net" not in recording.registrations
    hostnames = [r.plain("hostname") for r in recording.by_type(CERTIFICATE)]
    assert sorted(hostnames) == ["*.books.example.com", "read.alice.net"]


def test_edge_custom_domain_is_the_tenants_nextauth_url(recording: Recording) -> None:
    assert recording.one("alice00001-machine").plain("config")["env"]["NEXTAUTH_URL"] == "https://read.alice.net"
    assert recording.one("bob0000001-machine").plain("config")["env"]["NEXTAUTH_URL"] == (
        "https://bob.books.example.com"
    )


def test_edge_custom_domain_may_upload_to_the_tenants_bucket(recording: Recording) -> None:
    (rule,) = recording.one("alice00001-bucket-cors").plain("rules")
    assert rule["allowed"]["origins"] == ["https://alice.books.example.com", "https://read.alice.net"]


def test_edge_stack_output_tells_the_customer_what_to_set_in_dns(recording: Recording) -> None:
    edge, secret = recording.exports["edge"]
    assert not secret
    assert edge["customDomains"] == {
        "read.alice.net": {
            "tenant": "alice00001",
            "certificateStatus": "pending_validation",
            "records": [
                {"type": "CNAME", "name": "read.alice.net", "content": "alex-edge.fly.dev"},
                {
                    "type": "CNAME",
                    "name": "_acme-challenge.read.alice.net",
                    "content": "read.alice.net.x1y2z3.flydns.net",
                },
            ],
            "apexInstead": "an apex cannot hold a CNAME: point A and AAAA at the edge's addresses (edge.ips)",
        }
    }


def test_edge_stack_output_gives_operators_the_app_map_and_addresses(recording: Recording) -> None:
    edge, _ = recording.exports["edge"]
    digest = decode_map(recording.one("edge-machine-ams").plain("config"))["digest"]
    assert {key: value for key, value in edge.items() if key != "customDomains"} == {
        "app": "alex-edge",
        "mapHosts": 3,
        "mapDigest": digest,
        "ipv6": "2a09:8280:1::1",
        "sharedIpv4": "66.241.124.1",
        "wildcardCertificateStatus": "pending_validation",
    }
    assert recording.outputs[recording.one("edge").urn] == {"app": "alex-edge", "mapDigest": digest, "mapHosts": 3}


def test_edge_tenant_summary_lists_the_primary_and_every_hostname(recording: Recording) -> None:
    tenants, _ = recording.exports["tenants"]
    assert tenants["alice00001"]["hostname"] == "read.alice.net"
    assert tenants["alice00001"]["hostnames"] == ["alice.books.example.com", "read.alice.net"]
    assert tenants["pat0000001"]["hostnames"] == ["pat.books.example.com", "read.pat.net"]


def test_edge_holds_no_secret_value_in_its_inputs_map_or_output(recording: Recording) -> None:
    secrets = secret_values(ROSTER)
    edge_urn = recording.one("edge").urn
    for name in EXPECTED:
        registration = recording.one(name)
        assert not secrets & set(plain_strings(registration.inputs)), name
        assert name == "edge" or registration.parent == edge_urn
    for region in ("ams", "fra"):
        document = decode_map(recording.one(f"edge-machine-{region}").plain("config"))
        assert not secrets & set(plain_strings(document)), region
        assert not any(secret in str(document) for secret in secrets)
    assert not secrets & set(plain_strings(recording.outputs[edge_urn]))
    edge, is_secret_output = recording.exports["edge"]
    assert not is_secret_output
    assert not secrets & set(plain_strings(edge))
    # The check can fail: the same secrets are present (wrapped) in the tenants' own inputs.
    values = recording.one("alice00001-secrets").plain("values")
    assert f"pw-alice00001-owner-password-{'x' * 16}" in values.values()


# --- a hostname claimed twice ----------------------------------------------------------------------


def test_edge_refuses_a_hostname_claimed_twice_before_declaring_a_router() -> None:
    """One roster cannot do it once validated with its domain; the program's body alone does not check."""
    erin = RosterEntry("erin000001", "erin", "e@example.org", "reader", "active", domains=("alice.books.example.com",))
    recording = record_under(TenantMocks())

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def body() -> None:
        declare_edge(settings(), [ALICE, erin])

    with pytest.raises(
        EdgeMapError, match="alice.books.example.com is claimed by tenant test/alice00001 and tenant test/erin000001"
    ):
        body()
    assert not {"edge-app", "edge-machine-ams", "edge-machine-fra"} & set(recording.registrations)


def test_edge_of_two_sources_refuses_a_hostname_of_both() -> None:
    books = from_mapping("books", {**SETTINGS_VALUES, "alex-hosted:appPrefix": "books"})
    shelf = from_mapping("shelf", {**SETTINGS_VALUES, "alex-hosted:appPrefix": "shelf"})
    twin = RosterEntry("erin000001", "erin", "e@example.org", "reader", "active", domains=("read.alice.net",))
    record_under(TenantMocks())

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def body() -> None:
        Edge(books, [EdgeSource(books, [ALICE]), EdgeSource(shelf, [twin])])

    with pytest.raises(
        EdgeMapError, match="read.alice.net is claimed by tenant books/alice00001 and tenant shelf/erin000001"
    ):
        body()


@pytest.fixture
def stack_config() -> Iterator[None]:
    yield
    pulumi.runtime.set_all_config({})


def test_program_turns_a_hostname_claimed_twice_into_a_run_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack_config: None
) -> None:
    roster = tmp_path / "prod.yaml"
    roster.write_text("[]\n")
    pulumi.runtime.set_all_config({**SETTINGS_VALUES, "alex-hosted:roster": str(roster)})
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    monkeypatch.setattr(components.program, "declare_tenants", lambda settings, roster: {})

    def clash(settings: Any, roster: Any, **_: Any) -> Edge:
        raise EdgeMapError(
            "the edge map has hostnames claimed twice:\n  - a.example is claimed by tenant x and tenant y"
        )

    monkeypatch.setattr(components.program, "declare_edge", clash)
    with pytest.raises(pulumi.RunError) as caught:
        run()
    assert str(caught.value) == (
        "the edge map has hostnames claimed twice:\n  - a.example is claimed by tenant x and tenant y"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_program_refuses_a_custom_domain_under_the_stacks_domain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stack_config: None
) -> None:
    """run() loads the roster with the stack's domain, so the rule the roster alone cannot apply applies."""
    roster = tmp_path / "prod.yaml"
    roster.write_text(
        "- id: alice00001\n  username: alice\n  email: a@example.org\n  plan: reader\n  state: active\n"
        "  domains:\n  - x.books.example.com\n"
    )
    pulumi.runtime.set_all_config({**SETTINGS_VALUES, "alex-hosted:roster": str(roster)})
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    with pytest.raises(
        pulumi.RunError,
        match=r"entry 1 \(id 'alice00001'\): domains: 'x.books.example.com' is the stack's own domain books.example.com",
    ):
        run()
