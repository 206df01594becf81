"""The one scrubber for text bound for errors, logs and output: every secret a call sent, in every encoding.

A server that echoes the request (a proxy, a debug endpoint, a mistyped API URL) hands our credentials
back inside its answer, and from there into exception text, Pulumi's output and script tables. So any
text built from a response, a request or an exception goes through `scrub()` with the secrets that call
used. Each secret is replaced raw and in the forms an echo is likely to use: JSON-escaped (`\\u002b`,
`\\/`), Python-repr-escaped, URL-encoded and base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
# Shorter values would blank out ordinary words; real credentials are far longer.
MIN_SECRET_LEN = 4


def _json_forms(secret: str) -> set[str]:
    plain = json.dumps(secret)[1:-1]
    ascii_only = json.dumps(secret, ensure_ascii=True)[1:-1]
    # Some encoders escape every non-alphanumeric character as \\uXXXX, and "/" as "\\/".
    every = "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in secret)
    return {plain, ascii_only, plain.replace("/", "\\/"), every, every.upper().replace("\\U", "\\u")}


def _base64_forms(secret: str) -> set[str]:
    raw = secret.encode("utf-8")
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms.update({text, text.rstrip("=")})
    return forms


def variants(secret: str) -> set[str]:
    """The secret as it may appear in an echoed body, header or URL."""
    forms = {secret, repr(secret)[1:-1], quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    forms |= _json_forms(secret) | _base64_forms(secret)
    return {form for form in forms if len(form) >= MIN_SECRET_LEN}


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every form of every secret replaced by [redacted]; longest first, so no part survives."""
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret.strip()) >= MIN_SECRET_LEN:
            forms |= variants(secret) | variants(secret.strip())
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, REDACTED)
    # Case-insensitive hex escapes (\u002B vs \u002b) and percent-encodings (%2b vs %2B).
    if forms and ("\\u" in text or "%" in text):
        lowered = text.lower()
        for form in sorted(forms, key=len, reverse=True):
            start = lowered.find(form.lower())
            while start != -1 and ("\\u" in form or "%" in form):
                text = text[:start] + REDACTED + text[start + len(form) :]
                lowered = text.lower()
                start = lowered.find(form.lower())
    return text
