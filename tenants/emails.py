"""Email addresses: the one rule for every address the project stores, checks or sends to.

The roster (owner emails), the sign-up form, the Stripe sync, the stack config (`supportEmail`, the
SMTP sender) and the mailer (providers/smtp.py) all ask here, so an address one of them accepts every
other accepts too: the mailer can always build and send a message to it, and the owner can sign in to
Alex with it. Before this rule there were three patterns, and the roster took `a..b@x.com`, `.a@x.com`,
`jörg@x.com`, `=?utf-8?q?a?=@x.com` and `a,b@x.com`, which the mail layer then refused or choked on.

The syntax is email-validator's (syntax only: `check_deliverability` off, no DNS lookup), with these
options, each narrowed to what every consumer downstream can carry:
- an ASCII local part (no SMTPUTF8): Alex's sign-in field is an HTML `type=email` input, which takes
  only an ASCII local part, and not every SMTP relay speaks SMTPUTF8;
- no quoted local part (`"a b"@x.com`), no IP-literal domain (`a@[127.0.0.1]`), no display name;
- strict lengths (64 characters before the @, 254 in all), no special-use domain (`.test`, `.local`...);
- and one rule of our own: no `=?` in the local part, the opening of an RFC 2047 encoded word, which
  RFC 2047 (section 5) forbids in an address and Python's email package refuses to write.

The canonical (stored) form is email-validator's normalised ASCII form: the local part exactly as typed
(its case kept: a local part may be case-sensitive, and Alex compares the login email exactly) and the
domain lowercased, an international domain in punycode (what a browser's email field submits). The
roster stores it, the machine's `OWNER_EMAIL` carries it, the image creates the owner with it and the
welcome email shows it as the login: one spelling from end to end. Stripe lowercases the addresses it
keeps, so a customer who signs up ends up with the lowercase form; a hand-written entry keeps its case.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from tenants.inputs import InputError

MAX_LENGTH = 254  # RFC 5321's path limit, less the angle brackets; longer input is refused unread
_REASON_LIMIT = 160
ENCODED_WORD_OPENING = "=?"


class EmailAddressError(InputError):
    """Not an email address the project can use; the message says why without quoting the value."""


def canonical_email(value: object) -> str:
    """The stored form of an address (see the module doc), or EmailAddressError saying why it is not one."""
    if not isinstance(value, str):
        raise EmailAddressError(f"expected text, got {type(value).__name__}")
    if not value:
        raise EmailAddressError("it is empty")
    if len(value) > MAX_LENGTH:
        raise EmailAddressError(f"it is longer than {MAX_LENGTH} characters")
    try:
        checked = validate_email(
            value,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
            strict=True,
            check_deliverability=False,
        )
    except EmailNotValidError as exc:
        text = " ".join(str(exc).split())
        reason = text[:1].lower() + text[1:]  # it follows a colon in every message that quotes it
        reason = reason if len(reason) <= _REASON_LIMIT else reason[: _REASON_LIMIT - 1] + "…"
        raise EmailAddressError(reason.rstrip(".")) from None
    if ENCODED_WORD_OPENING in checked.local_part:
        raise EmailAddressError("the part before the @-sign holds '=?', which opens an RFC 2047 encoded word")
    assert checked.ascii_email is not None  # always set when the local part is ASCII (allow_smtputf8=False)
    return checked.ascii_email


def email_problem(value: object) -> str | None:
    """Why `value` is not a usable address in any spelling; None when canonical_email accepts it."""
    try:
        canonical_email(value)
    except EmailAddressError as exc:
        return str(exc)
    return None
