"""The edge's map (config.edge_map) and the tenant hostname rule it is built from (config.hostnames)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import date

import pytest

from config.edge_map import (
    MAP_PATH,
    MAP_VERSION,
    EdgeMapError,
    EdgeSource,
    edge_hosts,
    file_value,
    map_bytes,
    map_document,
)
from config.hostnames import primary_hostname, tenant_hostnames
from config.stack_config import StackConfig, from_mapping
from tenants.roster import RosterEntry
from tests.program.harness import SETTINGS_VALUES, settings

DAY = date(2026, 1, 1)
SETTINGS = settings()  # stack "test", appPrefix "alex", domain books.example.com

ALICE = RosterEntry("alice00001", "alice", "a@example.org", "reader", "active", created_at=DAY)
BOB = RosterEntry("bob0000001", "bob", "b@example.org", "reader", "suspended", created_at=DAY)
CAROL = RosterEntry(
    "carol00001", "carol", "c@example.org", "reader", "cancelled", created_at=DAY,
    cancelled_at=date(2026, 11, 1), purge_after=date(2026, 12, 31),
)  # fmt: skip
# A cancelled entry without purge_after fails the roster's rules; the dataclass alone does not check.
CAROL_NO_PURGE = RosterEntry("carol00002", "carol2", "c2@example.org", "reader", "cancelled", cancelled_at=DAY)
PAT = RosterEntry(
    "pat0000001", "pat", "p@example.org", "reader", "purging", created_at=DAY, domains=("read.pat.net",),
    cancelled_at=DAY, purge_after=DAY, purge_marked_at=DAY,
)  # fmt: skip
DAVE = RosterEntry(
    "dave000001", "dave", "d@example.org", "reader", "active", created_at=DAY,
    domains=("read.dave.net", "dave.example"),
)  # fmt: skip


def stack(name: str, prefix: str) -> StackConfig:
    return from_mapping(name, {**SETTINGS_VALUES, "alex-hosted:appPrefix": prefix})


def hosts_of(*roster: RosterEntry) -> dict[str, dict[str, str]]:
    return edge_hosts([EdgeSource(SETTINGS, roster)])


# --- hosts -----------------------------------------------------------------------------------------


def test_edge_map_an_active_tenant_goes_to_its_app_with_no_state() -> None:
    assert hosts_of(ALICE) == {"alice.books.example.com": {"app": "alex-alice00001"}}


def test_edge_map_a_suspended_tenant_carries_its_state() -> None:
    assert hosts_of(BOB) == {"bob.books.example.com": {"app": "alex-bob0000001", "state": "suspended"}}


def test_edge_map_a_cancelled_tenant_carries_the_day_its_export_ends() -> None:
    assert hosts_of(CAROL) == {
        "carol.books.example.com": {"app": "alex-carol00001", "state": "cancelled", "exportUntil": "2026-12-31"}
    }


def test_edge_map_a_cancelled_tenant_without_purge_after_has_no_export_day() -> None:
    assert hosts_of(CAROL_NO_PURGE) == {"carol2.books.example.com": {"app": "alex-carol00002", "state": "cancelled"}}


def test_edge_map_a_purging_tenant_is_left_out_with_its_custom_domains() -> None:
    assert hosts_of(PAT) == {}
    assert set(hosts_of(ALICE, PAT)) == {"alice.books.example.com"}


def test_edge_map_custom_domains_go_to_the_same_app_with_the_same_state() -> None:
    assert hosts_of(DAVE) == {
        "dave.books.example.com": {"app": "alex-dave000001"},
        "dave.example": {"app": "alex-dave000001"},
        "read.dave.net": {"app": "alex-dave000001"},
    }
    suspended = hosts_of(DAVE.with_changes(state="suspended"))
    assert set(suspended) == {"dave.books.example.com", "dave.example", "read.dave.net"}
    assert all(target == {"app": "alex-dave000001", "state": "suspended"} for target in suspended.values())


def test_edge_map_hosts_are_sorted_by_hostname_whatever_the_roster_order() -> None:
    hosts = hosts_of(DAVE, CAROL, BOB, ALICE)
    assert list(hosts) == [
        "alice.books.example.com",
        "bob.books.example.com",
        "carol.books.example.com",
        "dave.books.example.com",
        "dave.example",
        "read.dave.net",
    ]
    assert hosts == hosts_of(ALICE, BOB, CAROL, DAVE)
    assert list(hosts) == list(hosts_of(ALICE, BOB, CAROL, DAVE))


def test_edge_map_of_an_empty_roster_is_empty() -> None:
    assert hosts_of() == {}
    assert edge_hosts([]) == {}


# --- several stacks under one domain ---------------------------------------------------------------


def test_edge_map_two_stacks_of_one_domain_share_the_map_each_with_its_own_apps() -> None:
    books, shelf = stack("books", "alex"), stack("shelf", "shelf")
    other = RosterEntry("erin000001", "erin", "e@example.org", "reader", "active", domains=("read.erin.net",))
    hosts = edge_hosts([EdgeSource(books, [ALICE]), EdgeSource(shelf, [other])])
    assert hosts == {
        "alice.books.example.com": {"app": "alex-alice00001"},
        "erin.books.example.com": {"app": "shelf-erin000001"},
        "read.erin.net": {"app": "shelf-erin000001"},
    }


def test_edge_map_a_username_hostname_claimed_by_two_stacks_names_both_tenants() -> None:
    books, shelf = stack("books", "alex"), stack("shelf", "shelf")
    twin = RosterEntry("alice00002", "alice", "a2@example.org", "reader", "active")
    with pytest.raises(EdgeMapError) as caught:
        edge_hosts([EdgeSource(books, [ALICE]), EdgeSource(shelf, [twin])])
    assert str(caught.value) == (
        "the edge map has hostnames claimed twice:\n"
        "  - alice.books.example.com is claimed by tenant books/alice00001 and tenant shelf/alice00002"
    )


def test_edge_map_a_custom_domain_claimed_twice_names_both_tenants_and_every_clash() -> None:
    books, shelf = stack("books", "alex"), stack("shelf", "shelf")
    # erin's custom domain is dave's too, and also alice's hostname under the domain.
    erin = RosterEntry(
        "erin000001", "erin", "e@example.org", "reader", "active", domains=("read.dave.net", "alice.books.example.com")
    )
    with pytest.raises(EdgeMapError) as caught:
        edge_hosts([EdgeSource(books, [ALICE, DAVE]), EdgeSource(shelf, [erin])])
    assert str(caught.value) == (
        "the edge map has hostnames claimed twice:\n"
        "  - read.dave.net is claimed by tenant books/dave000001 and tenant shelf/erin000001\n"
        "  - alice.books.example.com is claimed by tenant books/alice00001 and tenant shelf/erin000001"
    )


def test_edge_map_a_purging_tenant_claims_nothing() -> None:
    books, shelf = stack("books", "alex"), stack("shelf", "shelf")
    heir = RosterEntry("erin000001", "erin", "e@example.org", "reader", "active", domains=("read.pat.net",))
    hosts = edge_hosts([EdgeSource(books, [PAT]), EdgeSource(shelf, [heir])])
    assert hosts["read.pat.net"] == {"app": "shelf-erin000001"}


def test_edge_map_error_is_a_value_error() -> None:
    assert issubclass(EdgeMapError, ValueError)


# --- the document and its bytes --------------------------------------------------------------------


def test_edge_map_document_carries_version_digest_and_hosts() -> None:
    hosts = hosts_of(ALICE, BOB)
    document = map_document(hosts)
    assert set(document) == {"version", "digest", "hosts"}
    assert document["version"] == MAP_VERSION == 1
    assert document["hosts"] == hosts
    expected = hashlib.sha256(json.dumps(hosts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert document["digest"] == expected


def test_edge_map_digest_changes_exactly_when_the_hosts_change() -> None:
    base = map_document(hosts_of(ALICE, BOB))["digest"]
    assert map_document(hosts_of(BOB, ALICE))["digest"] == base  # roster order is not a change
    reordered = dict(reversed(list(hosts_of(ALICE, BOB).items())))
    assert map_document(reordered)["digest"] == base  # nor is dict order
    assert map_document(hosts_of(ALICE, BOB.with_changes(state="active")))["digest"] != base
    assert map_document(hosts_of(ALICE))["digest"] != base
    assert map_document(hosts_of(ALICE, BOB, DAVE))["digest"] != base
    # A change the map does not carry (an email) is no change to the map.
    assert map_document(hosts_of(ALICE.with_changes(email="new@example.org"), BOB))["digest"] == base


def test_edge_map_bytes_are_deterministic_gzip_without_name_or_time() -> None:
    hosts = hosts_of(ALICE, BOB, CAROL, DAVE)
    data = map_bytes(hosts)
    assert data == map_bytes(hosts) == map_bytes(hosts_of(DAVE, CAROL, BOB, ALICE))
    assert data[:3] == b"\x1f\x8b\x08"  # gzip, deflate
    assert data[3] == 0  # no name, comment or extra field
    assert data[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert json.loads(gzip.decompress(data)) == map_document(hosts)


def test_edge_map_bytes_are_compact_json_with_sorted_keys() -> None:
    hosts = hosts_of(CAROL, ALICE)
    text = gzip.decompress(map_bytes(hosts)).decode()
    assert text == json.dumps(map_document(hosts), sort_keys=True, separators=(",", ":"))
    assert text.startswith('{"digest":"') and " " not in text


def test_edge_map_file_value_is_the_bytes_in_base64() -> None:
    hosts = hosts_of(ALICE, DAVE)
    assert base64.b64decode(file_value(hosts), validate=True) == map_bytes(hosts)
    assert file_value(hosts) == file_value(dict(hosts))


def test_edge_map_path_is_where_the_router_reads_it() -> None:
    assert MAP_PATH == "/etc/alex-edge/map.json"


# --- hostnames -------------------------------------------------------------------------------------


def test_hostnames_primary_is_the_first_custom_domain() -> None:
    assert primary_hostname(DAVE, SETTINGS) == "read.dave.net"


def test_hostnames_primary_without_custom_domains_is_the_username_under_the_domain() -> None:
    assert primary_hostname(ALICE, SETTINGS) == "alice.books.example.com"


def test_hostnames_of_a_tenant_are_its_username_hostname_then_its_domains_in_order() -> None:
    assert tenant_hostnames(DAVE, SETTINGS) == ("dave.books.example.com", "read.dave.net", "dave.example")
    assert tenant_hostnames(ALICE, SETTINGS) == ("alice.books.example.com",)
