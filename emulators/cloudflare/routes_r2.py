"""R2 buckets and their CORS and lifecycle rules (docs/reference/cloudflare.md §1.1, §3.2, §7).

Every call names its bucket's jurisdiction in the `cf-r2-jurisdiction` header (absent: "default"); a bucket
lives in one jurisdiction and is not found in another. Deleting a bucket that still holds objects is
refused (10008); the objects are the attached object store's (moto), when there is one.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from emulators.cloudflare import api
from emulators.cloudflare.api import Request, Response, route, success
from emulators.cloudflare.state import JURISDICTIONS, Bucket, World

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
LOCATIONS = ("apac", "eeur", "enam", "weur", "wnam", "oc")
STORAGE_CLASSES = ("Standard", "InfrequentAccess")
CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
BUCKETS = "/accounts/{account}/r2/buckets"
BUCKET = BUCKETS + "/{bucket}"


def _account(world: World, req: Request) -> None:
    if req.params["account"] != world.settings.account_id:
        raise api.auth_error()


def _jurisdiction(req: Request) -> str:
    value = req.headers.get("cf-r2-jurisdiction", "default") or "default"
    if value not in JURISDICTIONS:
        raise api.r2_invalid(f"cf-r2-jurisdiction must be one of {', '.join(JURISDICTIONS)}, got {value!r}")
    return value


def _bucket(world: World, req: Request) -> Bucket:
    _account(world, req)
    bucket = world.buckets.get((_jurisdiction(req), req.params["bucket"]))
    if bucket is None:
        raise api.bucket_not_found()
    return bucket


def create_bucket(world: World, req: Request) -> Response:
    _account(world, req)
    jurisdiction = _jurisdiction(req)
    body = req.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise api.bucket_name_invalid(str(name))
    hint = body.get("locationHint")
    if hint is not None and (not isinstance(hint, str) or hint.lower() not in LOCATIONS):
        raise api.r2_invalid(f"locationHint must be one of {', '.join(LOCATIONS)}, got {hint!r}")
    storage_class = body.get("storageClass", "Standard")
    if storage_class not in STORAGE_CLASSES:
        raise api.r2_invalid(f"storageClass must be one of {', '.join(STORAGE_CLASSES)}, got {storage_class!r}")
    if (jurisdiction, name) in world.buckets:
        raise api.bucket_exists()
    location = hint.upper() if isinstance(hint, str) else world.settings.location
    bucket = Bucket(name, jurisdiction, location, storage_class, world.now())
    if world.objects is not None:
        world.objects.create_bucket(name)
    world.buckets[(jurisdiction, name)] = bucket
    return Response(200, success(bucket.view()))


def list_buckets(world: World, req: Request) -> Response:
    """Cursor paging: `per_page` (1-1000, default 20), `cursor`, `name_contains`, `start_after`, `direction`."""
    _account(world, req)
    jurisdiction = _jurisdiction(req)
    per_page = req.int_arg("per_page", 20, 1, 1000)
    direction = req.arg("direction", "asc")
    if direction not in ("asc", "desc"):
        raise api.r2_invalid(f"direction must be asc or desc, got {direction!r}")
    if req.arg("order", "name") != "name":
        raise api.r2_invalid("order must be name")
    names = sorted((n for j, n in world.buckets if j == jurisdiction), reverse=direction == "desc")
    contains = req.arg("name_contains")
    if contains:
        names = [n for n in names if contains in n]
    after = _decode_cursor(req.arg("cursor")) or req.arg("start_after")
    if after:
        names = [n for n in names if (n < after if direction == "desc" else n > after)]
    page = names[:per_page]
    info: dict[str, Any] = {"per_page": per_page}
    if len(names) > per_page:
        info["cursor"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
    buckets = [world.buckets[(jurisdiction, n)].view() for n in page]
    return Response(200, success({"buckets": buckets}, info))


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        name = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        name = ""
    if not _NAME.fullmatch(name):
        raise api.r2_invalid(f"cursor {cursor!r} is not one this API gave")
    return name


def get_bucket(world: World, req: Request) -> Response:
    return Response(200, success(_bucket(world, req).view()))


def edit_bucket(world: World, req: Request) -> Response:
    bucket = _bucket(world, req)
    storage_class = req.headers.get("cf-r2-storage-class")
    if storage_class not in STORAGE_CLASSES:
        raise api.r2_invalid(f"cf-r2-storage-class must be one of {', '.join(STORAGE_CLASSES)}, got {storage_class!r}")
    bucket.storage_class = storage_class
    return Response(200, success(bucket.view()))


def delete_bucket(world: World, req: Request) -> Response:
    bucket = _bucket(world, req)
    if world.objects is not None:
        if world.objects.holds_objects(bucket.name):
            raise api.bucket_not_empty(bucket.name, world.settings.account_id)
        world.objects.delete_bucket(bucket.name)
    del world.buckets[(bucket.jurisdiction, bucket.name)]
    return Response(200, success({}))


# -- CORS --------------------------------------------------------------------------------------------------
def get_cors(world: World, req: Request) -> Response:
    bucket = _bucket(world, req)
    if bucket.cors is None:
        raise api.cors_not_found()
    return Response(200, success({"rules": bucket.cors}))


def put_cors(world: World, req: Request) -> Response:
    bucket = _bucket(world, req)
    rules = req.json_object().get("rules", [])
    if not isinstance(rules, list):
        raise api.r2_invalid("rules must be a list")
    bucket.cors = [_cors_rule(i, rule) for i, rule in enumerate(rules)]
    return Response(200, success({}))


def delete_cors(world: World, req: Request) -> Response:
    _bucket(world, req).cors = None
    return Response(200, success({}))


def _strings(where: str, value: Any, *, required: bool) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (required and not value):
        raise api.r2_invalid(f"{where} must be a {'non-empty ' if required else ''}list of strings")
    return list(value)


def _cors_rule(index: int, rule: Any) -> dict[str, Any]:
    where = f"rules[{index}]"
    if not isinstance(rule, dict) or not isinstance(rule.get("allowed"), dict):
        raise api.r2_invalid(f"{where}.allowed is required")
    allowed = rule["allowed"]
    methods = _strings(f"{where}.allowed.methods", allowed.get("methods"), required=True)
    if bad := [m for m in methods if m not in CORS_METHODS]:
        raise api.r2_invalid(f"{where}.allowed.methods: {bad} not among {', '.join(CORS_METHODS)}")
    out: dict[str, Any] = {
        "allowed": {
            "methods": methods,
            "origins": _strings(f"{where}.allowed.origins", allowed.get("origins"), required=True),
        }
    }
    if "headers" in allowed:
        out["allowed"]["headers"] = _strings(f"{where}.allowed.headers", allowed["headers"], required=False)
    if "id" in rule:
        if not isinstance(rule["id"], str):
            raise api.r2_invalid(f"{where}.id must be a string")
        out["id"] = rule["id"]
    if "exposeHeaders" in rule:
        out["exposeHeaders"] = _strings(f"{where}.exposeHeaders", rule["exposeHeaders"], required=False)
    if "maxAgeSeconds" in rule:
        age = rule["maxAgeSeconds"]
        if isinstance(age, bool) or not isinstance(age, int | float) or age < 0 or age != int(age):
            raise api.r2_invalid(f"{where}.maxAgeSeconds must be a whole number of seconds")
        out["maxAgeSeconds"] = int(age)
    return out


# -- lifecycle ---------------------------------------------------------------------------------------------
def get_lifecycle(world: World, req: Request) -> Response:
    return Response(200, success({"rules": _bucket(world, req).lifecycle}))


def put_lifecycle(world: World, req: Request) -> Response:
    bucket = _bucket(world, req)
    rules = req.json_object().get("rules", [])
    if not isinstance(rules, list):
        raise api.r2_invalid("rules must be a list")
    checked = [_lifecycle_rule(i, rule) for i, rule in enumerate(rules)]
    ids = [rule["id"] for rule in checked]
    if len(set(ids)) != len(ids):
        raise api.r2_invalid("rule ids must be unique")
    bucket.lifecycle = checked
    return Response(200, success({}))


def _lifecycle_rule(index: int, rule: Any) -> dict[str, Any]:
    where = f"rules[{index}]"
    if not isinstance(rule, dict):
        raise api.r2_invalid(f"{where} must be an object")
    if not isinstance(rule.get("id"), str) or not rule["id"]:
        raise api.r2_invalid(f"{where}.id is required")
    if not isinstance(rule.get("enabled"), bool):
        raise api.r2_invalid(f"{where}.enabled must be true or false")
    conditions = rule.get("conditions")
    if not isinstance(conditions, dict) or not isinstance(conditions.get("prefix"), str):
        raise api.r2_invalid(f"{where}.conditions.prefix is required")
    out: dict[str, Any] = {"id": rule["id"], "enabled": rule["enabled"], "conditions": {"prefix": conditions["prefix"]}}
    for key in ("deleteObjectsTransition", "abortMultipartUploadsTransition"):
        if key in rule:
            transition = rule[key]
            if not isinstance(transition, dict):
                raise api.r2_invalid(f"{where}.{key} must be an object")
            out[key] = {"condition": _condition(f"{where}.{key}.condition", transition.get("condition"))}
    if "storageClassTransitions" in rule:
        transitions = rule["storageClassTransitions"]
        if not isinstance(transitions, list):
            raise api.r2_invalid(f"{where}.storageClassTransitions must be a list")
        out["storageClassTransitions"] = []
        for i, t in enumerate(transitions):
            at = f"{where}.storageClassTransitions[{i}]"
            if not isinstance(t, dict) or t.get("storageClass") != "InfrequentAccess":
                raise api.r2_invalid(f"{at}.storageClass must be InfrequentAccess")
            condition = _condition(f"{at}.condition", t.get("condition"))
            out["storageClassTransitions"].append({"condition": condition, "storageClass": "InfrequentAccess"})
    return out


def _condition(where: str, condition: Any) -> dict[str, Any]:
    if not isinstance(condition, dict) or condition.get("type") not in ("Age", "Date"):
        raise api.r2_invalid(f"{where}.type must be Age or Date")
    if condition["type"] == "Age":
        age = condition.get("maxAge")
        if isinstance(age, bool) or not isinstance(age, int) or age <= 0:
            raise api.r2_invalid(f"{where}.maxAge must be a positive number of seconds")
        return {"maxAge": age, "type": "Age"}
    date = condition.get("date")
    if not isinstance(date, str):
        raise api.r2_invalid(f"{where}.date must be an RFC 3339 time")
    return {"date": date, "type": "Date"}


ROUTES = [
    route("POST", BUCKETS, "r2.buckets.create", create_bucket),
    route("GET", BUCKETS, "r2.buckets.list", list_buckets),
    route("GET", BUCKET, "r2.buckets.get", get_bucket),
    route("PATCH", BUCKET, "r2.buckets.edit", edit_bucket),
    route("DELETE", BUCKET, "r2.buckets.delete", delete_bucket),
    route("GET", BUCKET + "/cors", "r2.cors.get", get_cors),
    route("PUT", BUCKET + "/cors", "r2.cors.put", put_cors),
    route("DELETE", BUCKET + "/cors", "r2.cors.delete", delete_cors),
    route("GET", BUCKET + "/lifecycle", "r2.lifecycle.get", get_lifecycle),
    route("PUT", BUCKET + "/lifecycle", "r2.lifecycle.put", put_lifecycle),
]
