"""Cloudflare's GraphQL Analytics endpoint, only as far as `r2StorageAdaptiveGroups` (docs/reference/cloudflare.md §4).

`POST /client/v4/graphql` answers the one query shape the storage script sends: the account's storage
grouped by `bucketName`, `max { payloadSize metadataSize objectCount uploadCount }`, filtered by
`datetime_geq`/`datetime_leq`. It is not a GraphQL engine: it checks the query names the dataset and reads
the account and window from the variables. A valid token asking for another account gets HTTP 200 with a
GraphQL `errors` list, as Cloudflare answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emulators.cloudflare.api import Request, Response, route
from emulators.cloudflare.state import World


def query(world: World, req: Request) -> Response:
    body = req.body if isinstance(req.body, dict) else {}
    text = body.get("query")
    variables = body.get("variables") or {}
    if not isinstance(text, str) or "r2StorageAdaptiveGroups" not in text:
        return Response(200, _error("this emulator only serves r2StorageAdaptiveGroups"))
    account = variables.get("accountTag")
    if account != world.settings.account_id:
        return Response(200, _error(f"accounts [{account}] are not authorized"))
    try:
        start = _parse_time(variables["start"])
        end = _parse_time(variables["end"])
    except (KeyError, TypeError, ValueError):
        return Response(200, _error("variables start and end must be RFC 3339 times"))
    rows = [
        {
            "dimensions": {"bucketName": name},
            "max": {
                "payloadSize": sample.payload_size,
                "metadataSize": sample.metadata_size,
                "objectCount": sample.object_count,
                "uploadCount": sample.upload_count,
            },
        }
        for name, sample in sorted(world.usage.items())
        if sample.at is None or start <= sample.at <= end
    ]
    return Response(200, {"data": {"viewer": {"accounts": [{"r2StorageAdaptiveGroups": rows}]}}, "errors": None})


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _error(message: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "path": ["viewer", "accounts"], "extensions": {}}]}


ROUTES = [route("POST", "/graphql", "graphql", query)]
