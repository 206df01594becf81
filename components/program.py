"""The program's body: stack settings, the roster, one Tenant per entry, the edge, and the stack outputs.

`__main__.py` only calls `run()`; tests call `declare_tenants()`, `declare_edge()` and `outputs()`
directly under mocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.edge import Edge
from components.sdk_drain import linear_output_drain
from components.signup import Signup
from components.tenant import Tenant, TenantArgs
from config.config_keys import NAMESPACE, SETTINGS_KEYS
from config.edge_map import EdgeMapError, EdgeSource
from config.shards import Shard, ShardError, hosts_edge, load_shards
from config.stack_config import ConfigError, StackConfig, from_mapping
from tenants.roster import RosterEntry, RosterError, load_roster
from tenants.states import TenantState

# The plain settings the program reads; secrets (the Fly token) are read where they are used.
CONFIG_KEYS = SETTINGS_KEYS


def read_settings(stack: str, config: pulumi.Config | None = None) -> StackConfig:
    config = config or pulumi.Config(NAMESPACE)
    values = {key.qualified: config.get(key) for key in CONFIG_KEYS}
    return from_mapping(stack, values)


def declare_tenants(settings: StackConfig, roster: Sequence[RosterEntry]) -> dict[str, Tenant]:
    return {entry.id: Tenant(TenantArgs(entry, settings.plans[entry.plan], settings)) for entry in roster}


def declare_edge(
    settings: StackConfig,
    roster: Sequence[RosterEntry],
    config: pulumi.Config | None = None,
    shards: Sequence[Shard] | None = None,
) -> Edge:
    """The edge of the stack's domain, its map built from every shard's roster (`shards`; this stack's
    roster alone when None), and the signup site behind it when the stack has one."""
    sources = [EdgeSource(s.settings, s.roster) for s in shards] if shards else [EdgeSource(settings, roster)]
    apps: dict[str, str] = {}
    if settings.signup_image:
        signup = Signup(settings, sources, config)
        apps[signup.hostname] = signup.app_name
    return Edge(settings, sources, apps)


def summary(roster: Sequence[RosterEntry], tenants: Mapping[str, Tenant]) -> dict[str, Any]:
    """What an operator wants from `pulumi stack output`: one line per tenant and the totals."""
    return {
        "tenants": {
            entry.id: {
                "hostname": tenants[entry.id].hostname,
                "hostnames": list(tenants[entry.id].hostnames),
                "app": tenants[entry.id].app_name,
                "state": str(TenantState(entry.state)),
                "plan": entry.plan,
            }
            for entry in roster
        },
        "totals": {
            "tenants": len(roster),
            "byPlan": dict(sorted(Counter(e.plan for e in roster).items())),
            "byState": dict(sorted(Counter(str(TenantState(e.state)) for e in roster).items())),
        },
    }


def outputs(roster: Sequence[RosterEntry], tenants: Mapping[str, Tenant], edge: Edge | None) -> dict[str, Any]:
    """Every stack output by name: `run` exports exactly these, and the test harness records them.
    A shard that does not host its domain's edge has no `edge` output."""
    return {
        **summary(roster, tenants),
        **({"edge": edge.outputs()} if edge is not None else {}),
        "initialPasswords": pulumi.Output.secret({tid: tenant.initial_password for tid, tenant in tenants.items()}),
    }


def capacity_problem(settings: StackConfig, roster: Sequence[RosterEntry]) -> str | None:
    """A shard over its capacity is refused: past it the Cloudflare account runs out of tokens."""
    if len(roster) <= settings.capacity:
        return None
    return (
        f"stack {settings.stack} holds {len(roster)} tenants, over its alex-hosted:capacity of {settings.capacity}: "
        "move new tenants to another shard (alex-hosted:domainShards), or raise the capacity if the "
        "account has the tokens to spare"
    )


def run() -> None:
    linear_output_drain()
    stack = pulumi.get_stack()
    try:
        settings = read_settings(stack)
        roster = load_roster(settings.roster, settings.plans, domain=settings.domain)
    except (ConfigError, RosterError) as exc:
        # RunError prints the message alone: the operator needs the keys and entries, not a traceback.
        raise pulumi.RunError(str(exc)) from None
    problem = capacity_problem(settings, roster)
    if problem:
        raise pulumi.RunError(problem)
    edge = None
    if hosts_edge(settings):
        try:
            edge = declare_edge(settings, roster, shards=load_shards(settings, roster))
        except (EdgeMapError, ShardError) as exc:
            raise pulumi.RunError(str(exc)) from None
    tenants = declare_tenants(settings, roster)
    for key, value in outputs(roster, tenants, edge).items():
        pulumi.export(key, value)
