"""Account API tokens (docs/reference/cloudflare.md §1.2, §1.3).

Create answers the token's secret `value`, once; get, list and update never show it again. A policy's
`resources` is a JSON object (never a string holding JSON), echoed back as sent; the whole answer is compact
JSON, as Cloudflare's is, which is what keeps the provider's byte-for-byte comparison of `resources`
quiet (docs/reference/cloudflare.md §1.3).
"""

from __future__ import annotations

from typing import Any

from emulators.cloudflare import api
from emulators.cloudflare.api import Request, Response, page_info, route, success
from emulators.cloudflare.state import PERMISSION_GROUPS, Token, World, new_id, new_token_value

TOKENS = "/accounts/{account}/tokens"
TOKEN = TOKENS + "/{token}"
STATUSES = ("active", "disabled")


def _account(world: World, req: Request) -> None:
    if req.params["account"] != world.settings.account_id:
        raise api.auth_error()


def _token(world: World, req: Request) -> Token:
    _account(world, req)
    token = world.tokens.get(req.params["token"])
    if token is None:
        raise api.token_not_found()
    return token


def create_token(world: World, req: Request) -> Response:
    _account(world, req)
    body = req.json_object()
    now = world.now()
    name, policies = _name(body), _policies(body, creating=True)
    token = Token(id=new_id(), name=name, policies=policies, issued_on=now, modified_on=now)
    _apply_optional(token, body)
    value = new_token_value()
    world.tokens[token.id] = token
    world.token_values[token.id] = value
    return Response(200, success({**token.view(), "value": value}))


def get_token(world: World, req: Request) -> Response:
    return Response(200, success(_token(world, req).view()))


def list_tokens(world: World, req: Request) -> Response:
    _account(world, req)
    page = req.int_arg("page", 1, 1, 1_000_000)
    per_page = req.int_arg("per_page", 20, 5, 50)
    direction = req.arg("direction", "asc")
    if direction not in ("asc", "desc"):
        raise api.token_invalid(f"direction must be asc or desc, got {direction!r}")
    tokens = sorted(world.tokens.values(), key=lambda t: (t.issued_on, t.id), reverse=direction == "desc")
    window, info = page_info(len(tokens), page, per_page)
    return Response(200, success([t.view() for t in tokens[window]], info))


def update_token(world: World, req: Request) -> Response:
    token = _token(world, req)
    body = req.json_object()
    name, policies = _name(body), _policies(body, creating=False)
    token.name, token.policies = name, policies
    _apply_optional(token, body)
    token.modified_on = world.now()
    return Response(200, success(token.view()))


def delete_token(world: World, req: Request) -> Response:
    token = _token(world, req)
    del world.tokens[token.id]
    world.token_values.pop(token.id, None)
    return Response(200, success({"id": token.id}))


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 120:
        raise api.token_invalid("name is required (1 to 120 characters)")
    return name


def _apply_optional(token: Token, body: dict[str, Any]) -> None:
    status = body.get("status")
    if status is not None:
        if status not in STATUSES:
            raise api.token_invalid(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        token.status = status
    for key in ("expires_on", "not_before"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise api.token_invalid(f"{key} must be an RFC 3339 time")
        setattr(token, key, value)
    condition = body.get("condition")
    if condition is not None and not isinstance(condition, dict):
        raise api.token_invalid("condition must be an object")
    token.condition = condition or None


def _policies(body: dict[str, Any], *, creating: bool) -> list[dict[str, Any]]:
    policies = body.get("policies")
    if not isinstance(policies, list) or not policies:
        raise api.token_invalid("policies is required (a non-empty list)")
    return [_policy(i, policy, creating=creating) for i, policy in enumerate(policies)]


def _policy(index: int, policy: Any, *, creating: bool) -> dict[str, Any]:
    where = f"policies[{index}]"
    if not isinstance(policy, dict):
        raise api.token_invalid(f"{where} must be an object")
    if creating and "id" in policy:
        raise api.token_invalid("Reusing existing policies is not supported by token creation")
    effect = policy.get("effect")
    if effect not in ("allow", "deny"):
        raise api.token_invalid(f"{where}.effect must be allow or deny, got {effect!r}")
    groups = policy.get("permission_groups")
    if not isinstance(groups, list) or not groups:
        raise api.token_invalid(f"{where}.permission_groups is required (a non-empty list)")
    named = []
    for group in groups:
        group_id = group.get("id") if isinstance(group, dict) else None
        if group_id not in PERMISSION_GROUPS:
            raise api.token_invalid(f"{where}.permission_groups: unknown permission group {group_id!r}")
        named.append({"id": group_id, "name": PERMISSION_GROUPS[group_id]})
    resources = policy.get("resources")
    if not isinstance(resources, dict) or not resources or not all(_resource_value(v) for v in resources.values()):
        raise api.token_invalid(f"{where}.resources must be a JSON object of resource keys (not a string)")
    policy_id = policy.get("id") if isinstance(policy.get("id"), str) else new_id()
    return {"id": policy_id, "effect": effect, "resources": resources, "permission_groups": named}


def _resource_value(value: Any) -> bool:
    """A resource maps to "*" (or a scope string), or to a nested object of such (account -> zones)."""
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and bool(value) and all(isinstance(v, str) for v in value.values())


ROUTES = [
    route("POST", TOKENS, "tokens.create", create_token),
    route("GET", TOKENS, "tokens.list", list_tokens),
    route("GET", TOKEN, "tokens.get", get_token),
    route("PUT", TOKEN, "tokens.update", update_token),
    route("DELETE", TOKEN, "tokens.delete", delete_token),
]
