"""A fresh stack under the real engine: only creates, then nothing to change, and no secret anywhere.

Steps 1 and 4 of the lane: `preview` of a new stack shows only creates; `up` creates the edge and the
tenants (welcome emails included, sent to a local SMTP server); the same state then passes `preview
--expect-no-changes`, `refresh --expect-no-changes` and an `up` that sends no write to Fly or Cloudflare.
A perpetual diff anywhere (the token's policy JSON, a machine's config, a record) fails here. Then no
secret value is in the checkpoint file, the stack outputs or anything the CLI printed.
"""

from __future__ import annotations

import hashlib
import json

from tests.e2e.conftest import CF_TOKEN, bucket_names, dns_records, tenant, token_values
from tests.email.conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer
from tests.support.pulumi_cli import printed_by

ROSTER = [
    tenant("e2eowner01", "demo"),
    tenant("e2ereader1", "reader-test", "reader"),
    tenant("e2epause01", "paused-test", "reader", "suspended", hold="operator"),
]
EMAILS = {
    "alex-hosted:emailsSince": "2026-06-01",
    "alex-hosted:billingPortalUrl": "https://billing.stripe.com/p/login/test_123",
    "alex-hosted:supportEmail": "help@example.org",
}


def test_a_fresh_stack_comes_up_converged_and_keeps_every_secret_out_of_sight(workspace, config, fly, cloudflare):
    with SmtpServer() as smtp:
        smtp_settings = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "user": SMTP_USER,
            "from": "Books <hi@example.org>",
            "starttls": False,
        }
        workspace.new_stack("e2e", {**config, **EMAILS, "alex-hosted:smtp": smtp_settings}, ROSTER)
        workspace.pulumi(
            "config", "set", "--secret", "--stack", "e2e", "alex-hosted:smtpPassword", SMTP_PASSWORD, events=False
        ).check()

        preview = workspace.preview("e2e").check()
        assert set(preview.changes()) == {"create"}, preview.summary()

        up = workspace.up("e2e").check()
        assert set(up.changes()) == {"create"}, up.summary()
        assert up.changes() == preview.changes()
        apps = {a.name for a in fly.state.apps.values()}
        assert {"e2e-edge", "e2e-e2eowner01", "e2e-e2ereader1", "e2e-e2epause01"} <= apps
        assert sorted(bucket_names(cloudflare)) == ["alex-e2eowner01", "alex-e2epause01", "alex-e2ereader1"]
        assert len(token_values(cloudflare)) == 3
        assert sorted(r["name"] for r in dns_records(cloudflare)) == ["*.books.test", "_acme-challenge.books.test"]
        mailed = sorted(r for m in smtp.received for r in m.rcpt_tos)
        # a welcome each, and the suspended owner a suspension notice too
        assert mailed == [
            "demo@example.org",
            "paused-test@example.org",
            "paused-test@example.org",
            "reader-test@example.org",
        ]

        fly.reset_log()
        cloudflare.reset_log()
        again = [
            workspace.preview("e2e", "--no-changes").check(),
            workspace.refresh("e2e", "--expect-no-changes").check(),
            workspace.up("e2e").check(),
        ]
        assert again[2].changes() == {}, again[2].summary()
        assert fly.writes() == 0, [r for r in fly.requests if r.method != "GET"]
        assert cloudflare.writes() == []
        assert len(smtp.received) == 4  # nothing sent twice

    secrets = {
        "the Fly token": "test-fly-token",
        "the Cloudflare token": CF_TOKEN,
        "the SMTP password": SMTP_PASSWORD,
    }
    for i, value in enumerate(token_values(cloudflare)):
        secrets[f"token value {i}"] = value
        secrets[f"R2 secret {i}"] = hashlib.sha256(value.encode()).hexdigest()
    for app, app_secrets in fly.state.secrets.items():
        for name, secret in app_secrets.items():
            if name != "R2_ACCESS_KEY_ID":  # the token's id: an identifier, shown in outputs like any id
                secrets[f"{app} {name}"] = secret.value
    passwords = workspace.outputs("e2e", secrets=True)["initialPasswords"]
    for tid, password in passwords.items():
        secrets[f"owner password of {tid}"] = password
    assert len(secrets) >= 3 + 6 + 3 * 4

    state = workspace.state_text("e2e")
    outputs = json.dumps(workspace.outputs("e2e"))
    printed = printed_by([preview, up, *again])
    for where, text in (("the checkpoint", state), ("the stack outputs", outputs), ("the CLI's output", printed)):
        leaked = [name for name, value in secrets.items() if value and value in text]
        assert not leaked, f"{where} holds {leaked}"
