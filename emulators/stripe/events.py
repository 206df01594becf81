"""The fake's events routes: `GET /v1/events` and `GET /v1/events/{id}`, with Stripe's list semantics.

* Newest first (`created`, then the order they happened in); only the last 30 days are kept
  (RETENTION_S, by the world's clock): older events are neither listed nor retrievable.
* `limit` 1-100 (default 10); `starting_after=ID` pages on to older events, `ending_before=ID` back to
  newer ones (the `limit` events right before ID, still newest first); `has_more` says whether more lie
  that way. Only one of the two cursors; an ID that is not a kept event is 404 `resource_missing`.
* `created` is a unix time or a range: `created[gt|gte|lt|lte]`.
* `type` is one event type, or a group with `*` as a wildcard (`customer.subscription.*`); `types[]`
  lists up to 20 exact types. Not both.
* Any other parameter is 400 `Received unknown parameter`. `delivery_success` is refused too: the fake
  does not model webhook deliveries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from emulators.stripe.checkout import CheckoutError as EventsError
from emulators.stripe.checkout import list_limit, one_string
from emulators.stripe.state import StripeWorld

RETENTION_S = 30 * 86400
MAX_TYPES = 20
_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "type", "types", "expand"})
_RANGE = ("gt", "gte", "lt", "lte")
_EVENT_PATH = re.compile(r"/v1/events/([A-Za-z0-9_]{1,200})")


def route(world: StripeWorld, method: str, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to an events request; None when the path is not one of these routes."""
    if method != "GET":
        return None
    if path == "/v1/events":
        return list_events(world, params)
    match = _EVENT_PATH.fullmatch(path)
    if match:
        return retrieve_event(world, match.group(1))
    return None


def retrieve_event(world: StripeWorld, event_id: str) -> dict[str, Any]:
    with world.lock:
        for event in _kept(world):
            if event["id"] == event_id:
                return event
    raise EventsError(404, f"No such event: '{event_id}'", code="resource_missing", param="id")


def list_events(world: StripeWorld, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise EventsError(400, f"Received unknown parameter: {unknown[0]}", param=unknown[0])
    if params.get("expand"):
        raise EventsError(400, "This property cannot be expanded (the fake expands nothing on events).", param="expand")
    limit = list_limit(params)
    after, before = one_string(params, "starting_after"), one_string(params, "ending_before")
    if after is not None and before is not None:
        raise EventsError(400, "You may only specify one of these parameters: ending_before, starting_after.")
    since, until = _created(params.get("created"))
    wanted = _types(params)
    with world.lock:
        ordered = list(reversed(_kept(world)))  # newest first: recorded in time order, the clock never goes back
        position = {event["id"]: index for index, event in enumerate(ordered)}
        for name, cursor in (("starting_after", after), ("ending_before", before)):
            if cursor is not None and cursor not in position:
                raise EventsError(404, f"No such event: '{cursor}'", code="resource_missing", param=name)

        def keep(event: dict[str, Any]) -> bool:
            return since(event["created"]) and until(event["created"]) and wanted(event["type"])

        if before is not None:
            newer = [e for e in ordered[: position[before]] if keep(e)]
            data, more = newer[-limit:], len(newer) > limit
        else:
            start = position[after] + 1 if after is not None else 0
            found = (e for e in ordered[start:] if keep(e))
            data = []
            more = False
            for event in found:
                if len(data) == limit:
                    more = True
                    break
                data.append(event)
        return {"object": "list", "url": "/v1/events", "has_more": more, "data": [dict(e) for e in data]}


def _kept(world: StripeWorld) -> list[dict[str, Any]]:
    oldest = int(world.clock.time()) - RETENTION_S
    return [event for event in world.events if event["created"] >= oldest]


def _integer(value: Any, param: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]{1,12}", value):
        raise EventsError(400, f"Invalid integer: {str(value)[:40]}", param=param)
    return int(value)


def _created(value: Any) -> tuple[Callable[[int], bool], Callable[[int], bool]]:
    """Two tests on an event's `created`: the lower and the upper bound (each may be open)."""
    if value is None:
        return (lambda _: True), (lambda _: True)
    if isinstance(value, str):
        exact = _integer(value, "created")
        return (lambda c: c >= exact), (lambda c: c <= exact)
    if not isinstance(value, dict) or not value:
        raise EventsError(400, "Invalid created: a unix time or a hash of gt, gte, lt, lte", param="created")
    bad = sorted(set(value) - set(_RANGE))
    if bad:
        raise EventsError(400, f"Received unknown parameter: created[{bad[0]}]", param=f"created[{bad[0]}]")
    bounds = {key: _integer(v, f"created[{key}]") for key, v in value.items()}
    gt, gte, lt, lte = (bounds.get(key) for key in _RANGE)

    def lower(created: int) -> bool:
        return (gt is None or created > gt) and (gte is None or created >= gte)

    def upper(created: int) -> bool:
        return (lt is None or created < lt) and (lte is None or created <= lte)

    return lower, upper


def _types(params: dict[str, Any]) -> Callable[[str], bool]:
    one, many = one_string(params, "type"), params.get("types")
    if one is not None and many is not None:
        raise EventsError(400, "You may pass either type or types, but not both.", param="types")
    if one is not None:
        pattern = re.compile(".*".join(re.escape(part) for part in one.split("*")))
        return lambda event_type: pattern.fullmatch(event_type) is not None
    if many is None:
        return lambda _: True
    if not isinstance(many, list) or not all(isinstance(t, str) and t for t in many):
        raise EventsError(400, "Invalid array: types", param="types")
    if len(many) > MAX_TYPES:
        raise EventsError(400, f"Invalid array: types may hold at most {MAX_TYPES} event types", param="types")
    chosen = frozenset(many)
    return lambda event_type: event_type in chosen
