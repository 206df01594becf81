"""DNS records of the zones the emulator serves (docs/reference/cloudflare.md §1.4, §7).

Names are stored and answered as lower-case FQDNs (`@` is the apex, a short name gets the zone appended).
A CNAME shares its name with no other record (81053); an identical record is refused (81057). Update is
PUT (the whole record, as the provider sends it) or PATCH (the fields given).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from emulators.cloudflare import api
from emulators.cloudflare.api import Request, Response, page_info, route, success
from emulators.cloudflare.state import DnsRecord, World, new_id

RECORDS = "/zones/{zone}/dns_records"
RECORD = RECORDS + "/{record}"
TYPES = (
    "A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR", "NS", "OPENPGPKEY", "PTR",
    "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI",
)  # fmt: skip
PROXIABLE = ("A", "AAAA", "CNAME")
COMMENT_LIMIT = 100  # characters on a Free zone (500 on paid plans)
_FIELDS = ("name", "type", "content", "ttl", "proxied", "comment", "tags", "settings")
_ORDERS = ("type", "name", "content", "ttl", "proxied")


def _zone(world: World, req: Request) -> str:
    zone = req.params["zone"]
    if zone not in world.settings.zones:
        raise api.no_route(req.path)
    return zone


def _record(world: World, req: Request) -> tuple[str, DnsRecord]:
    zone = _zone(world, req)
    record = world.zone_records(zone).get(req.params["record"])
    if record is None:
        raise api.record_not_found()
    return zone, record


def _invalid(detail: str) -> api.ApiError:
    return api.dns_invalid(1004, f"DNS Validation Error: {detail}")


def fqdn(name: str, zone_name: str) -> str:
    name = name.strip().rstrip(".").lower()
    if name in ("@", ""):
        return zone_name
    return name if name == zone_name or name.endswith("." + zone_name) else f"{name}.{zone_name}"


def _checked(world: World, zone: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The record's fields validated and normalized, as Cloudflare stores them."""
    kind = fields.get("type")
    if kind not in TYPES:
        raise _invalid(f"type must be one of {', '.join(TYPES)}, got {kind!r}")
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _invalid("name is required")
    content = fields.get("content")
    if not isinstance(content, str) or not content:
        raise _invalid(f"content is required for a {kind} record")
    if kind in ("A", "AAAA"):
        version = 4 if kind == "A" else 6
        try:
            if ipaddress.ip_address(content).version != version:
                raise ValueError
        except ValueError:
            raise api.dns_invalid(9005 if kind == "A" else 9006, f"Content for {kind} record is invalid.") from None
    ttl = fields.get("ttl", 1)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl != int(ttl):
        raise api.dns_invalid(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for automatic.")
    if not (int(ttl) == 1 or 60 <= int(ttl) <= 86400):
        raise api.dns_invalid(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for automatic.")
    proxied = fields.get("proxied", False)
    if not isinstance(proxied, bool):
        raise _invalid("proxied must be true or false")
    if proxied and kind not in PROXIABLE:
        raise api.dns_invalid(9004, "This record type cannot be proxied.")
    comment = fields.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_LIMIT):
        raise _invalid(f"comment must be text of at most {COMMENT_LIMIT} characters")
    tags = fields.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and ":" in t for t in tags):
        raise _invalid("tags must be a list of name:value strings")
    settings = fields.get("settings") or {}
    if not isinstance(settings, dict) or not all(isinstance(v, bool) for v in settings.values()):
        raise _invalid("settings must be an object of true/false flags")
    return {
        "name": fqdn(name, world.settings.zones[zone]),
        "type": kind,
        "content": content,
        "ttl": int(ttl),
        "proxied": proxied,
        "comment": comment or None,
        "tags": sorted(set(tags)),
        "settings": {k: v for k, v in settings.items() if k in ("ipv4_only", "ipv6_only", "flatten_cname")},
    }


def _conflicts(world: World, zone: str, fields: dict[str, Any], self_id: str | None) -> None:
    for other in world.zone_records(zone).values():
        if other.id == self_id or other.name != fields["name"]:
            continue
        if other.type == fields["type"] and other.content == fields["content"]:
            raise api.record_exists()
        if "CNAME" in (other.type, fields["type"]):
            raise api.cname_conflict()


def create_record(world: World, req: Request) -> Response:
    zone = _zone(world, req)
    fields = _checked(world, zone, req.json_object())
    _conflicts(world, zone, fields, None)
    now = world.now()
    record = DnsRecord(id=new_id(), created_on=now, modified_on=now, **fields)
    record.comment_modified_on = now if record.comment else None
    record.tags_modified_on = now if record.tags else None
    world.zone_records(zone)[record.id] = record
    return Response(200, success(record.view()))


def get_record(world: World, req: Request) -> Response:
    return Response(200, success(_record(world, req)[1].view()))


def list_records(world: World, req: Request) -> Response:
    zone = _zone(world, req)
    page = req.int_arg("page", 1, 1, 1_000_000)
    per_page = req.int_arg("per_page", 100, 5, 5_000_000)
    order = req.arg("order", "type")
    if order not in _ORDERS:
        raise _invalid(f"order must be one of {', '.join(_ORDERS)}")
    direction = req.arg("direction", "asc")
    if direction not in ("asc", "desc"):
        raise _invalid("direction must be asc or desc")
    records = list(world.zone_records(zone).values())
    name = req.arg("name.exact") or req.arg("name")
    if name:
        wanted = fqdn(name, world.settings.zones[zone])
        records = [r for r in records if r.name == wanted]
    for key in ("type", "content"):
        if (value := req.arg(key)) is not None:
            records = [r for r in records if getattr(r, key) == value]
    records.sort(key=lambda r: (str(getattr(r, order)), r.created_on, r.id), reverse=direction == "desc")
    window, info = page_info(len(records), page, per_page)
    return Response(200, success([r.view() for r in records[window]], info))


def _write(world: World, zone: str, record: DnsRecord, fields: dict[str, Any]) -> Response:
    checked = _checked(world, zone, fields)
    _conflicts(world, zone, checked, record.id)
    now = world.now()
    if checked["comment"] != record.comment:
        record.comment_modified_on = now if checked["comment"] else None
    if checked["tags"] != record.tags:
        record.tags_modified_on = now if checked["tags"] else None
    for key, value in checked.items():
        setattr(record, key, value)
    record.modified_on = now
    return Response(200, success(record.view()))


def put_record(world: World, req: Request) -> Response:
    zone, record = _record(world, req)
    return _write(world, zone, record, req.json_object())


def patch_record(world: World, req: Request) -> Response:
    zone, record = _record(world, req)
    current = {key: getattr(record, key) for key in _FIELDS}
    return _write(world, zone, record, {**current, **req.json_object()})


def delete_record(world: World, req: Request) -> Response:
    zone, record = _record(world, req)
    del world.zone_records(zone)[record.id]
    return Response(200, success({"id": record.id}))


ROUTES = [
    route("POST", RECORDS, "dns.records.create", create_record),
    route("GET", RECORDS, "dns.records.list", list_records),
    route("GET", RECORD, "dns.records.get", get_record),
    route("PUT", RECORD, "dns.records.update", put_record),
    route("PATCH", RECORD, "dns.records.edit", patch_record),
    route("DELETE", RECORD, "dns.records.delete", delete_record),
]
