"""One sync run, shared by the CLI and the webhook: load, read Stripe, reconcile, validate, write.

`run_sync` keeps one roster in step; `run_sync_shards` keeps every shard of a domain in step at once
(config/shards.py): one reconcile over the union of the shards' rosters, then billing.placement
splits the result back, new tenants going to the first shard with room.

Reading Stripe is billing.incremental's: every subscription, or (`incremental`) only the customers the
events since the cursor name. With a `cursor` file, a run that writes keeps it after the rosters, so
the next incremental run starts where this one stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import stripe

from billing import name_taken
from billing.claim_copy import copy_usernames
from billing.free_limits import FreeLimits
from billing.incremental import ReadPlan, StripeRead, keep_cursor, read_stripe, summary_of
from billing.placement import ShardSpace, ShardUse, apply_to_report, place
from billing.reconcile import DEFAULT_GRACE_DAYS, reconcile
from billing.report import LostClaim, Notice, Report, RunSummary
from billing.snapshot import Snapshot
from billing.stripe_source import RetryPolicy, StripeUnavailable, expected_answers, fetch_snapshot
from common import redact
from config.shards import cross_shard_problems
from tenants.plans import Plan
from tenants.roster import (
    Problem,
    RosterChanged,
    RosterEntry,
    RosterError,
    domain_problems,
    parse_roster,
    roster_text,
    validate,
    write_roster,
)


class SyncError(Exception):
    """The run could not happen (roster unusable, Stripe unreadable); nothing was written."""


@dataclass(frozen=True)
class SyncSettings:
    roster: Path
    plans: Mapping[str, Plan]
    grace_days: int = DEFAULT_GRACE_DAYS
    dry_run: bool = False
    retries: RetryPolicy = RetryPolicy()
    free: FreeLimits | None = FreeLimits()  # billing.free_limits; None keeps no limit
    cursor: Path | None = None  # billing.cursor's file; None keeps none (every run lists everything)
    incremental: bool = False  # read only what changed since the cursor (billing.incremental)

    def read_plan(self) -> ReadPlan:
        return ReadPlan(self.cursor, self.incremental, self.dry_run, self.plans, self.free, self.retries)


def run_sync(
    settings: SyncSettings,
    client: stripe.StripeClient,
    now: datetime,
    *,
    secret: str = "",
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[LostClaim], None] | None = None,
) -> RunSummary:
    """Raises SyncError (with `secret` scrubbed from its text) when the run cannot complete.

    After the roster is written, subscriptions that lost a username race are cancelled and refunded and
    their customers told (`notify`; billing.name_taken). A dry run only reports them.
    """
    plan = settings.read_plan()
    try:
        text = roster_text(settings.roster)

        def parse() -> list[RosterEntry]:
            return parse_roster(text, str(settings.roster), settings.plans)

        current, read = _parse_while_reading(
            parse, lambda roster: _read(client, plan, roster, {settings.roster: text}, now, sleep)
        )
        tenants, report = _reconcile(current, read, now, settings.grace_days, settings.plans, settings.free)
        # expected=text: a webhook run or a hand edit that landed while Stripe was being read is never undone.
        written = False if settings.dry_run else write_roster(settings.roster, tenants, settings.plans, expected=text)
        after = {settings.roster: _as_written(settings.roster, written, text)}
    except (RosterError, StripeUnavailable, OSError) as exc:
        raise SyncError(scrub(str(exc), secret)) from None
    kept = _keep(plan, read, after, now, report)
    if not settings.dry_run:
        _settle_claims(report, client, notify, secret)
        report.notices += copy_usernames(report.changes, read.snapshot, client)
    return RunSummary(
        report=report,
        roster=str(settings.roster),
        now=now.isoformat(timespec="seconds"),
        dry_run=settings.dry_run,
        written=written,
        read=summary_of(plan, read, kept),
    )


def _read(
    client: stripe.StripeClient,
    plan: ReadPlan,
    roster: Callable[[], Sequence[RosterEntry]],
    texts: Mapping[Path, str],
    now: datetime,
    sleep: Callable[[float], None],
) -> StripeRead:
    return read_stripe(client, plan, roster, texts, now, lambda: _read_stripe(client, plan.retries, sleep), sleep=sleep)


Parsed = TypeVar("Parsed")


def _parse_while_reading(
    parse: Callable[[], Parsed], read: Callable[[Callable[[], Parsed]], StripeRead]
) -> tuple[Parsed, StripeRead]:
    """Parses the rosters (YAML and every rule: most of an incremental run at 10,000 tenants) on a thread
    while `read` waits on Stripe's round trips; `read` gets the parse's result when it needs it. A roster
    that cannot be used is reported before Stripe's failure, as when they ran one after the other."""
    with ThreadPoolExecutor(1, thread_name_prefix="roster-parse") as pool:
        parsing = pool.submit(parse)
        try:
            stripe_read = read(parsing.result)
        except StripeUnavailable:
            parsing.result()
            raise
        return parsing.result(), stripe_read


def _reconcile(
    roster: Sequence[RosterEntry],
    read: StripeRead,
    now: datetime,
    grace_days: int,
    plans: Mapping[str, Plan],
    free: FreeLimits | None,
) -> tuple[list[RosterEntry], Report]:
    """billing.reconcile over what was read (for the customers it speaks for), with the read's notices."""
    tenants, report = reconcile(
        roster, read.snapshot, now=now, grace_days=grace_days, plans=plans, free=free, scope=read.scope
    )
    report.notices += read.notices
    return tenants, report


def _as_written(path: Path, written: bool, text: str) -> str:
    """A roster's text once the run is done: the file just written (read back rather than dumped again,
    which costs seconds at 10,000 tenants), or the text read."""
    return path.read_text(encoding="utf-8") if written else text


def _keep(plan: ReadPlan, read: StripeRead, texts: Mapping[Path, str], now: datetime, report: Report) -> str:
    """The cursor, written after the rosters; a failure to write it is a warning in the report."""
    outcome, problem = keep_cursor(plan, read, texts, now)
    if problem is not None:
        report.notices.append(problem)
    return outcome


def _settle_claims(
    report: Report, client: stripe.StripeClient, notify: Callable[[LostClaim], None] | None, secret: str
) -> None:
    """Cancels and refunds the subscriptions that lost a username race (billing.name_taken); one notice each."""
    for done in name_taken.settle(report.lost_claims, client, notify):
        claim = done.claim
        if done.problem:
            report.notices.append(Notice("warning", claim.customer, None, scrub(done.problem, secret)))
        else:
            money = f"refunded {done.refunded} {done.currency}" if done.refunded else "nothing to refund"
            mail = "customer emailed" if done.emailed else "no email sent"
            message = f"username {claim.username!r} taken: cancelled {claim.subscription}, {money}, {mail}"
            report.notices.append(Notice("settled", claim.customer, None, message))


@dataclass(frozen=True)
class ShardFile:
    """One shard of the domain as the sync sees it: its stack, its roster file and its capacity."""

    stack: str
    roster: Path
    capacity: int


@dataclass(frozen=True)
class ShardSyncSettings:
    """Every shard of one domain, in `alex-hosted:domainShards` order (placement fills them in that order).

    The shards share one plan table and one domain (the CLI checks that their stack files agree).
    """

    shards: tuple[ShardFile, ...]
    plans: Mapping[str, Plan]
    domain: str | None = None  # adds the roster rules that need it (no custom domain under it)
    grace_days: int = DEFAULT_GRACE_DAYS
    dry_run: bool = False
    retries: RetryPolicy = RetryPolicy()
    free: FreeLimits | None = FreeLimits()  # over every shard together (billing.free_limits)
    cursor: Path | None = None  # billing.cursor's file, one for the domain; None keeps none
    incremental: bool = False  # read only what changed since the cursor (billing.incremental)

    def read_plan(self) -> ReadPlan:
        return ReadPlan(self.cursor, self.incremental, self.dry_run, self.plans, self.free, self.retries)


@dataclass(frozen=True)
class ShardOutcome:
    """One shard after the run: its tenants (new ones among them), capacity, room, and whether written."""

    stack: str
    roster: str
    capacity: int
    tenants: int
    added: int
    changed: bool  # its entries differ from the file's (a dry run reports this and writes nothing)
    written: bool

    @property
    def room(self) -> int:
        return max(self.capacity - self.tenants, 0)


@dataclass(frozen=True)
class ShardsSummary:
    """The run's report (`run.roster` names every shard's file, `run.written` is any shard written) and
    each shard's outcome in domain order."""

    run: RunSummary
    shards: tuple[ShardOutcome, ...]


class ShardWriteError(SyncError):
    """A shard's roster could not be written after the shards before it were (nothing is left half-written:
    each file is replaced atomically). `written` names the shards already written, `stack` the one that
    failed; the next run converges, as the sync is level-triggered."""

    def __init__(self, message: str, stack: str, written: Sequence[str]) -> None:
        super().__init__(message)
        self.stack = stack
        self.written = tuple(written)


def run_sync_shards(
    settings: ShardSyncSettings,
    client: stripe.StripeClient,
    now: datetime,
    *,
    secret: str = "",
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[LostClaim], None] | None = None,
) -> ShardsSummary:
    """Keeps every shard's roster in step with Stripe: read all, reconcile the union once, place, validate
    all, then write each shard whose entries changed. Raises SyncError (secret scrubbed) when it cannot.

    Reading: each roster is read and validated with its text kept for `write_roster(expected=)`; ids,
    usernames and custom domains claimed in two shards stop the run (nothing written). Because the
    reconcile sees the union, a name held in one shard is never given to a new customer placed in
    another, and a tenant in any shard is an existing tenant, not a new one or a lost claim. Stripe is
    read in full, or (`incremental`) for the customers the events since the domain's cursor name.

    Placement (billing.placement): existing tenants never move; new ones fill the first shard with room
    in id order; with every shard full a new tenant is not written and a `skipped` notice says why.

    Writing: every shard's new roster is validated before any file is written, and every changed
    shard's file is checked to still hold the text that was read; if one does not (the webhook's run or a
    hand edit got there first), RosterChanged names that file and nothing at all is written. A shard
    whose entries are unchanged is not written (its file stays byte for byte, formatting included).
    Then the changed shards are written in domain order, each atomically under its own lock with its own
    `expected=`. A file that changes in the short window between that check and its own write (or a
    failing disk) stops the run there as a ShardWriteError: the shards before it are written and
    consistent, the rest untouched, and no lost claim is settled. That state is safe, since every
    shard's roster is valid on its own and a tenant written stays in its shard, and the next run
    converges: the sync is level-triggered, so it recomputes every shard from Stripe and writes what is
    still missing (its cursor was not written, so the next run lists everything). Once every changed
    shard is written, the cursor is (billing.cursor). A dry run reads, reconciles and places, and writes
    and settles nothing.
    """
    if not settings.shards:
        raise SyncError("no shards to sync")
    plan = settings.read_plan()
    try:
        texts = {shard.roster: roster_text(shard.roster) for shard in settings.shards}

        def parse() -> tuple[list[tuple[ShardFile, list[RosterEntry], str]], list[RosterEntry]]:
            """Each shard with its entries and text, and the union of the entries."""
            parsed = [
                (shard, parse_roster(texts[shard.roster], str(shard.roster), settings.plans, domain=settings.domain))
                for shard in settings.shards
            ]
            overlaps = cross_shard_problems({shard.stack: tenants for shard, tenants in parsed})
            if overlaps:
                raise SyncError("the domain's shards do not fit together: " + "; ".join(overlaps))
            union = [tenant for _, tenants in parsed for tenant in tenants]
            return [(shard, tenants, texts[shard.roster]) for shard, tenants in parsed], union

        (read, union), stripe_read = _parse_while_reading(
            parse, lambda parsed: _read(client, plan, lambda: parsed()[1], texts, now, sleep)
        )
        result, report = _reconcile(union, stripe_read, now, settings.grace_days, settings.plans, settings.free)
        spaces = [ShardSpace(shard.stack, shard.capacity, frozenset(t.id for t in ts)) for shard, ts, _ in read]
        placement = place(spaces, result)
        apply_to_report(placement, report)
        # A name whose holder could not be placed (every shard full) is not settled against: that holder
        # has no library yet either. Once a shard is added, the next run places it and settles then.
        unplaced = {tenant.id for tenant in placement.refused}
        report.lost_claims = [claim for claim in report.lost_claims if claim.holder not in unplaced]
        check_placed(settings, placement.rosters)
        changed = [
            (shard, text)
            for shard, tenants, text in read
            if placement.rosters[shard.stack] != sorted(tenants, key=lambda t: t.id)
        ]
        written: list[str] = []
        if not settings.dry_run:
            for shard, text in changed:
                if not _holds(shard.roster, text):
                    raise RosterChanged(str(shard.roster), ["changed on disk since it was read; nothing written"])
            written = _write_shards(settings, placement.rosters, changed, secret)
        after = {shard.roster: _as_written(shard.roster, shard.stack in written, text) for shard, _, text in read}
    except (RosterError, StripeUnavailable, OSError) as exc:
        raise SyncError(scrub(str(exc), secret)) from None
    kept = _keep(plan, stripe_read, after, now, report)
    if not settings.dry_run:
        _settle_claims(report, client, notify, secret)
        report.notices += copy_usernames(report.changes, stripe_read.snapshot, client)
    uses: dict[str, ShardUse] = {use.stack: use for use in placement.uses}
    changed_stacks = {shard.stack for shard, _ in changed}
    outcomes = tuple(
        ShardOutcome(
            stack=shard.stack,
            roster=str(shard.roster),
            capacity=shard.capacity,
            tenants=uses[shard.stack].tenants,
            added=uses[shard.stack].added,
            changed=shard.stack in changed_stacks,
            written=shard.stack in written,
        )
        for shard in settings.shards
    )
    summary = RunSummary(
        report=report,
        roster=", ".join(str(shard.roster) for shard in settings.shards),
        now=now.isoformat(timespec="seconds"),
        dry_run=settings.dry_run,
        written=bool(written),
        read=summary_of(plan, stripe_read, kept),
    )
    return ShardsSummary(summary, outcomes)


def check_placed(settings: ShardSyncSettings, rosters: Mapping[str, list[RosterEntry]]) -> None:
    """Every shard's new roster validates on its own and the shards stay disjoint; otherwise it is a bug
    (the union was valid), and nothing is written."""
    problems: list[Problem | str] = []
    for stack, tenants in rosters.items():
        found = validate(tenants, settings.plans)
        if settings.domain is not None:
            found += domain_problems(tenants, settings.domain)
        problems += [f"shard {stack}: {p}" for p in found]
    problems += cross_shard_problems(rosters)
    if problems:
        raise RosterError("placed rosters", problems)


def _holds(path: Path, text: str) -> bool:
    return path.read_bytes() == text.encode("utf-8")


def _write_shards(
    settings: ShardSyncSettings,
    rosters: Mapping[str, list[RosterEntry]],
    changed: Sequence[tuple[ShardFile, str]],
    secret: str,
) -> list[str]:
    """Writes the changed shards in order, each with its own `expected=`; the stacks actually written."""
    written: list[str] = []
    for shard, text in changed:
        try:
            if write_roster(shard.roster, rosters[shard.stack], settings.plans, expected=text):
                written.append(shard.stack)
        except (RosterError, OSError) as exc:
            if not written:
                raise
            done = ", ".join(written)
            message = (
                f"shard {shard.stack}: {exc}; shards {done} were already written (each file whole): "
                "run the sync again, it recomputes every shard from Stripe and converges"
            )
            raise ShardWriteError(scrub(message, secret), shard.stack, written) from None
    return written


def _read_stripe(client: stripe.StripeClient, retries: RetryPolicy, sleep: Callable[[float], None]) -> Snapshot:
    """fetch_snapshot, with an answer of the wrong shape as StripeUnavailable too (expected_answers)."""
    with expected_answers():
        return fetch_snapshot(client, retries=retries, sleep=sleep)


def scrub(text: str, secret: str) -> str:
    """Removes a secret, in every form an echo may use, from text bound for logs or the terminal."""
    return redact.scrub(text, [secret])
