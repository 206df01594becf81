"""The email-address family every entry point is tested with (tenants.emails is the one rule).

`REFUSED` holds what no entry point may accept, one case per sibling of the family: the roster took
many of them before the rule, and the mail layer then refused or choked on each. `ACCEPTED` maps what
every entry point must accept to its canonical (stored) form; `CANONICAL` is the subset already in it,
which the roster stores as it is and the mailer must deliver as it is.
"""

from __future__ import annotations

REFUSED: dict[str, str] = {
    # dots
    "two dots": "a..b@example.com",
    "leading dot": ".a@example.com",
    "dot before the @": "a.@example.com",
    "trailing dot": "a@example.com.",
    "dot after the @": "a@.example.com",
    "two dots in the domain": "a@example..com",
    # non-ASCII local parts (Alex's type=email sign-in field and plain SMTP take ASCII only)
    "non-ASCII local part": "jörg@example.com",
    "full-width local part": "ａ@example.com",
    "combining mark": "e\u0301@example.com",
    # RFC 2047 encoded words
    "encoded word (q)": "=?utf-8?q?a?=@example.com",
    "encoded word (b)": "=?utf-8?b?YQ==?=@example.com",
    "encoded word inside": "x=?utf-8?q?a?=@example.com",
    # separators and specials that open a second address, a comment or a group
    "comma": "a,b@example.com",
    "two addresses": "a@example.com, b@example.com",
    "semicolon": "a;b@example.com",
    "colon": "a:b@example.com",
    "angle brackets": "a<b>@example.com",
    "display name": "Alice <a@example.com>",
    "parentheses": "a(b)@example.com",
    "backslash": "a\\b@example.com",
    "square brackets": "a[b]@example.com",
    "two @-signs": "a@@example.com",
    # quoted local parts and IP literals
    "quoted local part": '"a"@example.com',
    "quoted with a space": '"a b"@example.com',
    "quoted @-sign": '"a@b"@example.com',
    "IPv4 literal": "a@[127.0.0.1]",
    "IPv6 literal": "a@[IPv6:::1]",
    # control, format and separator characters
    "line feed": "a\n@example.com",
    "header injection": "a@example.com\r\nBcc: victim@example.com",
    "tab": "a\t@example.com",
    "NUL": "a\x00@example.com",
    "space": "a b@example.com",
    "zero-width space": "a\u200b@example.com",
    "zero-width space in the domain": "a@exa\u200bmple.com",
    "right-to-left override": "a\u202e@example.com",
    "soft hyphen": "a@exam\u00adple.com",
    "line separator": "a\u2028@example.com",
    # overlong parts
    "65-character local part": "a" * 65 + "@example.com",
    "64-character label": "a@" + "b" * 64 + ".com",
    "255 characters in all": "a@" + ".".join(["b" * 62] * 4) + ".com",
    "ten thousand characters": "a" * 10_000 + "@example.com",
    # missing or unusable parts
    "empty": "",
    "no @-sign": "alice",
    "no local part": "@example.com",
    "no domain": "a@",
    "single-label domain": "a@localhost",
    "numeric top-level domain": "a@1.2.3.4",
    "leading hyphen in a label": "a@-example.com",
    "underscore in the domain": "a@ex_ample.com",
    "special-use domain (.test)": "a@example.test",
    "special-use domain (.invalid)": "a@example.invalid",
    "special-use domain (.local)": "a@printer.local",
}

ACCEPTED: dict[str, str] = {
    "alice@example.com": "alice@example.com",
    "o'brien@example.com": "o'brien@example.com",
    "a+tag@example.com": "a+tag@example.com",
    "first.last@sub.example.co.uk": "first.last@sub.example.co.uk",
    "!#$%&'*+-/?=^_`{|}~@example.com": "!#$%&'*+-/?=^_`{|}~@example.com",
    "a" * 64 + "@example.com": "a" * 64 + "@example.com",
    "a@xn--mnchen-3ya.de": "a@xn--mnchen-3ya.de",
    # Case kept before the @ (Alex compares the login exactly), lowercased after it.
    "Ann@example.com": "Ann@example.com",
    "Ann@Example.COM": "Ann@example.com",
    # An international domain is stored in punycode: what a browser's email field submits.
    "a@münchen.de": "a@xn--mnchen-3ya.de",
    "a@MÜNCHEN.de": "a@xn--mnchen-3ya.de",
    "a@ｅxample.com": "a@example.com",
}

CANONICAL: tuple[str, ...] = tuple(dict.fromkeys(given for given, stored in ACCEPTED.items() if given == stored))
