"""Who a client is, for the per-client limits: an address, an IPv6 one by its /64."""

from __future__ import annotations

import pytest

from public_http.clients import client_address, client_key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:0db8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::1", "::/64"),
        ("not an address", "not an address"),
        ("", ""),
    ],
)
def test_client_key(address, key):
    assert client_key(address) == key


@pytest.mark.parametrize(
    ("given", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 2001:db8::1 ", "2001:db8::1"),
        ("2001:0DB8::0001", "2001:db8::1"),
        ("203.0.113.7, 10.0.0.1", "10.9.9.9"),  # a list is not an address
        ("203.0.113.7\x00", "10.9.9.9"),
        ("1" * 65, "10.9.9.9"),
        ("", "10.9.9.9"),
    ],
)
def test_client_address_takes_flys_header_only_when_it_is_one_address(given, client):
    assert client_address({"Fly-Client-IP": given}, "10.9.9.9") == client
    assert client_address({}, "10.9.9.9") == "10.9.9.9"
