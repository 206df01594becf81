"""Shards under the real engine (step 6): two shard stacks and the edge host, in the order CI runs them
(`scripts.affected_stacks` waves: the shards, then the edge host); the edge map spans both shards."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from tests.e2e.conftest import bucket_names, tenant


def edge_map(fly, edge_app: str) -> dict[str, Any]:
    machine = next(m for m in fly.state.machines_of(edge_app) if m.state != "destroyed")
    (file,) = machine.config["files"]
    document: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(file["raw_value"])))
    return document


def test_two_shards_then_their_edge_host_serve_one_map(workspace, config, fly, cloudflare):
    shards = ["e2e", "e2e-2"]
    workspace.new_stack("e2e", {**config, "alex-hosted:domainShards": shards}, [tenant("e2ehost001", "hostuser")])
    workspace.new_stack(
        "e2e-2",
        {**config, "alex-hosted:domainShards": shards, "alex-hosted:appPrefix": "e2e2"},
        [tenant("e2eshard02", "sharded")],
    )  # fmt: skip
    waves = {
        wave: json.loads(
            workspace.script("affected_stacks", "--wave", wave, "--stacks", json.dumps(shards)).check().stdout
        )
        for wave in ("shards", "edges")
    }
    assert waves == {"shards": ["e2e-2"], "edges": ["e2e"]}
    for stack in waves["shards"] + waves["edges"]:
        workspace.up(stack).check()
    for stack in shards:
        workspace.preview(stack, "--no-changes").check()

    hosts = edge_map(fly, "e2e-edge")
    assert {"hostuser.books.test", "sharded.books.test"} <= set(json.dumps(hosts).split('"'))
    assert not [m for m in fly.state.apps if m == "e2e2-edge"]  # only the host runs an edge
    assert {b for b in bucket_names(cloudflare)} == {"alex-e2ehost001", "alex-e2eshard02"}
