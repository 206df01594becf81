"""The signup site's resources under mocks: declared only with an image, secrets kept secret, the names
file, and `www.<domain>` in the edge's map."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import date
from typing import Any

import pulumi
import pytest

from tenants.roster import RosterEntry
from tests.program.harness import (
    Recording,
    config_problems,
    decode_map,
    is_secret,
    plain_strings,
    run_program,
    settings,
)

SECRETS = {
    "stripeRestrictedKey": "rk_test_restricted_0123456789",
    "stripeWebhookSecret": "whsec_0123456789abcdef",
    "githubDispatchToken": "github_pat_dispatch_only_0123456789",
}
ALICE = RosterEntry("alice00001", "alice", "alice@example.org", "free", "active", created_at=date(2026, 1, 1))
GONE = RosterEntry(
    "gone000001", "leaving", "l@example.org", "free", "purging", created_at=date(2026, 1, 1),
    cancelled_at=date(2026, 5, 1), purge_after=date(2026, 5, 31), purge_marked_at=date(2026, 6, 1),
)  # fmt: skip


class StackSecrets:
    """What `pulumi.Config("alex-hosted")` gives the program for the signup secrets."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def require_secret(self, key: str) -> pulumi.Output[str]:
        if key not in self.values:
            raise pulumi.ConfigMissingError(f"alex-hosted:{key}", True)
        return pulumi.Output.secret(self.values[key])


def with_signup() -> Any:
    return replace(
        settings(), signup_image="ghcr.io/alex-hosted/alex-hosted-signup:1.0.0-1", github_repository="acme/books"
    )


@pytest.fixture(scope="module")
def recording() -> Recording:
    return run_program([ALICE, GONE], with_signup(), StackSecrets(SECRETS))


def test_no_signup_image_no_signup_site() -> None:
    names = set(run_program([ALICE]).registrations)
    assert not {n for n in names if n.startswith("signup")}


def test_signup_site_is_an_app_with_secrets_and_one_always_on_machine(recording: Recording) -> None:
    assert recording.one("signup").type == "alex-hosted:signup:Signup"
    assert recording.one("signup-app").plain("name") == "alex-signup"
    machine = recording.one("signup-machine")
    config = machine.plain("config")
    assert config["image"] == "ghcr.io/alex-hosted/alex-hosted-signup:1.0.0-1"
    assert config["services"][0]["autostop"] == "off"
    assert config["env"]["GITHUB_REPOSITORY"] == "acme/books"
    assert machine.plain("await_checks") is True
    assert recording.one("signup-secrets").urn in machine.dependencies


def test_signup_secrets_are_secret_inputs_and_nowhere_in_plain_text(recording: Recording) -> None:
    secrets = recording.one("signup-secrets")
    values = secrets.inputs["values"]
    assert is_secret(values)
    assert sorted(values["value"]) == ["GITHUB_DISPATCH_TOKEN", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"]
    assert "values" in secrets.additional_secret_outputs
    for registration in recording.registrations.values():
        assert not set(SECRETS.values()) & set(plain_strings(registration.inputs)), registration.name


def test_the_names_file_holds_every_username_in_any_state(recording: Recording) -> None:
    (file,) = recording.one("signup-machine").plain("config")["files"]
    assert json.loads(base64.b64decode(file["raw_value"])) == {"version": 1, "usernames": ["alice", "leaving"]}


def test_the_edge_sends_www_to_the_signup_app(recording: Recording) -> None:
    hosts = decode_map(recording.one("edge-machine-ams").plain("config"))["hosts"]
    assert hosts["www.books.example.com"] == {"app": "alex-signup"}


def test_a_missing_signup_secret_fails_the_program_naming_it() -> None:
    partial = {k: v for k, v in SECRETS.items() if k != "stripeWebhookSecret"}
    with pytest.raises(Exception, match="alex-hosted:stripeWebhookSecret"):
        run_program([ALICE], with_signup(), StackSecrets(partial))


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"signupImage": "ghcr.io/x/signup:1"}, "alex-hosted:githubRepository: required with alex-hosted:signupImage"),
        ({"githubRepository": "not a repo"}, "alex-hosted:githubRepository: expected owner/name of this repository"),
        (
            {"signupImage": "ghcr.io/x/signup:latest", "githubRepository": "a/b"},
            "alex-hosted:signupImage: 'latest' is not a pin",
        ),
    ],
)
def test_signup_config_problems_name_the_key(values: dict[str, str], problem: str) -> None:
    found = config_problems({f"alex-hosted:{k}": v for k, v in values.items()})
    assert any(p.startswith(problem) for p in found), found
