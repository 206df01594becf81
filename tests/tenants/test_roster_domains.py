"""The roster's `domains` field: a customer's own hostnames, checked whole, unique, and clear of the stack's domain.

Every bad value is one problem naming the entry, its id and the field `domains`; the rules that need the
stack's domain (equal to it, under it, above it) apply only when the loader is given that domain.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenants.inputs import quote_value
from tenants.naming import CUSTOM_DOMAINS_MAX
from tenants.roster import (
    Problem,
    RosterEntry,
    RosterError,
    dump_roster,
    load_roster,
    parse_roster,
    read_roster,
    write_roster,
)
from tests.tenants.test_naming import dns_name
from tests.tenants.test_roster_whole_values import SPOILERS, assert_printable

TID = "acme000001"
STACK_DOMAIN = "books.example.com"
NOT_A_HOSTNAME = (
    "is not a hostname: lowercase labels of a-z, 0-9 and '-' with a dot between "
    "(punycode for international names), no wildcard, port, scheme or trailing dot"
)


def entry(domains: str | None, *, tenant_id: str = TID, username: str = "alice") -> str:
    """One roster entry; `domains` is the field's YAML text as written (None leaves the field out)."""
    lines = [
        f"- id: {tenant_id}",
        f"  username: {username}",
        f"  email: {username}@example.org",
        "  plan: reader",
        "  state: active",
    ]
    if domains is not None:
        lines.append(f"  domains: {domains}")
    return "\n".join(lines) + "\n"


def quoted(*hostnames: str) -> str:
    """A YAML flow list of double-quoted hostnames (JSON escapes are YAML escapes)."""
    return json.dumps(list(hostnames))


def problems_of(text: str, domain: str | None = None) -> list[Problem]:
    with pytest.raises(RosterError) as caught:
        parse_roster(text, "roster.yaml", domain=domain)
    found = caught.value.problems
    assert all(isinstance(p, Problem) for p in found), found
    return [p for p in found if isinstance(p, Problem)]


def one_problem(text: str, domain: str | None = None) -> str:
    """The single problem of a one-entry roster, checked to name entry 1, its id and `domains`."""
    found = problems_of(text, domain)
    assert len(found) == 1, [str(p) for p in found]
    (problem,) = found
    assert (problem.entry, problem.tenant_id, problem.field) == (1, TID, "domains")
    assert str(problem).startswith(f"entry 1 (id '{TID}'): domains: ")
    assert_printable(str(problem))
    return problem.message


def hostname_of_length(length: int) -> str:
    name = dns_name(length)
    assert len(name) == length
    return name


# --- accepted --------------------------------------------------------------------------------------


def test_roster_domains_a_list_of_hostnames_is_read_as_a_tuple_in_order() -> None:
    (tenant,) = parse_roster(entry("[read.alice.net, books.alice.example]"), "roster.yaml")
    assert tenant.domains == ("read.alice.net", "books.alice.example")


def test_roster_domains_left_out_or_null_is_none() -> None:
    (without,) = parse_roster(entry(None), "roster.yaml")
    (null,) = parse_roster(entry("null"), "roster.yaml")
    assert without.domains is None and null.domains is None


@pytest.mark.parametrize(
    "hostname",
    [
        "read.alice.net",
        "a.co",
        "xn--bcher-kva.de",  # punycode of bücher.de
        "my-books.alice.example",
        "1books.example.net",
        "a" * 63 + ".com",  # the longest label
    ],
)
def test_roster_domains_accepts_a_lowercase_hostname(hostname: str) -> None:
    (tenant,) = parse_roster(entry(quoted(hostname)), "roster.yaml")
    assert tenant.domains == (hostname,)


def test_roster_domains_accepts_a_name_of_253_characters() -> None:
    longest = hostname_of_length(253)
    (tenant,) = parse_roster(entry(quoted(longest)), "roster.yaml")
    assert tenant.domains == (longest,)


def test_roster_domains_accepts_the_most_domains_allowed() -> None:
    names = [f"d{i}.alice.net" for i in range(CUSTOM_DOMAINS_MAX)]
    (tenant,) = parse_roster(entry(quoted(*names)), "roster.yaml")
    assert tenant.domains == tuple(names) and len(names) == 5


# --- the shape of the field ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("read.alice.net", "expected a list of hostnames, got 'read.alice.net'"),
        ('""', "expected a list of hostnames, got ''"),
        ("{read.alice.net: yes}", "expected a list of hostnames, got a mapping"),
        ("42", "expected a list of hostnames, got 42"),
        ("[]", "an empty list: leave the field out instead"),
        ("[42]", "expected text in the list, got 42 (quote it)"),
        ("[read.alice.net, 2026-01-01]", "expected text in the list, got the date 2026-01-01 (quote it)"),
        ("[2026-02-30]", "expected text in the list, got '2026-02-30' (no such day)"),
        ("[read.alice.net, null]", "expected text in the list, got None"),
        ("[[read.alice.net]]", "expected text in the list, got a list"),
        ("[true]", "expected text in the list, got True (quote it)"),
    ],
    ids=[
        "a string",
        "an empty string",
        "a mapping",
        "a number",
        "an empty list",
        "a number item",
        "a date item",
        "an impossible date item",
        "a null item",
        "a nested list",
        "a boolean item",
    ],
)
def test_roster_domains_must_be_a_non_empty_list_of_text(written: str, message: str) -> None:
    assert one_problem(entry(written)) == message


# --- each hostname ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostname",
    [
        "Read.Alice.net",
        "read.alice.net.",
        "*.alice.net",
        "read.alice.net:443",
        "https://read.alice.net",
        "read.alice.net/",
        "192.0.2.1",
        "localhost",
        "read_books.alice.net",
        "a" * 64 + ".com",
        "-read.alice.net",
        "read-.alice.net",
        "read..alice.net",
        ".alice.net",
        "read.alice.n3t",
        "bücher.de",
        "read alice.net",
    ],
    ids=[
        "uppercase",
        "trailing dot",
        "wildcard",
        "port",
        "scheme",
        "path",
        "IPv4 literal",
        "single label",
        "underscore",
        "label over 63",
        "leading hyphen",
        "trailing hyphen",
        "empty label",
        "leading dot",
        "digit in the top-level domain",
        "unicode, not punycode",
        "space inside",
    ],
)
def test_roster_domains_refuses_what_is_not_a_lowercase_hostname(hostname: str) -> None:
    assert one_problem(entry(quoted(hostname))) == f"{quote_value(hostname)} {NOT_A_HOSTNAME}"


def test_roster_domains_refuses_a_name_over_253_characters() -> None:
    too_long = hostname_of_length(254)
    assert one_problem(entry(quoted(too_long))) == f"{quote_value(too_long)} {NOT_A_HOSTNAME}"


@pytest.mark.parametrize("spoiler", SPOILERS, ids=list(SPOILERS))
def test_roster_domains_a_spoilt_hostname_is_refused_and_shown_escaped(spoiler: str) -> None:
    bad = SPOILERS[spoiler]("read.alice.net")
    message = one_problem(entry(quoted("books.alice.example", bad)))
    assert message == f"{quote_value(bad)} {NOT_A_HOSTNAME}"


@pytest.mark.parametrize("spoiler", ["trailing LF", "trailing space", "zero-width space inside", "BOM inside"])
def test_roster_domains_a_spoilt_twin_never_loads_beside_the_clean_name(spoiler: str) -> None:
    """The spoilt copy is refused as a hostname, so it cannot pass as a second, different domain."""
    twin = SPOILERS[spoiler]("read.alice.net")
    text = entry(quoted("read.alice.net")) + entry(quoted(twin), tenant_id="acme000002", username="bob")
    found = problems_of(text)
    assert [(p.entry, p.tenant_id, p.field) for p in found] == [(2, "acme000002", "domains")]
    assert found[0].message == f"{quote_value(twin)} {NOT_A_HOSTNAME}"


# --- repeats and counts ----------------------------------------------------------------------------


def test_roster_domains_a_hostname_listed_twice_in_one_entry_is_refused() -> None:
    assert one_problem(entry("[read.alice.net, books.alice.example, read.alice.net]")) == (
        "'read.alice.net' is listed more than once"
    )


def test_roster_domains_a_hostname_of_another_entry_is_refused_on_the_later_entry() -> None:
    text = entry("[read.alice.net]") + entry(
        "[books.bob.example, read.alice.net]", tenant_id="acme000002", username="bob"
    )
    found = problems_of(text)
    assert [str(p) for p in found] == [
        "entry 2 (id 'acme000002'): domains: 'read.alice.net' is already a domain of tenant 'acme000001'"
    ]


def test_roster_domains_a_hostname_repeated_within_and_across_entries_is_reported_once_each() -> None:
    text = entry("[read.alice.net]") + entry("[read.alice.net, read.alice.net]", tenant_id="acme000002", username="bob")
    assert [str(p) for p in problems_of(text)] == [
        "entry 2 (id 'acme000002'): domains: 'read.alice.net' is listed more than once",
        "entry 2 (id 'acme000002'): domains: 'read.alice.net' is already a domain of tenant 'acme000001'",
    ]


def test_roster_domains_a_broken_first_entry_still_claims_its_domain() -> None:
    """Duplicates count entries as written: the first copy's bad email does not free its hostname."""
    first = entry("[read.alice.net]").replace("alice@example.org", "not-an-email")
    text = first + entry("[read.alice.net]", tenant_id="acme000002", username="bob")
    assert [(p.entry, p.field) for p in problems_of(text)] == [(1, "email"), (2, "domains")]
    assert problems_of(text)[1].message == "'read.alice.net' is already a domain of tenant 'acme000001'"


def test_roster_domains_more_than_the_maximum_is_refused() -> None:
    names = [f"d{i}.alice.net" for i in range(CUSTOM_DOMAINS_MAX + 1)]
    assert one_problem(entry(quoted(*names))) == "at most 5 custom domains per tenant, got 6"


def test_roster_domains_the_writer_refuses_what_the_loader_would(tmp_path: Path) -> None:
    alice = RosterEntry(TID, "alice", "alice@example.org", "reader", "active", domains=("read.alice.net",))
    bob = RosterEntry("acme000002", "bob", "bob@example.org", "reader", "active", domains=("read.alice.net",))
    path = tmp_path / "r.yaml"
    with pytest.raises(RosterError) as caught:
        write_roster(path, [alice, bob])
    assert [str(p) for p in caught.value.problems] == [
        "entry 2 (id 'acme000002'): domains: 'read.alice.net' is already a domain of tenant 'acme000001'"
    ]
    assert not path.exists()


# --- the stack's domain ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostname",
    ["books.example.com", "x.books.example.com", "alice.books.example.com", "a.b.books.example.com", "example.com"],
    ids=["the domain itself", "under it", "a tenant's own hostname", "deeper under it", "its parent"],
)
def test_roster_domains_in_the_stacks_name_space_are_refused_given_the_domain(hostname: str) -> None:
    message = one_problem(entry(quoted(hostname)), domain=STACK_DOMAIN)
    assert message == f"{quote_value(hostname)} is the stack's own domain books.example.com or shares its name space"


@pytest.mark.parametrize(
    "hostname", ["books.example.org", "notbooks.example.com", "books.example.com.au", "com.example"]
)
def test_roster_domains_beside_the_stacks_domain_are_accepted(hostname: str) -> None:
    (tenant,) = parse_roster(entry(quoted(hostname)), "roster.yaml", domain=STACK_DOMAIN)
    assert tenant.domains == (hostname,)


def test_roster_domains_the_stack_domain_rule_names_the_right_entry() -> None:
    text = entry("[read.alice.net]") + entry(
        "[read.bob.net, x.books.example.com]", tenant_id="acme000002", username="bob"
    )
    assert [str(p) for p in problems_of(text, STACK_DOMAIN)] == [
        "entry 2 (id 'acme000002'): domains: 'x.books.example.com' is the stack's own domain books.example.com "
        "or shares its name space"
    ]


def test_roster_domains_load_and_read_roster_apply_the_stack_domain_rule(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(entry(quoted("x.books.example.com")))
    for load in (load_roster, read_roster):
        with pytest.raises(RosterError, match=r"entry 1 \(id 'acme000001'\): domains: 'x.books.example.com' is the"):
            load(path, domain=STACK_DOMAIN)


@pytest.mark.parametrize("hostname", ["books.example.com", "x.books.example.com", "example.com"])
def test_roster_domains_without_the_stack_domain_the_rule_cannot_apply(hostname: str, tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(entry(quoted(hostname)))
    (tenant,) = load_roster(path)
    assert tenant.domains == (hostname,)
    (tenant,) = parse_roster(entry(quoted(hostname)), "roster.yaml")
    assert tenant.domains == (hostname,)


# --- writing and the entry itself ------------------------------------------------------------------


def test_roster_domains_round_trip_byte_identical() -> None:
    alice = RosterEntry(
        TID, "alice", "alice@example.org", "reader", "active", region="ams", domains=("read.alice.net", "alice.example")
    )
    bob = RosterEntry("acme000002", "bob", "bob@example.org", "reader", "active")
    text = dump_roster([bob, alice])
    assert "  domains:\n  - read.alice.net\n  - alice.example\n" in text
    # The field's place is the dataclass's: after region, before stripe_customer.
    assert text.index("region: ams") < text.index("domains:")
    loaded = parse_roster(text, "roster.yaml", domain=STACK_DOMAIN)
    assert loaded == [alice, bob]
    assert dump_roster(loaded) == text


def test_roster_domains_an_entry_given_a_list_stores_a_hashable_tuple() -> None:
    given = ["read.alice.net", "alice.example"]
    tenant = RosterEntry(TID, "alice", "alice@example.org", "reader", "active", domains=given)  # type: ignore[arg-type]
    assert tenant.domains == ("read.alice.net", "alice.example")
    assert isinstance(tenant.domains, tuple)
    given.append("later.example")  # the caller's list is not shared
    assert tenant.domains == ("read.alice.net", "alice.example")
    same = RosterEntry(
        TID, "alice", "alice@example.org", "reader", "active", domains=("read.alice.net", "alice.example")
    )
    assert tenant == same and hash(tenant) == hash(same) and len({tenant, same}) == 1
    assert tenant.to_mapping()["domains"] == ["read.alice.net", "alice.example"]
    assert tenant.with_changes(domains=["x.example"]).domains == ("x.example",)


def test_roster_domains_the_writer_never_writes_what_the_loader_refuses(tmp_path: Path) -> None:
    """Removing a tenant's last domain with domains=() must write a roster that loads (or be refused)."""
    path = tmp_path / "r.yaml"
    alice = RosterEntry(TID, "alice", "alice@example.org", "reader", "active", domains=("read.alice.net",))
    write_roster(path, [alice])
    try:
        write_roster(path, [alice.with_changes(domains=())])
    except RosterError:
        return  # refusing the empty list is as good as writing the entry without it
    (tenant,) = load_roster(path)
    assert not tenant.domains


def test_roster_domains_the_stack_domain_rule_reports_with_every_other_problem() -> None:
    """Every problem at once: a bad email does not hide a custom domain inside the stack's domain."""
    text = entry('["x.books.example.com"]').replace("alice@example.org", "nope")
    found = {(p.field, p.message) for p in problems_of(text, domain=STACK_DOMAIN)}
    assert ("email", "'nope' is not an email address: an email address must have an @-sign") in found
    assert any(field == "domains" and "the stack's own domain" in message for field, message in found)
