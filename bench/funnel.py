"""From a completed checkout to a started machine and a sent welcome email: our own time (not a test).

Everything on 127.0.0.1: the signup site, the fake Stripe, the GitHub stand-in, the Fly emulator at its
reference speeds and a local SMTP server. Timed, in order: the webhook's answer, the debounce until the
sync workflow is dispatched (the site's default window unless --debounce), the Stripe sync writing the
roster, and the `up` of the new tenant (program evaluation under mocks, then its resources through the
providers in their own process: Fly app, secrets, volume, machine started, welcome email sent).
Not included: CI queueing, the runner's setup, the image pull and certificate issuance (the wildcard is
already there).

With `--engine real` the `up` step is the real engine (tests/e2e's harness: the real CLI and plugins, the
Cloudflare emulator, moto as R2), run through `scripts.pulumi_stack up` as the apply workflow does, on a
stack whose edge already exists (its first `up` is done before the clock starts).

    .venv/bin/python -m bench.funnel [--debounce 20] [--engine real]
    .venv/bin/python -m bench.funnel --engine real --customers 10000 --latency 0.3

With `--customers N` the fake Stripe already holds N generated customers (emulators.stripe's mix of
statuses and prices) and answers every request after `--latency` seconds (Stripe's round trip); before the
clock starts, a full sync places them in shards of `--shard-capacity` and leaves its cursor, and the real
engine's stack is the shard the new customer will land in (placement fills shards in order), brought up
with `scripts.pulumi_stack up --bulk` and committed to git. After the webhook the sync is the triggered,
incremental one, and the `up` is the apply workflow's: `scripts.pulumi_stack up --base HEAD~1`, the new
tenant and the edge targeted.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import threading
import time
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import requests
import stripe

from billing.cursor import cursor_path
from billing.stripe_source import PINNED_API_VERSION, make_client
from billing.sync import ShardFile, ShardSyncSettings, SyncSettings, run_sync, run_sync_shards
from config.stack_config import EmailSettings
from emulators.cloudflare import CloudflareEmulator
from emulators.cloudflare.s3 import S3Objects
from emulators.fly import FlyEmulator
from emulators.fly.speeds import REFERENCE
from emulators.github import GitHubWorld
from emulators.github import serve as serve_github
from emulators.stripe.__main__ import generate
from emulators.stripe.server import serve as serve_stripe
from emulators.stripe.state import StripeWorld
from providers.smtp import SmtpSettings
from signup.app import RateLimits, SignupApp, make_server
from signup.dispatch import Dispatcher, DispatchTarget
from signup.settings import DEFAULT_DEBOUNCE_S, from_env
from tenants.plans import DEFAULT_PLANS
from tenants.roster import dump_roster, forget_checked_emails, load_roster, write_roster
from tests.e2e.conftest import ACCOUNT, CF_TOKEN, ZONE, stack_config
from tests.email.conftest import SENDER, SMTP_PASSWORD, SMTP_USER, SmtpServer
from tests.program.fly_engine import FlyEngine
from tests.program.harness import run_program, settings
from tests.support.engine import ProviderHost
from tests.support.pulumi_cli import Workspace
from tests.support.servers import free_port, start_moto

KEY, SECRET, TOKEN, REPO, FLY_TOKEN = "sk_test_bench", "whsec_bench", "ghp_bench", "octo/hosted", "bench-fly-token"
STACK = "funnel"


def git(cwd: Path, *args: str) -> None:
    who = ["-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    subprocess.run(["git", *who, *args], cwd=cwd, check=True, capture_output=True)


def real_engine(
    stack: ExitStack, tmp: Path, fly: FlyEmulator, mailbox: SmtpServer, roster_text: str | None = None
) -> Workspace:
    """A stack on the real engine whose edge (and the tenants of `roster_text`, in bulk) are already up
    before the clock starts, committed to git so the apply's `--base` can see what changed; emails to
    `mailbox`."""
    server, r2 = start_moto()
    stack.callback(server.stop)
    cloudflare = stack.enter_context(
        CloudflareEmulator(token=CF_TOKEN, account_id=ACCOUNT, zones={ZONE: "books.test"}, objects=S3Objects(r2))
    )
    env = {"FLY_API_URL": fly.url, "FLY_API_TOKEN": FLY_TOKEN, "CLOUDFLARE_API_TOKEN": CF_TOKEN}
    workspace = Workspace(tmp / "engine", {**env, "ALEX_SMTP_PASSWORD": SMTP_PASSWORD})
    smtp = {"host": "127.0.0.1", "port": mailbox.port, "user": SMTP_USER, "from": SENDER, "starttls": False}
    emails = {
        "alex-hosted:smtp": smtp,
        "alex-hosted:emailsSince": "2026-01-01",
        "alex-hosted:billingPortalUrl": "https://billing.stripe.com/p/login/bench",
        "alex-hosted:supportEmail": "help@example.net",
    }
    config = {**stack_config(fly, cloudflare, r2), **emails, "alex-hosted:flyOrg": "alex-hosted"}
    workspace.new_stack(STACK, config, [])
    if roster_text is None:
        workspace.up(STACK).check()
        return workspace
    workspace.roster_file(STACK).write_text(roster_text, encoding="utf-8")
    started = time.perf_counter()
    workspace.up(STACK, "--bulk").check()
    tenants = len(load_roster(workspace.roster_file(STACK)))
    print(f"(before the clock) bulk up of the shard's {tenants} tenants: {time.perf_counter() - started:.1f} s")
    git(workspace.project, "init", "-q", "-b", "main")
    git(workspace.project, "add", "-A")
    git(workspace.project, "commit", "-qm", "the shard as it is")
    return workspace


def existing_customers(
    world: StripeWorld, stripe_url: str, tmp: Path, customers: int, capacity: int
) -> tuple[ShardSyncSettings, ShardFile]:
    """`customers` in the fake Stripe, placed in shards by a full sync (which leaves the cursor); returns
    the shards' settings for the triggered (incremental) sync and the shard a new customer lands in."""
    generate(world, customers)
    count = customers // capacity + 2
    shards = tuple(ShardFile(f"prod-{n}", tmp / f"prod-{n}.yaml", capacity) for n in range(count))
    for shard in shards:
        shard.roster.write_text(dump_roster([]), encoding="utf-8")
    settings = ShardSyncSettings(
        shards=shards, plans=DEFAULT_PLANS, domain="books.example.com", cursor=cursor_path(shards[0].roster)
    )
    started = time.perf_counter()
    run_sync_shards(settings, make_client(KEY, api_base=stripe_url, timeout=60.0), datetime.now(UTC))
    target = next(s for s in shards if len(load_roster(s.roster)) < capacity)
    placed = sum(len(load_roster(s.roster)) for s in shards)
    print(
        f"(before the clock) {customers} customers, {placed} roster entries in shards of {capacity}: full sync"
        f" {time.perf_counter() - started:.1f} s; the next lands in {target.stack}"
        f" ({len(load_roster(target.roster))} tenants)"
    )
    return replace(settings, incremental=True), target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--debounce", type=float, default=DEFAULT_DEBOUNCE_S, help="the site's SYNC_DEBOUNCE_S")
    parser.add_argument(
        "--engine", choices=("stand-in", "real"), default="stand-in", help="what runs the `up` step (default stand-in)"
    )
    parser.add_argument("--customers", type=int, default=0, help="existing customers in Stripe (needs --engine real)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per Stripe request (0.3 is Stripe's)")
    parser.add_argument("--shard-capacity", type=int, default=400, help="tenants per shard (default 400)")
    args = parser.parse_args(argv)
    if args.customers and args.engine != "real":
        parser.error("--customers needs --engine real")
    world = StripeWorld(api_key=KEY, api_version=PINNED_API_VERSION)
    world.add_price("reader_monthly", 400, currency="eur", interval="month")
    github_world = GitHubWorld(repository=REPO, token=TOKEN)
    with (
        TemporaryDirectory() as tmp,
        serve_stripe(world, latency=args.latency) as (stripe_url, _fake),
        serve_github(github_world) as (github_url, _github),
        SmtpServer() as mailbox,
        FlyEmulator(token=FLY_TOKEN, org="alex-hosted", rate_limit=True, **REFERENCE.kwargs(wait_cap=5.0)) as fly,
        ProviderHost(
            env={"FLY_API_URL": fly.url, "FLY_API_TOKEN": FLY_TOKEN, "ALEX_SMTP_PASSWORD": SMTP_PASSWORD}
        ) as host,
        ExitStack() as real,
    ):
        shards: ShardSyncSettings | None = None
        landing: ShardFile | None = None
        if args.customers:
            shards, landing = existing_customers(world, stripe_url, Path(tmp), args.customers, args.shard_capacity)
        roster_text = landing.roster.read_text(encoding="utf-8") if landing else None
        workspace = real_engine(real, Path(tmp), fly, mailbox, roster_text) if args.engine == "real" else None
        mailed_before = len(mailbox.received)
        names, roster = Path(tmp) / "names.json", Path(tmp) / "prod.yaml"
        names.write_text(json.dumps({"version": 1, "usernames": []}))
        write_roster(roster, [])
        port = free_port()
        site_settings = from_env(
            {
                "SIGNUP_DOMAIN": "books.example.com",
                "SIGNUP_NAMES_FILE": str(names),
                "SIGNUP_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "STRIPE_API_KEY": KEY,
                "STRIPE_API_BASE": stripe_url,
                "STRIPE_WEBHOOK_SECRET": SECRET,
                "GITHUB_API_URL": github_url,
                "GITHUB_REPOSITORY": REPO,
                "GITHUB_DISPATCH_TOKEN": TOKEN,
                "SYNC_DEBOUNCE_S": str(args.debounce),
            }
        )
        target = DispatchTarget(github_url, REPO, TOKEN, site_settings.sync_workflow)
        app = SignupApp(
            site_settings,
            client=make_client(KEY, api_base=stripe_url, timeout=5.0),
            dispatcher=Dispatcher(target, site_settings.sync_debounce_s),
            rates=RateLimits(),
        )
        server = make_server(app, port=port)
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        server.ready.wait(10)
        try:
            site = f"http://127.0.0.1:{port}"
            form = {"username": "benchreader", "email": "bench@example.org", "plan": "reader"}
            answer = requests.post(f"{site}/signup", data=form, allow_redirects=False, timeout=10)
            (session_id,) = re.findall(r"/checkout/(cs_test_\w+)", answer.headers["Location"])

            marks = {"checkout completed": time.perf_counter()}
            world.complete_checkout(session_id)
            event = next(e for e in world.events if e["type"] == "checkout.session.completed")
            body = json.dumps(event)
            header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
            signed = {"Stripe-Signature": header}
            response = requests.post(f"{site}/stripe/webhook", data=body, headers=signed, timeout=10)
            assert response.status_code == 200, response.text
            marks["webhook answered"] = time.perf_counter()
            while not github_world.dispatches:
                time.sleep(0.01)
            marks["sync dispatched"] = time.perf_counter()
            client = make_client(KEY, api_base=stripe_url, timeout=60.0)
            if shards is not None and landing is not None and workspace is not None:
                forget_checked_emails()  # as cold as the workflow's new process
                run_sync_shards(shards, client, datetime.now(UTC))
                marks["roster written (incremental)"] = time.perf_counter()
                workspace.roster_file(STACK).write_text(landing.roster.read_text(encoding="utf-8"), encoding="utf-8")
                git(workspace.project, "commit", "-qam", "the sync's change")
                workspace.up(STACK, "--base", "HEAD~1").check()
                marks["real up --target: machine, email"] = time.perf_counter()
            else:
                run_sync(SyncSettings(roster=roster, plans=DEFAULT_PLANS), client, datetime.now(UTC))
                marks["roster written"] = time.perf_counter()
            if workspace is not None and shards is None:
                workspace.roster_file(STACK).write_text(roster.read_text(encoding="utf-8"), encoding="utf-8")
                workspace.up(STACK).check()
                marks["real up: machine, email"] = time.perf_counter()
            elif workspace is None:
                smtp = SmtpSettings("127.0.0.1", mailbox.port, SENDER, SMTP_USER, starttls=False, timeout_s=5.0)
                portal = "https://billing.stripe.com/p/login/bench"
                emails = EmailSettings(smtp, date(2026, 1, 1), portal, "help@example.net")
                recording = run_program(load_roster(roster), replace(settings(), emails=emails))
                marks["program evaluated"] = time.perf_counter()
                engine = FlyEngine(host)
                (tenant,) = load_roster(roster)
                engine.only = tenant.id
                engine.up(recording)
                marks["machine started, email sent"] = time.perf_counter()
            assert len(mailbox.received) - mailed_before == 1
        finally:
            server.stop()
            serving.join(20)
            app.close()
    start = marks["checkout completed"]
    previous = start
    for label, at in marks.items():
        print(f"{label:<30} +{at - previous:7.3f} s   {at - start:7.3f} s")
        previous = at
    total = previous - start
    print(f"{'total (goal: under 60 s)':<30} {total:17.3f} s")
    return 0 if total < 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
