"""Checks for operator-supplied URLs and credentials, so a typo is one line naming the setting, not a traceback.

httpx and botocore fail late and unevenly on a malformed URL: some raise ValueError at construction,
some try to resolve "a b" or port 99999 over DNS, some accept an ftp:// endpoint until the first call.
A credential goes into an HTTP header, where a non-ASCII character raises UnicodeEncodeError deep in
the client and a line break splits the header.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class BadInput(ValueError):
    """A URL or credential setting that cannot be used; the message names the setting, never a secret."""


class BadUrl(BadInput):
    """The value is not an http(s) URL with a host; the message names the setting."""


def _shown(value: str) -> str:
    """The value for an error message, without any user:password@ part."""
    scheme, sep, rest = value.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "[redacted]@" + rest.split("@", 1)[1]
    return repr(scheme + sep + rest)


def check_http_url(value: str, name: str) -> str:
    """The URL without surrounding whitespace, or BadUrl naming `name` and what is wrong."""
    url = value.strip()
    problem = url_problem(url)
    if problem:
        raise BadUrl(f"{name}: expected an http(s) URL like https://host[:port], got {_shown(url)} ({problem})")
    return url


def url_problem(url: object, *, https_only: bool = False) -> str | None:
    """Why `url` is not an http(s) URL with a host and a valid port (https only if asked); None when it is.

    The one URL rule: the stack config checks `flyApiUrl` and `billingPortalUrl` with it, and so do the
    Fly client and the email templates that use them, so a URL the config takes never fails later.
    """
    if not isinstance(url, str) or not url:
        return "empty"
    if not url.isascii() or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "spaces, control or non-ASCII characters"
    parts = urlsplit(url)
    if https_only and parts.scheme != "https":
        return "the scheme must be https"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "no host"
    try:
        port = parts.port
    except ValueError:
        return "the port must be a number from 1 to 65535"
    if port == 0:
        return "the port must be a number from 1 to 65535"
    return None


def credential_problem(value: str) -> str | None:
    """Why `value` cannot be sent in an HTTP header; None when it can. Never quotes the value."""
    if not value.strip():
        return "it is empty"
    if not value.isascii():
        return "it holds a non-ASCII character (copied with a typographic quote or a stray letter?)"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "it holds a line break or another control character"
    return None


def check_credential(value: str, name: str) -> str:
    """The credential without surrounding whitespace, or BadInput naming `name` and what is wrong."""
    problem = credential_problem(value)
    if problem:
        raise BadInput(f"{name} cannot be used: {problem}")
    return value.strip()
