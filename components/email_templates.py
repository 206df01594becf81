"""The emails a tenant's owner gets, as (subject, body) pairs built from plain values: pure functions, no I/O.

- `welcome`: the library's address, the login email, the first password, change it after signing in,
  where books are added, the billing portal. The first password is the only secret that ever goes into an email.
- `suspended`: the library is paused, how to fix payment (the portal), the data is kept.
- `cancelled`: the library is closed, the books can be exported until the purge date, and how to ask.
- `name_taken` (sent by the Stripe sync): the username went to someone who paid first; the subscription
  was cancelled and refunded; sign up again at https://www.<domain>/.

Bodies are text/plain, so nothing is HTML-escaped; every value that could reach a header or break a
line is refused (`TemplateError`) before a message exists. Dates read like "31 December 2026", in
English whatever the machine's locale.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import date

from config.inputs import url_problem
from config.smtp_settings import address_problem
from tenants.emails import canonical_email
from tenants.naming import DOMAIN_RE, HOSTNAME_RE
from tenants.roster import username_error

SERVICE = "Alex"
WIDTH = 72
CHANGE_PASSWORD_LINE = "Please change this password after you sign in for the first time."
# Where the tenant's companion serves the upload page (image/companion), and the link it adds to the library.
UPLOAD_PATH = "/_hosted/"
ADD_BOOKS_LINK = "Add books"
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class TemplateError(ValueError):
    """A value cannot go into an email (a line break, a bad address or URL); names the field, never a secret."""


@dataclass(frozen=True)
class Composed:
    subject: str
    body: str


def long_date(day: date) -> str:
    """`31 December 2026`: day without a leading zero, the English month name, the year."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


# --- checks -----------------------------------------------------------------------------------------


def _one_line(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(f"{what} is required")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c in "\u2028\u2029\x85" for c in value):
        raise TemplateError(f"{what} must be one line: it holds a line break or another control character")
    return value


def _hostname(value: object) -> str:
    host = _one_line(value, "the hostname")
    if not HOSTNAME_RE.fullmatch(host):
        raise TemplateError("the hostname must be a lowercase DNS name like reader.books.example.com")
    return host


def _domain(value: object) -> str:
    domain = _one_line(value, "the domain")
    if not DOMAIN_RE.fullmatch(domain):
        raise TemplateError("the domain must be a lowercase DNS name like books.example.com")
    return domain


def _address(value: object, what: str) -> str:
    if problem := address_problem(value, what):
        raise TemplateError(problem)
    return canonical_email(value)  # the login email is shown as the image stored it (tenants.emails)


def _https_url(value: object, what: str) -> str:
    url = _one_line(value, what)
    if problem := url_problem(url, https_only=True):  # the stack config's rule for billingPortalUrl
        raise TemplateError(f"{what} must be an https:// URL ({problem})")
    return url


def _password(value: object) -> str:
    # Named "the first password" in errors; the value itself is never quoted.
    if not isinstance(value, str) or not value.strip():
        raise TemplateError("the first password is required")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c.isspace() for c in value):
        raise TemplateError("the first password must not hold spaces, line breaks or control characters")
    return value


def _wrap(block: str) -> str:
    """Prose wrapped at 72 columns; indented lines (addresses, links, the password) and short blocks as they are."""
    if "\n" in block or block.startswith(" "):
        return block
    return textwrap.fill(block, WIDTH, break_long_words=False, break_on_hyphens=False)


def _lines(*paragraphs: str) -> str:
    blocks = [b for p in paragraphs for b in p.strip("\n").split("\n\n")]
    return "\n\n".join(_wrap(b) for b in blocks) + "\n"


def _signature(greeting: str = "Best wishes") -> str:
    return f"{greeting},\nThe {SERVICE} team"


# --- the emails -------------------------------------------------------------------------------------


# Known before the password is: the subject of a welcome is never secret.
WELCOME_SUBJECT = f"Your {SERVICE} library is ready"


def welcome(*, hostname: str, login_email: str, password: str, portal_url: str) -> Composed:
    """The welcome email: where the library is, how to sign in, change the password, where books are added,
    the billing portal."""
    url = f"https://{_hostname(hostname)}"
    login = _address(login_email, "the login email")
    secret = _password(password)
    portal = _https_url(portal_url, "the billing portal URL")
    body = _lines(
        "Hello,",
        f"Your {SERVICE} library is ready. You will find it at:\n\n    {url}",
        f"Sign in with:\n\n    Email:    {login}\n    Password: {secret}",
        CHANGE_PASSWORD_LINE,
        f'To add books (PDF or EPUB), choose "{ADD_BOOKS_LINK}" at the top of your library, or open:\n\n'
        f"    {url}{UPLOAD_PATH}",
        f"To manage your subscription, payment method and invoices, use the billing portal:\n\n    {portal}",
        _signature("Happy reading"),
    )
    return Composed(WELCOME_SUBJECT, body)


def suspended(*, hostname: str, portal_url: str, support_email: str | None = None) -> Composed:
    """The library is paused: fix payment in the portal; the books and reading data are kept."""
    url = f"https://{_hostname(hostname)}"
    portal = _https_url(portal_url, "the billing portal URL")
    help_line = "If you think this is a mistake, reply to this email"
    help_line += f" or write to {_address(support_email, 'the support email')}." if support_email else "."
    body = _lines(
        "Hello,",
        f"Your {SERVICE} library at {url} is paused. This usually means that a payment for your "
        "subscription did not go through.",
        f"To fix it, update your payment method in the billing portal:\n\n    {portal}\n\n"
        "Once the payment has gone through, your library opens again by itself.",
        "Your books and your reading data are kept safe while the library is paused: nothing is deleted.",
        help_line,
        _signature(),
    )
    return Composed(f"Your {SERVICE} library is paused", body)


def cancelled(*, hostname: str, export_until: date, support_email: str) -> Composed:
    """The library is closed; the owner can ask for an export of their books until `export_until`."""
    url = f"https://{_hostname(hostname)}"
    support = _address(support_email, "the support email")
    if not isinstance(export_until, date):
        raise TemplateError("the export deadline must be a date")
    until = long_date(export_until)
    body = _lines(
        "Hello,",
        f"Your {SERVICE} subscription has ended, so your library at {url} is now closed.",
        f"Your books are kept until {until}. Until then you can ask us for an export of all your books: "
        f"reply to this email, or write to {support}, and we will prepare it for you.",
        f"After {until} the library and its books are deleted for good.",
        "Thank you for reading with us.",
        _signature(),
    )
    return Composed(f"Your {SERVICE} library is closed: export your books until {until}", body)


def name_taken(*, username: str, domain: str) -> Composed:
    """Sent by the Stripe sync: the username went to someone who paid first; cancelled and refunded."""
    name = _one_line(username, "the username")
    if problem := username_error(name):  # the roster's rule: one rule per field
        raise TemplateError(f"the username: {problem}")
    signup = f"https://www.{_domain(domain)}/"
    body = _lines(
        "Hello,",
        f'Thank you for signing up for {SERVICE}. Unfortunately the username you chose, "{name}", was '
        "taken by someone who completed their payment first.",
        "We have cancelled your subscription and refunded your payment in full. The refund can take a few "
        "days to show on your statement.",
        f"You are very welcome to sign up again with another name at:\n\n    {signup}",
        _signature(),
    )
    return Composed(f"Your {SERVICE} sign-up: please choose another username", body)
