"""What a new tenant costs in Fly requests, pinned call by call (the figures `bench.fly_requests` prints).

Each call below is one whose answer the provider does not already hold: the app create and the one GET
that sees it propagated (Fly's own CLI polls after every create); the secrets write; the volume look (a
second POST would be a second volume: names are not unique) and its create; the machine create (its name
is unique, so an earlier run's machine makes Fly refuse it) and the wait for it to start. A call coming
back fails here, naming it.
"""

from __future__ import annotations

from bench.fly_requests import count_tenant

NEW_TENANT = {
    "app": ["POST /v1/apps", "GET /v1/apps/{app}"],
    "secrets": ["POST /v1/apps/{app}/secrets"],
    "volume": ["GET /v1/apps/{app}/volumes", "POST /v1/apps/{app}/volumes"],
    "machine": ["POST /v1/apps/{app}/machines", "GET /v1/apps/{app}/machines/{id}/wait"],
}


def test_a_new_tenant_costs_seven_fly_requests_and_a_no_op_none(emu, host, app_name):
    rows = count_tenant(emu, host, app_name)
    assert {row.resource: row.calls for row in rows} == NEW_TENANT
    assert {row.resource: row.created for row in rows} == {"app": 2, "secrets": 1, "volume": 2, "machine": 2}
    assert [row.noop for row in rows] == [0, 0, 0, 0]
