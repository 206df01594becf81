"""Certificate provider lifecycle against the emulator; up never waits for issuance."""

from __future__ import annotations

import pytest

from providers.fly.certificate import CertificateProvider
from tests.fly.lifecycle import preview, refresh, up


@pytest.fixture
def certs(host):
    return host.bind(CertificateProvider())


def test_certificate_lifecycle_pending_then_active_without_diff(certs, emu, app):
    host = f"{app}.example.com"
    inputs = {"app": app, "hostname": host}
    id_, outs = up(certs, inputs)
    assert id_ == host and outs["status"] != "active"
    assert outs["cname_target"] == f"{app}.fly.dev"
    assert outs["acme_challenge_name"] == f"_acme-challenge.{host}" and outs["acme_challenge_target"]
    assert outs["ownership_name"] == f"_fly-ownership.{host}" and outs["ownership_value"]
    assert preview(certs, id_, outs, inputs).changes is False

    emu.set_certificate_status(app, host, "active")
    rid, routs, rinputs = refresh(certs, id_, outs)
    assert routs["status"] == "active" and preview(certs, rid, routs, rinputs).changes is False
    assert preview(certs, id_, outs, {**inputs, "hostname": f"x{host}"}).replaces == ["hostname"]

    _, again = up(certs, inputs)  # a retried create adopts the existing certificate
    assert again["status"] == "active"

    certs.delete(id_, routs)
    assert refresh(certs, id_, routs)[0] == ""
    certs.delete(id_, routs)  # 404 is success


def test_certificate_check_rejects_bad_hostname(certs):
    assert [p for p, _ in certs.check({}, {"app": "a-app", "hostname": "Not A Host"}).failures] == ["hostname"]


@pytest.mark.parametrize(
    "hostname", ["*.books.example.com", "books.example.com", "read.alice.net", "*.a.co", "xn--bcher-kva.de"]
)
def test_certificate_check_accepts_a_hostname_or_a_wildcard_of_one(certs, hostname):
    result = certs.check({}, {"app": "a-app", "hostname": hostname})
    assert result.failures == []
    assert result.inputs["hostname"] == hostname


@pytest.mark.parametrize(
    "hostname",
    [
        "*.*.example.com",
        "a*.example.com",
        "*a.example.com",
        "books.*.example.com",
        "*.com",
        "*",
        "*.",
        "*.Books.Example.com",
        "Books.example.com",
        "*.books.example.com.",
        "*.books.example.com\n",
        " *.books.example.com",
    ],
)
def test_certificate_check_refuses_a_wildcard_that_is_not_one_whole_level(certs, hostname):
    failures = certs.check({}, {"app": "a-app", "hostname": hostname}).failures
    assert [(p, m) for p, m in failures] == [
        ("hostname", f"hostname must be a lowercase DNS name or *.<name>, got {hostname!r}")
    ]
