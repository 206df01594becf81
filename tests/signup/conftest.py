"""The signup site against the fake Stripe and the GitHub stand-in, all on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from billing.stripe_source import PINNED_API_VERSION, make_client
from emulators.github import FakeGitHub, GitHubWorld
from emulators.github import serve as serve_github
from emulators.stripe.server import FakeStripe
from emulators.stripe.server import serve as serve_stripe
from emulators.stripe.state import StripeWorld
from public_http.server import PublicServer
from signup.app import RateLimits, SignupApp, make_server
from signup.dispatch import Dispatcher, DispatchTarget
from signup.settings import Settings, from_env
from tests.support.gotools import require_tool
from tests.support.public_http import running
from tests.support.servers import free_port
from tests.support.stripe_mock import StripeMock, run_stripe_mock

API_KEY = "sk_test_51SignupFixtureKeyNeverShown000"
WEBHOOK_SECRET = "whsec_signup_fixture_secret"
GITHUB_TOKEN = "ghp_signup_dispatch_token_never_logged"
REPOSITORY = "octo/hosted"
DOMAIN = "books.example.com"
TAKEN = ("alice", "taken-name")
PRICES = {"free_monthly": 0, "reader_monthly": 400, "library_monthly": 900}
SESSIONS = "/v1/checkout/sessions"


@pytest.fixture(autouse=True)
def _fast_stripe(fast_stripe_retries: None) -> None:
    """Stripe's SDK retries at millisecond pace (tests/conftest.py)."""


class Tenant:
    """A stand-in tenant behind the probe: 404 (the edge's unknown host) until `ready = True`, then 200."""

    def __init__(self) -> None:
        self.ready = False
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.asked.append(self.path)
                self.send_response(200 if outer.ready else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Site:
    url: str
    app: SignupApp
    world: StripeWorld
    fake: FakeStripe
    github: FakeGitHub
    tenant: Tenant
    names_file: Path
    stripe_url: str
    extra: dict[str, Any] = field(default_factory=dict)
    server: PublicServer | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, allow_redirects=False, timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, allow_redirects=False, timeout=10, **kwargs)

    def available(self, username: str, **kwargs: Any) -> dict[str, Any]:
        response = self.get("/api/available", params={"username": username}, **kwargs)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def client(self) -> stripe.StripeClient:
        return make_client(API_KEY, api_base=self.stripe_url, timeout=5.0)

    def open_checkout(self, username: str, lookup_key: str = "reader_monthly") -> str:
        """A session someone else's signup made (another process, or before a restart)."""
        price = self.world.price_for_key(lookup_key)
        assert price is not None
        session = self.client().v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": price.id, "quantity": 1}],
                "metadata": {"username": username},
                "success_url": "https://www.example.com/welcome?session_id={CHECKOUT_SESSION_ID}",
            }
        )
        return str(session.id)

    def session_posts(self) -> list[dict[str, Any]]:
        return self.fake.posts(SESSIONS)


def write_names(path: Path, names: tuple[str, ...] | list[str]) -> None:
    path.write_text(json.dumps({"version": 1, "usernames": list(names)}), encoding="utf-8")


def site_env(names_file: Path, stripe_url: str, github_url: str, tenant_url: str, **extra: str) -> dict[str, str]:
    return {
        "SIGNUP_DOMAIN": DOMAIN,
        "SIGNUP_NAMES_FILE": str(names_file),
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": github_url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_DISPATCH_TOKEN": GITHUB_TOKEN,
        "SYNC_DEBOUNCE_S": "0.3",
        "SIGNUP_TENANT_PROBE": tenant_url + "/{username}/login",
        **extra,
    }


@pytest.fixture
def site_options() -> dict[str, Any]:
    """Overridden by a test module (via its own fixture) to change the app's knobs."""
    return {}


@pytest.fixture
def site(tmp_path: Path, site_options: dict[str, Any]) -> Iterator[Site]:
    world = StripeWorld(api_key=API_KEY, api_version=PINNED_API_VERSION)
    for key, amount in PRICES.items():
        world.add_price(key, amount, currency="eur", interval="month")
    names_file = tmp_path / "names.json"
    write_names(names_file, TAKEN)
    tenant = Tenant()
    with (
        serve_stripe(world) as (stripe_url, fake),
        serve_github(GitHubWorld(repository=REPOSITORY, token=GITHUB_TOKEN)) as (github_url, github),
    ):
        port = free_port()
        env = site_env(names_file, stripe_url, github_url, tenant.url, **site_options.get("env", {}))
        if site_options.get("self_public"):  # Checkout comes back here, not to https://www.<domain>
            env["SIGNUP_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        settings: Settings = from_env(env)
        target = DispatchTarget(github_url, REPOSITORY, GITHUB_TOKEN, settings.sync_workflow)
        dispatcher = Dispatcher(target, settings.sync_debounce_s, backoff_s=0.05)
        app = SignupApp(
            settings,
            client=make_client(API_KEY, api_base=stripe_url, timeout=5.0),
            dispatcher=dispatcher,
            rates=site_options.get("rates", RateLimits()),
            checkout_ttl_s=site_options.get("checkout_ttl_s", 0.0),
        )
        server = make_server(app, port=port, **site_options.get("server", {}))
        try:
            with running(server):
                url = f"http://127.0.0.1:{server.port}"
                yield Site(url, app, world, fake, github, tenant, names_file, stripe_url, server=server)
        finally:
            app.close()
            tenant.close()


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[StripeMock]:
    with run_stripe_mock(require_tool("stripe-mock")) as mock:
        yield mock
