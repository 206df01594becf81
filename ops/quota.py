"""R2 use per tenant against its plan's quota, and the over-quota marks and suspensions it leads to.

Usage comes from Cloudflare's GraphQL Analytics dataset `r2StorageAdaptiveGroups`, one query for the
whole account grouped by bucket (docs/reference/cloudflare.md §4). Those numbers lag real use, so this is a
sweep for plan limits, not a hard cap. `scripts.storage` is its command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from common.errors import OperationError
from components.machine_config import bucket_name
from tenants.roster import RosterEntry
from tenants.states import Hold, TenantState


class UsageUnavailable(OperationError):
    """Cloudflare's analytics could not be read (unreachable, token refused, unexpected answer)."""


DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
LAG_NOTE = (
    "Usage is Cloudflare's R2 analytics (r2StorageAdaptiveGroups, highest sample of the last 24 h); "
    "it lags real use, so recent uploads or deletions may not show yet."
)
# One query for the account: every bucket's storage, grouped by bucket name.
QUERY = """
query R2StorageByBucket($accountTag: string!, $start: Time!, $end: Time!) {
  viewer {
    accounts(filter: {accountTag: $accountTag}) {
      r2StorageAdaptiveGroups(
        limit: 10000
        filter: {datetime_geq: $start, datetime_leq: $end}
      ) {
        dimensions { bucketName }
        max { payloadSize metadataSize objectCount uploadCount }
      }
    }
  }
}
""".strip()


@dataclass(frozen=True)
class Usage:
    bytes: int  # payload plus metadata, what R2 bills
    objects: int


@dataclass(frozen=True)
class Row:
    tenant: str
    username: str
    plan: str
    state: str
    used_bytes: int
    objects: int
    quota_bytes: int
    has_data: bool
    over_quota_since: date | None

    @property
    def over(self) -> bool:
        return self.used_bytes > self.quota_bytes

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.quota_bytes if self.quota_bytes else 0.0


def fetch_usage(base_url: str, token: str, account_id: str, now: datetime, *, timeout: float) -> dict[str, Usage]:
    """Bucket name -> usage for the account; raises UsageUnavailable (never with the token in it)."""
    variables = {
        "accountTag": account_id,
        "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    url = f"{base_url.rstrip('/')}/graphql"
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as http:
            response = http.post(
                url, json={"query": QUERY, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.TransportError as exc:
        raise UsageUnavailable(f"Cloudflare API at {base_url} is unreachable ({type(exc).__name__})") from None
    body = _json(response)
    if response.status_code in (400, 401, 403):
        raise UsageUnavailable(
            f"Cloudflare rejected CLOUDFLARE_API_TOKEN (HTTP {response.status_code}: {_messages(body)})"
        )
    if response.status_code >= 300:
        raise UsageUnavailable(f"Cloudflare GraphQL answered HTTP {response.status_code}: {_messages(body)}")
    if not isinstance(body, dict):
        raise UsageUnavailable("Cloudflare GraphQL answered with something that is not JSON")
    if body.get("errors"):
        raise UsageUnavailable(
            f"Cloudflare GraphQL error: {_messages(body)} "
            f"(the token needs Account Analytics read on account {account_id})"
        )
    try:
        accounts = body["data"]["viewer"]["accounts"]
        groups = accounts[0]["r2StorageAdaptiveGroups"] if accounts else []
        usage: dict[str, Usage] = {}
        for group in groups:
            peak = group["max"]
            usage[group["dimensions"]["bucketName"]] = Usage(
                bytes=int(peak.get("payloadSize") or 0) + int(peak.get("metadataSize") or 0),
                objects=int(peak.get("objectCount") or 0),
            )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise UsageUnavailable(
            f"Cloudflare GraphQL answer has an unexpected shape ({type(exc).__name__}: {exc})"
        ) from None
    return usage


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _messages(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in body["errors"]]
        return "; ".join(texts) or "(no message)"
    return "(no message)"


def usage_of(usage: Mapping[str, Usage], tenant_id: str) -> Usage | None:
    """A tenant's sample (its bucket's), None when the analytics have none yet: unknown, not zero."""
    return usage.get(bucket_name(tenant_id))


def mark_over_quota(
    tenants: Sequence[RosterEntry], rows: Sequence[Row], today: date, suspend_after: int
) -> tuple[list[RosterEntry], list[str]]:
    """The roster with over-quota dates and suspensions applied, and one line per change.

    A tenant without a usage sample keeps its mark: absence of data is not evidence of being under quota.
    """
    by_id = {row.tenant: row for row in rows}
    updated: list[RosterEntry] = []
    changes: list[str] = []
    for tenant in tenants:
        row = by_id.get(tenant.id)
        if row is None or not row.has_data:
            updated.append(tenant)
            continue
        if row.over:
            since = tenant.over_quota_since or today
            if tenant.over_quota_since is None:
                changes.append(f"{tenant.id}: over quota, marked over_quota_since {since.isoformat()}")
            tenant = tenant.with_changes(over_quota_since=since)
            if tenant.state == TenantState.ACTIVE and (today - since).days > suspend_after:
                tenant = tenant.with_changes(state=TenantState.SUSPENDED, hold=Hold.OVER_QUOTA)
                changes.append(
                    f"{tenant.id}: suspended (hold over_quota): over quota since {since.isoformat()}, "
                    f"more than {suspend_after} days"
                )
        elif tenant.over_quota_since is not None:
            changes.append(f"{tenant.id}: back under quota, cleared over_quota_since")
            tenant = tenant.with_changes(over_quota_since=None)
        updated.append(tenant)
    return updated, changes
