"""The whole funnel on 127.0.0.1, from a stranger's form to their welcome email, with no operator.

signup form -> Stripe Checkout (the fake) -> paid -> `checkout.session.completed` to the site's webhook
-> one debounced dispatch of the sync workflow (the GitHub stand-in) -> what that workflow runs: the
Stripe sync writes the roster -> what apply runs: the program's resources for it, through the providers
in their own process, to the Fly emulator and a local SMTP server (aiosmtpd) -> the welcome email, with
the library's address and the first password. A second `up` sends nothing. Then the subscription goes
unpaid and is cancelled: one notice each.

The real engine is not here (docs/reference/real-engine.md §0): `tests.program.fly_engine` plays its
part, over the same provider process the engine would start.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from billing.cursor import cursor_path
from billing.stripe_source import make_client
from billing.sync import SyncSettings, run_sync
from components.email_templates import CHANGE_PASSWORD_LINE, long_date
from config.stack_config import EmailSettings
from emulators.fly import FlyEmulator
from emulators.fly.speeds import PROVIDER_TESTS
from providers.smtp import SmtpSettings
from tenants.plans import DEFAULT_PLANS
from tenants.roster import load_roster, write_roster
from tests.conftest import FLY_TEST_TOKEN
from tests.email.conftest import SENDER, SMTP_PASSWORD, SMTP_USER, SmtpServer
from tests.fly.conftest import FAST_ENV
from tests.program.fly_engine import FlyEngine
from tests.program.harness import Recording, run_program, settings
from tests.signup.conftest import API_KEY, Site
from tests.signup.test_webhook import deliver
from tests.support.engine import ProviderHost

EMAILS_SINCE = datetime(2026, 1, 1, tzinfo=UTC).date()


@pytest.fixture
def site_options() -> dict[str, Any]:
    return {"self_public": True, "env": {"SYNC_DEBOUNCE_S": "0.2"}}


@pytest.fixture
def mailbox() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def cloud(mailbox: SmtpServer) -> Iterator[tuple[FlyEmulator, FlyEngine]]:
    with FlyEmulator(token=FLY_TEST_TOKEN, org="alex-hosted", **PROVIDER_TESTS.kwargs()) as emu:
        env = {
            "FLY_API_URL": emu.url,
            "FLY_API_TOKEN": FLY_TEST_TOKEN,
            "ALEX_SMTP_PASSWORD": SMTP_PASSWORD,
            **FAST_ENV,
            "ALEX_FLY_RATE_PER_S": "1",
        }
        with ProviderHost(env=env) as host:
            yield emu, FlyEngine(host)


def stack(mailbox: SmtpServer) -> Any:
    smtp = SmtpSettings(
        host="127.0.0.1", port=mailbox.port, sender=SENDER, username=SMTP_USER, starttls=False, timeout_s=5.0
    )
    emails = EmailSettings(smtp, EMAILS_SINCE, "https://billing.stripe.com/p/login/test_funnel", "help@example.net")
    return replace(settings(), emails=emails)


def sync(site: Site, roster: Path) -> str:
    """What stripe-sync.yml runs when the site dispatches it: the incremental sync, writing the roster and
    its cursor; how it read Stripe."""
    client = make_client(API_KEY, api_base=site.stripe_url, timeout=5.0)
    settings = SyncSettings(roster=roster, plans=DEFAULT_PLANS, cursor=cursor_path(roster), incremental=True)
    summary = run_sync(settings, client, datetime.now(UTC))
    assert not summary.report.needs_attention, summary.report.notices
    return summary.read.mode


def apply(engine: FlyEngine, roster: Path, mailbox: SmtpServer) -> Recording:
    """What apply.yml runs after the sync's commit: `pulumi up` of the stack."""
    recording = run_program(load_roster(roster), stack(mailbox))
    engine.up(recording)
    return recording


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_stranger_signs_up_pays_and_gets_a_welcome_email_with_no_operator(
    site: Site, cloud: tuple[FlyEmulator, FlyEngine], mailbox: SmtpServer, tmp_path: Path
) -> None:
    emu, engine = cloud
    roster = tmp_path / "prod.yaml"
    write_roster(roster, [])

    form = {"username": "newreader", "email": "new.reader@example.org", "plan": "reader"}
    sent = site.post("/signup", data=form)
    assert sent.status_code == 303
    (session_id,) = re.findall(r"/checkout/(cs_test_\w+)", sent.headers["Location"])
    site.world.complete_checkout(session_id)
    completed = next(e for e in site.world.events if e["type"] == "checkout.session.completed")
    started = time.monotonic()
    assert deliver(site, json.dumps(completed).encode()).status_code == 200
    assert time.monotonic() - started < 0.1
    wait_for(lambda: len(site.github.world.dispatches) == 1)
    assert site.github.world.dispatches[0].inputs == {"reason": "webhook: 1 event", "mode": "incremental"}

    assert sync(site, roster) == "full"  # a new domain has no cursor yet
    (tenant,) = load_roster(roster)
    assert (tenant.username, tenant.email, tenant.plan, tenant.state) == (
        "newreader", "new.reader@example.org", "reader", "active"
    )  # fmt: skip
    recording = apply(engine, roster, mailbox)

    machines = [m for m in emu.state.machines_of(f"alex-{tenant.id}") if m.state != "destroyed"]
    assert [m.state for m in machines] == ["started"]
    (welcome,) = mailbox.received
    password = f"pw-{tenant.id}-owner-password-{'x' * 16}"  # the mocks' stand-in for the generated one
    assert recording.one(f"{tenant.id}-owner-password").type == "random:index/randomPassword:RandomPassword"
    assert welcome.rcpt_tos == ["new.reader@example.org"]
    assert "https://newreader.books.example.com" in welcome.body
    assert password in welcome.body and "new.reader@example.org" in welcome.body
    assert CHANGE_PASSWORD_LINE in " ".join(welcome.body.split())  # wrapped at 72 columns

    mailbox.clear()
    emu.reset_log()
    apply(engine, roster, mailbox)
    assert mailbox.received == [] and emu.writes() == 0  # a second up sends nothing

    (subscription,) = site.world.subscriptions
    site.world.set_status(subscription, "unpaid")
    assert sync(site, roster) == "incremental"
    apply(engine, roster, mailbox)
    (paused,) = mailbox.received
    assert "paused" in paused.header("Subject").lower() and "pw-" not in paused.body

    mailbox.clear()
    site.world.cancel(subscription, at=int(time.time()))
    assert sync(site, roster) == "incremental"
    (cancelled,) = load_roster(roster)
    assert cancelled.state == "cancelled" and cancelled.purge_after is not None
    apply(engine, roster, mailbox)
    (closed,) = mailbox.received
    assert long_date(cancelled.purge_after) in closed.body and "pw-" not in closed.body
