"""Name rules shared by the roster, the stack config and the Fly providers: one pattern per kind of name.

Every pattern is a whole-string pattern: match it only through `tenants.inputs.matches` (fullmatch on
clean text), never with `re.match`, whose `$` accepts a trailing newline.

The bounds depend on each other, because names are built from names: a tenant's hostname is
`<username>.<domain>` and its Fly app is `<appPrefix>-<tenant id>`. Each bound below is derived from
the limit of the name it ends up in, so every name the program builds from valid parts is valid too.
"""

from __future__ import annotations

import re

# A DNS label (RFC 1035, lowercase): 1-63 characters, no leading or trailing hyphen.
LABEL_MAX = 63
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"

# A DNS name is at most 253 characters in text form (255 octets on the wire).
HOSTNAME_MAX = 253
# Usernames are the first label of the tenant's hostname.
USERNAME_MIN, USERNAME_MAX = 3, 32
# The stack's domain leaves room for the longest username and its dot: 253 - 32 - 1 = 220. A longer
# domain would pass the stack check and then fail at `up`, for long usernames only, when Fly and
# Cloudflare refuse the hostname.
DOMAIN_MAX = HOSTNAME_MAX - USERNAME_MAX - 1
# Tenant ids are immutable keys and part of app and bucket names (alex-<id>, <prefix>-<id>).
TENANT_ID_MIN, TENANT_ID_MAX = 6, 20
# Fly app names are one DNS label: <prefix>-<id> must fit, so 63 - 1 - 20 = 42 would do; 32 is the
# documented rule and leaves room.
APP_PREFIX_MIN, APP_PREFIX_MAX = 3, 32


def _dns_name(max_length: int) -> re.Pattern[str]:
    """A lowercase DNS name: two labels or more, a top-level domain of letters, at most `max_length`."""
    return re.compile(rf"(?=.{{1,{max_length}}}\Z)(?:{_LABEL}\.)+[a-z]{{2,63}}")


# Any hostname we hand to Fly or Cloudflare (a certificate's, a DNS record's).
HOSTNAME_RE = _dns_name(HOSTNAME_MAX)
# A certificate may also cover a whole level: `*.<hostname>` (the edge's wildcard, DNS-01 validated).
CERTIFICATE_HOSTNAME_RE = re.compile(rf"(?:\*\.)?{HOSTNAME_RE.pattern}")
# A customer's own hostname (roster `domains`): any DNS name, checked against the stack's domain elsewhere.
CUSTOM_DOMAIN_RE = HOSTNAME_RE
# Custom domains per tenant: each is a certificate on the edge app ($0.10/month) and a map entry.
CUSTOM_DOMAINS_MAX = 5
# The stack's `domain`: a hostname with room for `<username>.` in front of it.
DOMAIN_RE = _dns_name(DOMAIN_MAX)
# Fly region codes are three lowercase letters (ams, iad, syd, ...).
REGION_RE = re.compile(r"[a-z]{3}")
# Fly app names are global DNS labels.
APP_NAME_RE = re.compile(_LABEL)
# The stack's `appPrefix`: starts with a letter, ends with a letter or digit.
APP_PREFIX_RE = re.compile(rf"[a-z][a-z0-9-]{{{APP_PREFIX_MIN - 2},{APP_PREFIX_MAX - 2}}}[a-z0-9]")
# Fly organization slugs.
FLY_ORG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
TENANT_ID_RE = re.compile(rf"[a-z0-9]{{{TENANT_ID_MIN},{TENANT_ID_MAX}}}")
# A DNS label of 3-32 characters (the '--' and reserved-name rules are tenants.roster.username_error's).
USERNAME_RE = re.compile(rf"[a-z0-9][a-z0-9-]{{{USERNAME_MIN - 2},{USERNAME_MAX - 2}}}[a-z0-9]")
# Cloudflare account and zone ids: 32 lowercase hex characters.
CLOUDFLARE_ID_RE = re.compile(r"[0-9a-f]{32}")
# R2 bucket names: 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit.
R2_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# A GitHub repository, `owner/name` (GitHub's rules): the owner is 1-39 letters, digits or inner single
# hyphens; the name 1-100 of letters, digits, '.', '_' and '-', and not '.' or '..'. The stack config
# (`githubRepository`), the signup site (`GITHUB_REPOSITORY`, which the program sets from it) and the
# alerts script all check it with this one pattern.
GITHUB_REPOSITORY_RE = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/(?!\.{1,2}\Z)[A-Za-z0-9._-]{1,100}"
)
