"""What the emulated Cloudflare account holds: R2 buckets (with CORS and lifecycle rules), account API
tokens and DNS records, plus the settings the routes read (`World`).

Timestamps follow Cloudflare's own formats: R2 `creation_date` in milliseconds, DNS `created_on` in
microseconds, token `issued_on` in whole seconds, all UTC with `Z`.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from emulators.clock import Clock

JURISDICTIONS = ("default", "eu", "fedramp")
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"

# What every new R2 bucket comes with: incomplete multipart uploads are aborted after 7 days.
DEFAULT_LIFECYCLE_RULE: dict[str, Any] = {
    "id": "Default Multipart Abort Rule",
    "enabled": True,
    "conditions": {"prefix": ""},
    "abortMultipartUploadsTransition": {"condition": {"maxAge": 604800, "type": "Age"}},
}

# The account's permission groups the emulator accepts in token policies: the R2 ones
# (docs/reference/cloudflare.md §1.3) and a few the provisioner itself holds.
PERMISSION_GROUPS: dict[str, str] = {
    "2efd5506f9c8494dacb1fa10a3e7d5b6": "Workers R2 Storage Bucket Item Write",
    "6a018a9f2fc74eb6b293b0c548f38b39": "Workers R2 Storage Bucket Item Read",
    "bf7481a1826f439697cb59a20b22293e": "Workers R2 Storage Write",
    "b4992e1108244f5d8bfbd5744320c2e1": "Workers R2 Storage Read",
    "4755a26eedb94da69e1066d98aa820be": "DNS Write",
}


def _stamp(at: float, digits: int) -> str:
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
    if digits == 0:
        return base + "Z"
    fraction = f"{at % 1:.{digits}f}"[2:]
    return f"{base}.{fraction}Z"


def stamp_seconds(at: float) -> str:
    return _stamp(at, 0)


def stamp_millis(at: float) -> str:
    return _stamp(at, 3)


def stamp_micros(at: float) -> str:
    return _stamp(at, 6)


def new_id() -> str:
    """Cloudflare's 32-hex-digit identifiers (tokens, policies, DNS records)."""
    return secrets.token_hex(16)


def new_token_value() -> str:
    """A token secret: 40 characters of Cloudflare's token alphabet."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(40))


@dataclass(frozen=True)
class BucketUsage:
    """One bucket's latest storage sample for the analytics endpoint; `at` None means "inside any window"."""

    payload_size: int
    object_count: int
    metadata_size: int = 0
    upload_count: int = 0
    at: datetime | None = None


@dataclass
class Bucket:
    name: str
    jurisdiction: str
    location: str
    storage_class: str
    created: float
    cors: list[dict[str, Any]] | None = None  # None: no CORS configuration (GET answers 10059)
    lifecycle: list[dict[str, Any]] = field(default_factory=lambda: [dict(DEFAULT_LIFECYCLE_RULE)])

    def view(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "creation_date": stamp_millis(self.created),
            "location": self.location,
            "storage_class": self.storage_class,
        }
        if self.jurisdiction != "default":
            out["jurisdiction"] = self.jurisdiction
        return out


@dataclass
class Token:
    id: str
    name: str
    policies: list[dict[str, Any]]
    issued_on: float
    modified_on: float
    status: str = "active"
    condition: dict[str, Any] | None = None
    expires_on: str | None = None
    not_before: str | None = None
    last_used_on: float | None = None

    def view(self) -> dict[str, Any]:
        """The token as GET answers it: never its value."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "issued_on": stamp_seconds(self.issued_on),
            "modified_on": stamp_seconds(self.modified_on),
            "policies": self.policies,
        }
        if self.last_used_on is not None:
            out["last_used_on"] = stamp_seconds(self.last_used_on)
        if self.condition:
            out["condition"] = self.condition
        if self.expires_on is not None:
            out["expires_on"] = self.expires_on
        if self.not_before is not None:
            out["not_before"] = self.not_before
        return out


@dataclass
class DnsRecord:
    id: str
    name: str
    type: str
    content: str
    ttl: int
    proxied: bool
    created_on: float
    modified_on: float
    comment: str | None = None
    comment_modified_on: float | None = None
    tags: list[str] = field(default_factory=list)
    tags_modified_on: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "content": self.content,
            "proxiable": self.type in ("A", "AAAA", "CNAME"),
            "proxied": self.proxied,
            "ttl": self.ttl,
            "meta": {},
            "comment": self.comment,
            "tags": list(self.tags),
            "created_on": stamp_micros(self.created_on),
            "modified_on": stamp_micros(self.modified_on),
        }
        # Cloudflare omits `settings` unless some were set (TF dns_record/custom.go normalizeSettings).
        if self.settings:
            out["settings"] = dict(self.settings)
        if self.comment_modified_on is not None:
            out["comment_modified_on"] = stamp_micros(self.comment_modified_on)
        if self.tags_modified_on is not None:
            out["tags_modified_on"] = stamp_micros(self.tags_modified_on)
        return out


class ObjectStore(Protocol):
    """The S3 side of R2 buckets (emulators/cloudflare/s3.py mirrors them into moto)."""

    def create_bucket(self, name: str) -> None: ...

    def holds_objects(self, name: str) -> bool: ...

    def delete_bucket(self, name: str) -> None: ...


@dataclass
class Settings:
    token: str
    account_id: str
    zones: dict[str, str]  # zone id -> zone name
    location: str = "ENAM"  # where R2 places a bucket created without a location hint


@dataclass
class World:
    """Everything a route handler may read or change; handlers run with `lock` held."""

    settings: Settings
    clock: Clock
    objects: ObjectStore | None = None
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)  # (jurisdiction, name)
    tokens: dict[str, Token] = field(default_factory=dict)
    token_values: dict[str, str] = field(default_factory=dict)  # id -> value, for tests only
    records: dict[str, dict[str, DnsRecord]] = field(default_factory=dict)  # zone -> id -> record
    usage: dict[str, BucketUsage] = field(default_factory=dict)  # bucket -> analytics sample
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> float:
        return self.clock.time()

    def zone_records(self, zone_id: str) -> dict[str, DnsRecord]:
        return self.records.setdefault(zone_id, {})
