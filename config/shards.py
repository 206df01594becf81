"""Shards: the tenant stacks of one domain, each with its own roster and Cloudflare account.

A Cloudflare account holds at most 500 tokens and each tenant has one, so the 500th customer of one
stack could not be created; one stack also means one `up` walks every tenant. So a domain's tenants are
split across stacks of the same program, each a shard: its own roster (`tenants/<stack>.yaml`), its own
`cloudflareAccountId` and token, its own `capacity` (default 400). `alex-hosted:domainShards` lists
the domain's shards in placement order, the same list in each; the first also hosts the edge and the
signup site, whose map and names file it builds from every shard's roster, read from the same checkout
(no stack references: the rosters in git are the truth, and an edge `up` needs no other stack's state).

Rules across shards, checked wherever the shards are loaded together (the edge host's program, the
plan, the Stripe sync): tenant ids, usernames and custom domains are unique across the domain, and
every shard is on the same domain. A stack alone (no `domainShards`) is a domain of one shard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from config.stack_config import ConfigError, StackConfig, read_stack_file
from tenants.inputs import quote_value
from tenants.roster import RosterEntry, RosterError, load_roster


class ShardError(ValueError):
    """The domain's shards cannot be used together; lists every problem, naming stacks and tenants."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the domain's shards do not fit together:\n{lines}")


@dataclass(frozen=True)
class Shard:
    settings: StackConfig
    roster: list[RosterEntry]

    @property
    def stack(self) -> str:
        return self.settings.stack

    @property
    def room(self) -> int:
        """Tenants this shard can still take (every entry counts: a purging tenant still has its token)."""
        return max(self.settings.capacity - len(self.roster), 0)


def hosts_edge(settings: StackConfig) -> bool:
    """The first shard of the domain hosts the edge and the signup site."""
    return (settings.domain_shards or (settings.stack,))[0] == settings.stack


def load_shards(
    settings: StackConfig,
    roster: Sequence[RosterEntry],
    *,
    read_settings: Callable[[str], StackConfig] = read_stack_file,
    read_roster: Callable[[StackConfig], list[RosterEntry]] | None = None,
) -> list[Shard]:
    """Every shard of the domain, this one with the roster given; raises ShardError naming what is wrong."""
    load = read_roster or (lambda other: load_roster(other.roster, other.plans, domain=other.domain))
    shards, problems = [], []
    for stack in settings.domain_shards or (settings.stack,):
        if stack == settings.stack:
            shards.append(Shard(settings, list(roster)))
            continue
        try:
            other = read_settings(stack)
            shards.append(Shard(other, load(other)))
        except (ConfigError, RosterError) as exc:
            problems.append(f"shard {stack}: {exc}")
    for shard in shards:
        if shard.settings.domain != settings.domain:
            problems.append(f"shard {shard.stack} serves {shard.settings.domain}, not {settings.domain}")
        if tuple(shard.settings.domain_shards) != tuple(settings.domain_shards or (settings.stack,)):
            problems.append(f"shard {shard.stack} lists other shards ({', '.join(shard.settings.domain_shards)})")
    problems += cross_shard_problems({shard.stack: shard.roster for shard in shards})
    if problems:
        raise ShardError(problems)
    return shards


def cross_shard_problems(rosters: Mapping[str, Sequence[RosterEntry]]) -> list[str]:
    """Ids, usernames and custom domains claimed in two shards (stack -> roster; within one roster is
    the roster's own rule)."""
    problems: list[str] = []
    claims: tuple[tuple[str, Callable[[RosterEntry], list[str]]], ...] = (
        ("tenant id", lambda t: [t.id]),
        ("username", lambda t: [t.username]),
        ("custom domain", lambda t: list(t.domains or ())),
    )
    for what, values in claims:
        first: dict[str, str] = {}
        for stack, roster in rosters.items():
            for tenant in roster:
                for value in values(tenant):
                    holder = first.setdefault(value, stack)
                    if holder != stack:
                        where = f"in shard {holder} and in shard {stack} (tenant {tenant.id})"
                        problems.append(f"{what} {quote_value(value)} is {where}")
    return problems
