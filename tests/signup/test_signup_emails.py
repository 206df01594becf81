"""POST /signup over HTTP takes exactly the addresses the one email rule takes (tenants.emails).

A sign-up with an address the roster or the mailer would refuse later must never reach Stripe: the
customer would pay for a library whose welcome email could never be sent.
"""

from __future__ import annotations

import pytest

from signup.app import RateLimits
from tests.signup.conftest import Site
from tests.support.email_addresses import ACCEPTED, REFUSED

FORM = {"username": "new-reader", "email": "reader@example.org", "plan": "reader"}


@pytest.fixture
def site_options():
    return {"rates": RateLimits(signup_per_min=1000, page_per_min=1000)}


def test_signup_emails_every_refused_sibling_is_a_400_and_no_checkout(site: Site):
    answers = {
        name: site.post("/signup", data={**FORM, "email": address}).status_code for name, address in REFUSED.items()
    }

    assert answers == dict.fromkeys(REFUSED, 400)
    assert site.session_posts() == []


def test_signup_emails_every_accepted_spelling_goes_to_checkout(site: Site):
    for number, address in enumerate(ACCEPTED):
        response = site.post("/signup", data={**FORM, "username": f"reader-{number}", "email": address})
        assert response.status_code == 303, (address, response.text[-300:])
    assert [sent["customer_email"] for sent in site.session_posts()] == list(ACCEPTED)
