"""Name rules shared by the roster, the stack config and the Fly providers: one pattern per kind of name.

Every pattern is a whole-string pattern: match it only through `tenants.inputs.matches` (fullmatch on
clean text), never with `re.match`, whose `$` accepts a trailing newline.
"""

from __future__ import annotations

import re

# A DNS label (RFC 1035, lowercase): 1-63 characters, no leading or trailing hyphen.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"

# A lowercase DNS name with at least two labels and a top-level domain of letters; at most 253 characters.
HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}\Z)(?:{_LABEL}\.)+[a-z]{{2,63}}")
# Fly region codes are three lowercase letters (ams, iad, syd, ...).
REGION_RE = re.compile(r"[a-z]{3}")
# Fly app names are global DNS labels.
APP_NAME_RE = re.compile(_LABEL)
# Tenant ids: immutable keys, and part of app and bucket names (alex-<id>, <prefix>-<id>).
TENANT_ID_RE = re.compile(r"[a-z0-9]{6,20}")
# Usernames are the first label of the tenant's hostname: 3-32 characters.
USERNAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,30})[a-z0-9]")
