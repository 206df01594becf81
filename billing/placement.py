"""Placement: which shard's roster each reconciled tenant is written to. Pure.

A domain's tenants are split across shards (config/shards.py), each with its own roster and a
`capacity`. The Stripe sync reconciles the union of every shard's roster once (ids, usernames and
custom domains are unique across the domain, so the union is a valid roster), then places the result:

- an existing tenant (an id some shard's roster held when the run began) stays in that shard, always,
  even when the shard is over its capacity: moving a tenant would move its app, data and token;
- each new tenant (an id in no shard), taken in id order, goes to the first shard in `domainShards`
  order with room. A shard's use is every entry its roster will hold after this run, purging ones
  too (their token lives until they leave the roster); an entry this run removes frees its place;
- when no shard has room the tenant is refused: it is not written, its `added` change is dropped and
  a `skipped` notice names the tenant, the customer and each shard's use, so the run needs attention.
  Its subscription stays as it is: once a shard is added (or a place frees up) a later run adds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from billing.report import Notice, Report
from tenants.roster import RosterEntry

SHARDS_KEY = "alex-hosted:domainShards"


@dataclass(frozen=True)
class ShardSpace:
    """One shard as placement sees it: its name, its capacity and the ids its roster held before the run."""

    stack: str
    capacity: int
    held: frozenset[str]


@dataclass(frozen=True)
class ShardUse:
    stack: str
    capacity: int
    tenants: int  # entries the shard's roster holds after the run
    added: int  # of which new in this run

    @property
    def room(self) -> int:
        return max(self.capacity - self.tenants, 0)

    @property
    def shown(self) -> str:
        return f"{self.stack} {self.tenants}/{self.capacity}"


@dataclass
class Placement:
    """Every shard's roster after the run (by stack, in shard order) and the new tenants that found no room."""

    rosters: dict[str, list[RosterEntry]]
    uses: list[ShardUse]
    placed: dict[str, str] = field(default_factory=dict)  # new tenant id -> stack
    refused: list[RosterEntry] = field(default_factory=list)


def place(shards: Sequence[ShardSpace], tenants: Sequence[RosterEntry]) -> Placement:
    """Splits the reconciled tenants across the shards; deterministic (new tenants in id order)."""
    if not shards:
        raise ValueError("placement needs at least one shard")
    home: dict[str, str] = {}
    for shard in shards:
        for tenant_id in shard.held:
            # The rosters were checked to be disjoint before the reconcile; the first shard wins regardless.
            home.setdefault(tenant_id, shard.stack)
    rosters: dict[str, list[RosterEntry]] = {s.stack: [] for s in shards}
    new: list[RosterEntry] = []
    for tenant in tenants:
        stack = home.get(tenant.id)
        if stack is None:
            new.append(tenant)
        else:
            rosters[stack].append(tenant)
    used = {stack: len(roster) for stack, roster in rosters.items()}
    added = dict.fromkeys(rosters, 0)
    placement = Placement(rosters, [])
    for tenant in sorted(new, key=lambda t: t.id):
        target = next((s.stack for s in shards if used[s.stack] < s.capacity), None)
        if target is None:
            placement.refused.append(tenant)
            continue
        rosters[target].append(tenant)
        used[target] += 1
        added[target] += 1
        placement.placed[tenant.id] = target
    for stack in rosters:
        rosters[stack].sort(key=lambda t: t.id)
    placement.uses = [ShardUse(s.stack, s.capacity, used[s.stack], added[s.stack]) for s in shards]
    return placement


def full_message(uses: Sequence[ShardUse]) -> str:
    shown = ", ".join(use.shown for use in uses)
    return f"not added: every shard is full ({shown}); add a shard to {SHARDS_KEY}"


def apply_to_report(placement: Placement, report: Report) -> None:
    """Drops the refused tenants' `added` changes for a `skipped` notice each; names the shard of every
    placed tenant in its change when the domain has more than one shard."""
    for tenant in placement.refused:
        report.drop_changes_of(tenant.id)
        report.notices.append(Notice("skipped", tenant.stripe_customer or "", tenant.id, full_message(placement.uses)))
        if tenant.stripe_customer:
            report.stripe_tenants -= 1
        else:
            report.hand_managed -= 1
    if len(placement.rosters) > 1:
        report.changes = [
            dataclasses.replace(c, detail=f"{c.detail}; shard {placement.placed[c.tenant_id]}")
            if c.kind == "added" and c.tenant_id in placement.placed
            else c
            for c in report.changes
        ]
