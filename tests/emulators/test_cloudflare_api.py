"""The Cloudflare v4 emulator over real HTTP: every route, the envelope and its error codes, pagination,
faults, the request log, and requests Cloudflare has no route for."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.clock import FakeClock
from emulators.cloudflare import CloudflareEmulator
from emulators.cloudflare.s3 import S3Objects
from emulators.faults import Fault
from tests.support.cloudflare_api import ACCOUNT, TOKEN, ZONE_ID, ZONE_NAME, fail_on_unknown, new_emulator
from tests.support.servers import free_port, s3_client

BUCKETS = f"/accounts/{ACCOUNT}/r2/buckets"
TOKENS = f"/accounts/{ACCOUNT}/tokens"
RECORDS = f"/zones/{ZONE_ID}/dns_records"
ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6"
ITEM_READ = "6a018a9f2fc74eb6b293b0c548f38b39"
EU = {"cf-r2-jurisdiction": "eu"}
REPO = Path(__file__).resolve().parents[2]


def client(emulator: CloudflareEmulator) -> httpx.Client:
    """A client of `emulator` that sends one request per connection, so nothing is left open."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Connection": "close"}
    return httpx.Client(base_url=emulator.url, headers=headers, timeout=10)


def ok(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    return body["result"]


def refused(response: httpx.Response, status: int, code: int) -> str:
    """Cloudflare's failure envelope with `code` first; its message."""
    body = response.json()
    assert response.status_code == status, body
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    assert body["errors"][0]["code"] == code, body
    return str(body["errors"][0]["message"])


def new_bucket(http: httpx.Client, name: str, **headers: str) -> Any:
    return ok(http.post(BUCKETS, json={"name": name}, headers=headers))


def policy(bucket: str = "alex-t1", groups: tuple[str, ...] = (ITEM_WRITE, ITEM_READ)) -> dict[str, Any]:
    return {
        "effect": "allow",
        "permission_groups": [{"id": g} for g in groups],
        "resources": {f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_{bucket}": "*"},
    }


def new_token(http: httpx.Client, name: str = "r2-alex-t1") -> Any:
    return ok(http.post(TOKENS, json={"name": name, "policies": [policy()]}))


def new_record(http: httpx.Client, name: str = "*", content: str = "alex-edge.fly.dev", **fields: object) -> Any:
    body = {"name": name, "type": "CNAME", "content": content, "ttl": 1, "proxied": False, **fields}
    return ok(http.post(RECORDS, json=body))


# -- auth and the envelope ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 400, 9106),
        ("Bearer short-token", 400, 6003),
        (f"Basic {TOKEN}", 400, 6003),
        (f"Bearer {TOKEN} extra", 400, 6003),
        ("Bearer " + "x" * 40, 403, 10000),
    ],
    ids=["missing", "too-short", "not-bearer", "junk-after", "unknown-token"],
)
def test_auth_failures_answer_cloudflares_codes(cf, authorization, status, code):
    emulator, _ = cf
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{emulator.url}{BUCKETS}", headers=headers)
    refused(response, status, code)
    if code == 6003:
        assert response.json()["errors"][0]["error_chain"] == [
            {"code": 6111, "message": "Invalid format for Authorization header"}
        ]
    assert emulator.requests[-1].authorized is False
    assert "authorization" not in emulator.requests[-1].headers  # never kept


def test_another_accounts_path_is_an_authentication_error(cf):
    _, http = cf
    refused(http.get(f"/accounts/{'f' * 32}/r2/buckets"), 403, 10000)


def test_answers_are_compact_json(cf):
    _, http = cf
    new_bucket(http, "alex-t1")
    response = http.get(f"{BUCKETS}/alex-t1")
    assert response.headers["content-type"] == "application/json"
    assert ": " not in response.text and ", " not in response.text


def test_a_body_that_is_not_json_is_refused(cf):
    _, http = cf
    response = http.post(BUCKETS, content=b"{name: alex-t1", headers={"content-type": "application/json"})
    refused(response, 400, 9207)


# -- R2 buckets -------------------------------------------------------------------------------------------
def test_bucket_create_get_delete_in_its_jurisdiction(cf):
    emulator, http = cf
    created = new_bucket(http, "alex-t1")
    assert created["name"] == "alex-t1" and created["storage_class"] == "Standard" and created["location"] == "ENAM"
    assert created["creation_date"].endswith("Z") and len(created["creation_date"]) == 24  # milliseconds
    assert ok(http.get(f"{BUCKETS}/alex-t1")) == created
    refused(http.get(f"{BUCKETS}/alex-t1", headers=EU), 404, 10006)  # another jurisdiction, another bucket

    eu = new_bucket(http, "alex-t1", **EU)  # the same name in the EU is a different bucket
    assert eu["jurisdiction"] == "eu"
    assert ok(http.delete(f"{BUCKETS}/alex-t1")) == {}
    refused(http.get(f"{BUCKETS}/alex-t1"), 404, 10006)
    refused(http.delete(f"{BUCKETS}/alex-t1"), 404, 10006)
    assert ok(http.get(f"{BUCKETS}/alex-t1", headers=EU)) == eu
    assert emulator.requests[0].headers.get("cf-r2-jurisdiction") is None  # absent means "default"
    assert [r.headers.get("cf-r2-jurisdiction") for r in emulator.requests if r.route == "r2.buckets.create"] == [
        None,
        "eu",
    ]


def test_bucket_create_twice_is_a_conflict_and_a_location_hint_is_kept(cf):
    _, http = cf
    bucket = ok(
        http.post(BUCKETS, json={"name": "alex-t1", "locationHint": "weur", "storageClass": "InfrequentAccess"})
    )
    assert bucket["location"] == "WEUR" and bucket["storage_class"] == "InfrequentAccess"
    refused(http.post(BUCKETS, json={"name": "alex-t1"}), 409, 10004)


@pytest.mark.parametrize(
    "name",
    ["Alex-t1", "alex_t1", "alex.t1", "ab", "a" * 64, "-alex", "alex-", "alex t1", "alex-tä", "", None, 7],
)
def test_bucket_names_outside_r2s_rules_are_refused(cf, name):
    _, http = cf
    refused(http.post(BUCKETS, json={"name": name}), 400, 10005)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"name": "alex-t1", "locationHint": "mars"}, {}),
        ({"name": "alex-t1", "storageClass": "Glacier"}, {}),
        ({"name": "alex-t1"}, {"cf-r2-jurisdiction": "moon"}),
    ],
    ids=["location", "storage-class", "jurisdiction"],
)
def test_bucket_create_with_a_bad_option_is_refused(cf, body, headers):
    _, http = cf
    refused(http.post(BUCKETS, json=body, headers=headers), 400, 10040)


def test_bucket_storage_class_is_edited_by_header(cf):
    _, http = cf
    new_bucket(http, "alex-t1")
    edited = ok(http.patch(f"{BUCKETS}/alex-t1", headers={"cf-r2-storage-class": "InfrequentAccess"}))
    assert edited["storage_class"] == "InfrequentAccess"
    refused(http.patch(f"{BUCKETS}/alex-t1"), 400, 10040)


def test_bucket_list_pages_with_a_cursor_and_filters(cf):
    _, http = cf
    for name in ["alex-e", "alex-a", "alex-f", "alex-d", "alex-c", "alex-b", "other-x"]:
        new_bucket(http, name)
    new_bucket(http, "alex-z", **EU)
    seen, cursor, pages = [], None, 0
    while True:
        response = http.get(BUCKETS, params={"per_page": 2, **({"cursor": cursor} if cursor else {})})
        body = response.json()
        seen += [b["name"] for b in body["result"]["buckets"]]
        pages += 1
        assert body["result_info"]["per_page"] == 2
        cursor = body["result_info"].get("cursor")
        if not cursor:
            break
    assert seen == ["alex-a", "alex-b", "alex-c", "alex-d", "alex-e", "alex-f", "other-x"] and pages == 4
    only = ok(http.get(BUCKETS, params={"name_contains": "alex", "direction": "desc", "start_after": "alex-d"}))
    assert [b["name"] for b in only["buckets"]] == ["alex-c", "alex-b", "alex-a"]
    assert [b["name"] for b in ok(http.get(BUCKETS, headers=EU))["buckets"]] == ["alex-z"]
    refused(http.get(BUCKETS, params={"per_page": 0}), 400, 9207)
    refused(http.get(BUCKETS, params={"per_page": "ten"}), 400, 9207)
    refused(http.get(BUCKETS, params={"cursor": "%%%"}), 400, 10040)


def test_a_bucket_holding_objects_in_s3_is_not_deleted(moto_endpoint):
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    s3 = s3_client(moto_endpoint, "k", "s")
    with new_emulator(objects=S3Objects(moto_endpoint)) as emulator:
        http = client(emulator)
        new_bucket(http, "alex-t1")
        s3.put_object(Bucket="alex-t1", Key="books/a.epub", Body=b"book")
        upload = s3.create_multipart_upload(Bucket="alex-t1", Key="books/b.epub")

        message = refused(http.delete(f"{BUCKETS}/alex-t1"), 409, 10008)
        assert "alex-t1" in message and ACCOUNT in message
        s3.delete_object(Bucket="alex-t1", Key="books/a.epub")
        refused(http.delete(f"{BUCKETS}/alex-t1"), 409, 10008)  # an unfinished upload is content too
        s3.abort_multipart_upload(Bucket="alex-t1", Key="books/b.epub", UploadId=upload["UploadId"])
        ok(http.delete(f"{BUCKETS}/alex-t1"))
        assert "alex-t1" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        fail_on_unknown(emulator)


# -- R2 CORS and lifecycle --------------------------------------------------------------------------------
CORS = {
    "rules": [
        {
            "allowed": {
                "methods": ["PUT", "GET", "HEAD"],
                "origins": ["https://t1.alex.example"],
                "headers": ["content-type"],
            },
            "exposeHeaders": ["ETag"],
            "maxAgeSeconds": 3600,
        }
    ]
}


def test_cors_is_absent_then_put_then_deleted(cf):
    _, http = cf
    new_bucket(http, "alex-t1")
    refused(http.get(f"{BUCKETS}/alex-t1/cors"), 404, 10059)
    assert ok(http.put(f"{BUCKETS}/alex-t1/cors", json=CORS)) == {}
    assert ok(http.get(f"{BUCKETS}/alex-t1/cors")) == CORS
    ok(http.delete(f"{BUCKETS}/alex-t1/cors"))
    refused(http.get(f"{BUCKETS}/alex-t1/cors"), 404, 10059)
    refused(http.put(f"{BUCKETS}/alex-t2/cors", json=CORS), 404, 10006)


@pytest.mark.parametrize(
    "rule",
    [
        {"allowed": {"methods": ["PATCH"], "origins": ["https://a.example"]}},
        {"allowed": {"methods": [], "origins": ["https://a.example"]}},
        {"allowed": {"methods": ["GET"], "origins": []}},
        {"allowed": {"methods": ["GET"], "origins": "https://a.example"}},
        {"allowed": {"methods": ["GET"], "origins": ["https://a.example"]}, "maxAgeSeconds": -1},
        {"allowed": {"methods": ["GET"], "origins": ["https://a.example"]}, "maxAgeSeconds": 1.5},
        {"allowed": {"methods": ["GET"], "origins": ["https://a.example"]}, "exposeHeaders": "ETag"},
        {"methods": ["GET"]},
    ],
)
def test_a_cors_rule_r2_would_refuse_is_refused(cf, rule):
    _, http = cf
    new_bucket(http, "alex-t1")
    refused(http.put(f"{BUCKETS}/alex-t1/cors", json={"rules": [rule]}), 400, 10040)


def test_a_new_bucket_has_the_default_multipart_rule_and_a_put_replaces_all_rules(cf):
    _, http = cf
    new_bucket(http, "alex-t1")
    (default,) = ok(http.get(f"{BUCKETS}/alex-t1/lifecycle"))["rules"]
    assert default["id"] == "Default Multipart Abort Rule"
    assert default["abortMultipartUploadsTransition"] == {"condition": {"maxAge": 604800, "type": "Age"}}
    rules = {
        "rules": [
            {
                "id": "expire-trash",
                "enabled": True,
                "conditions": {"prefix": "trash/"},
                "deleteObjectsTransition": {"condition": {"maxAge": 2592000, "type": "Age"}},
                "storageClassTransitions": [
                    {"condition": {"type": "Date", "date": "2027-01-01T00:00:00Z"}, "storageClass": "InfrequentAccess"}
                ],
            }
        ]
    }
    ok(http.put(f"{BUCKETS}/alex-t1/lifecycle", json=rules))
    assert ok(http.get(f"{BUCKETS}/alex-t1/lifecycle")) == rules
    refused(http.get(f"{BUCKETS}/alex-t2/lifecycle"), 404, 10006)


@pytest.mark.parametrize(
    "rules",
    [
        [{"enabled": True, "conditions": {"prefix": ""}}],
        [{"id": "a", "enabled": "yes", "conditions": {"prefix": ""}}],
        [{"id": "a", "enabled": True}],
        [
            {
                "id": "a",
                "enabled": True,
                "conditions": {"prefix": ""},
                "deleteObjectsTransition": {"condition": {"type": "Age"}},
            }
        ],
        [
            {"id": "a", "enabled": True, "conditions": {"prefix": ""}},
            {"id": "a", "enabled": False, "conditions": {"prefix": ""}},
        ],
        "rules",
    ],
    ids=["no-id", "enabled-text", "no-conditions", "age-without-max-age", "duplicate-ids", "not-a-list"],
)
def test_a_lifecycle_rule_r2_would_refuse_is_refused(cf, rules):
    _, http = cf
    new_bucket(http, "alex-t1")
    refused(http.put(f"{BUCKETS}/alex-t1/lifecycle", json={"rules": rules}), 400, 10040)


# -- account tokens ---------------------------------------------------------------------------------------
def test_a_tokens_value_is_answered_once_only(cf):
    emulator, http = cf
    created = new_token(http)
    value = created["value"]
    assert len(value) == 40 and len(created["id"]) == 32 and created["status"] == "active"
    assert created["policies"][0]["permission_groups"] == [
        {"id": ITEM_WRITE, "name": "Workers R2 Storage Bucket Item Write"},
        {"id": ITEM_READ, "name": "Workers R2 Storage Bucket Item Read"},
    ]
    token_id = created["id"]
    update = {"name": "r2-alex-t1-v2", "policies": [policy()]}
    answers = [
        http.get(f"{TOKENS}/{token_id}"),
        http.get(TOKENS),
        http.put(f"{TOKENS}/{token_id}", json=update),
        http.delete(f"{TOKENS}/{token_id}"),
    ]
    for answer in answers:
        ok(answer)
        assert value not in answer.text and '"value"' not in answer.text
    assert emulator.world.token_values == {}  # deleted with its token


def test_token_get_update_delete_and_not_found(still_cf):
    clock, emulator, http = still_cf
    created = new_token(http)
    token_id = created["id"]
    clock.advance(90)
    updated = ok(
        http.put(f"{TOKENS}/{token_id}", json={"name": "renamed", "policies": [policy()], "status": "disabled"})
    )
    assert updated["name"] == "renamed" and updated["status"] == "disabled"
    assert updated["issued_on"] == created["issued_on"] != updated["modified_on"]
    assert updated["policies"][0]["resources"] == policy()["resources"]
    assert "last_used_on" not in updated
    clock.advance(30)
    emulator.use_token(token_id)
    used = ok(http.get(f"{TOKENS}/{token_id}"))
    assert used["last_used_on"] > updated["modified_on"]
    assert ok(http.delete(f"{TOKENS}/{token_id}")) == {"id": token_id}
    refused(http.get(f"{TOKENS}/{token_id}"), 404, 1000)
    refused(http.put(f"{TOKENS}/{token_id}", json={"name": "x", "policies": [policy()]}), 404, 1000)
    refused(http.delete(f"{TOKENS}/{token_id}"), 404, 1000)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"policies": [policy()]}, "name"),
        ({"name": "x" * 121, "policies": [policy()]}, "name"),
        ({"name": "t", "policies": []}, "policies"),
        ({"name": "t", "policies": [{**policy(), "effect": "maybe"}]}, "effect"),
        ({"name": "t", "policies": [{**policy(), "permission_groups": [{"id": "f" * 32}]}]}, "permission group"),
        ({"name": "t", "policies": [{**policy(), "permission_groups": []}]}, "permission_groups"),
        ({"name": "t", "policies": [{**policy(), "resources": json.dumps(policy()["resources"])}]}, "not a string"),
        ({"name": "t", "policies": [{**policy(), "resources": {}}]}, "resources"),
        ({"name": "t", "policies": [{**policy(), "resources": {"k": 1}}]}, "resources"),
        ({"name": "t", "policies": [{**policy(), "id": "a" * 32}]}, "Reusing existing policies"),
        ({"name": "t", "policies": [policy()], "status": "expired"}, "status"),
        ({"name": "t", "policies": [policy()], "condition": "anywhere"}, "condition"),
    ],
    ids=[
        "no-name", "long-name", "no-policies", "effect", "unknown-group", "no-groups", "resources-as-string",
        "empty-resources", "resource-value", "policy-id-on-create", "status", "condition",
    ],
)  # fmt: skip
def test_a_token_cloudflare_would_refuse_is_refused_by_field(cf, body, text):
    _, http = cf
    message = refused(http.post(TOKENS, json=body), 400, 1001)
    assert text in message


def test_a_nested_account_resource_is_accepted():
    """All buckets of an account is the nested form (docs/reference/cloudflare.md §1.3)."""
    nested = {f"com.cloudflare.api.account.{ACCOUNT}": {"com.cloudflare.edge.r2.bucket.*": "*"}}
    with new_emulator() as emulator:
        answer = client(emulator).post(TOKENS, json={"name": "all", "policies": [{**policy(), "resources": nested}]})
        assert ok(answer)["policies"][0]["resources"] == nested


def test_token_list_pages_by_number(still_cf):
    clock, _, http = still_cf
    for i in range(7):
        new_token(http, f"token-{i}")
        clock.advance(1)
    first = http.get(TOKENS, params={"per_page": 5}).json()
    assert [t["name"] for t in first["result"]] == [f"token-{i}" for i in range(5)]
    assert first["result_info"] == {"page": 1, "per_page": 5, "count": 5, "total_count": 7, "total_pages": 2}
    second = http.get(TOKENS, params={"per_page": 5, "page": 2, "direction": "desc"}).json()
    assert [t["name"] for t in second["result"]] == ["token-1", "token-0"]
    assert second["result_info"]["count"] == 2
    assert http.get(TOKENS, params={"per_page": 5, "page": 9}).json()["result"] == []
    refused(http.get(TOKENS, params={"per_page": 4}), 400, 9207)
    refused(http.get(TOKENS, params={"per_page": 51}), 400, 9207)
    refused(http.get(TOKENS, params={"page": 0}), 400, 9207)


# -- DNS records ------------------------------------------------------------------------------------------
def test_record_create_get_update_delete(still_cf):
    clock, _, http = still_cf
    created = new_record(http, comment="edge")
    assert created["name"] == f"*.{ZONE_NAME}" and created["proxiable"] is True and created["ttl"] == 1
    assert "settings" not in created  # Cloudflare omits it for a non-proxied CNAME without settings
    assert created["comment_modified_on"] == created["created_on"] and "tags_modified_on" not in created
    record = f"{RECORDS}/{created['id']}"
    assert ok(http.get(record)) == created
    clock.advance(5)
    updated = ok(http.put(record, json={"name": "*", "type": "CNAME", "content": "alex-edge2.fly.dev", "ttl": 300}))
    assert updated["content"] == "alex-edge2.fly.dev" and updated["ttl"] == 300 and updated["comment"] is None
    assert updated["modified_on"] != created["modified_on"] and "comment_modified_on" not in updated
    patched = ok(http.patch(record, json={"comment": "moved", "tags": ["tenant:t1"]}))
    assert patched["content"] == "alex-edge2.fly.dev" and patched["tags"] == ["tenant:t1"]
    assert ok(http.delete(record)) == {"id": created["id"]}
    refused(http.get(record), 404, 81044)
    refused(http.put(record, json={"name": "x", "type": "A", "content": "192.0.2.1"}), 404, 81044)
    refused(http.delete(record), 404, 81044)


@pytest.mark.parametrize(
    ("name", "stored"),
    [("www", f"www.{ZONE_NAME}"), ("@", ZONE_NAME), (f"WWW.{ZONE_NAME}.", f"www.{ZONE_NAME}"), (ZONE_NAME, ZONE_NAME)],
)
def test_record_names_are_stored_as_lowercase_fqdns(cf, name, stored):
    _, http = cf
    assert new_record(http, name=name)["name"] == stored


def test_records_that_clash_are_refused(cf):
    _, http = cf
    new_record(http, name="t1")
    refused(
        http.post(RECORDS, json={"name": "t1", "type": "CNAME", "content": "alex-edge.fly.dev", "ttl": 1}), 400, 81057
    )
    refused(http.post(RECORDS, json={"name": "t1", "type": "A", "content": "192.0.2.1", "ttl": 1}), 400, 81053)
    a = ok(http.post(RECORDS, json={"name": "t2", "type": "A", "content": "192.0.2.1", "ttl": 1}))
    ok(http.post(RECORDS, json={"name": "t2", "type": "A", "content": "192.0.2.2", "ttl": 1}))  # two As may share
    refused(http.post(RECORDS, json={"name": "t2", "type": "CNAME", "content": "x.fly.dev", "ttl": 1}), 400, 81053)
    ok(http.put(f"{RECORDS}/{a['id']}", json={"name": "t2", "type": "A", "content": "192.0.2.1", "ttl": 60}))  # itself


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"type": "A", "content": "not-an-ip"}, 9005),
        ({"type": "A", "content": "2001:db8::1"}, 9005),
        ({"type": "AAAA", "content": "192.0.2.1"}, 9006),
        ({"ttl": 30}, 9021),
        ({"ttl": 86401}, 9021),
        ({"ttl": "1"}, 9021),
        ({"type": "TXT", "content": "hello", "proxied": True}, 9004),
        ({"type": "SPF"}, 1004),
        ({"content": ""}, 1004),
        ({"comment": "c" * 101}, 1004),
        ({"tags": ["no-colon"]}, 1004),
        ({"proxied": "no"}, 1004),
    ],
)
def test_a_record_cloudflare_would_refuse_is_refused(cf, fields, code):
    _, http = cf
    body = {"name": "t1", "type": "CNAME", "content": "alex-edge.fly.dev", "ttl": 1, **fields}
    refused(http.post(RECORDS, json=body), 400, code)


def test_record_list_filters_and_pages(cf):
    _, http = cf
    for i in range(7):
        ok(http.post(RECORDS, json={"name": f"h{i}", "type": "A", "content": f"192.0.2.{i}", "ttl": 1}))
    new_record(http, name="_acme-challenge", content="x.flydns.net")
    first = http.get(RECORDS, params={"type": "A", "per_page": 5, "order": "name"}).json()
    assert [r["name"].split(".")[0] for r in first["result"]] == ["h0", "h1", "h2", "h3", "h4"]
    assert first["result_info"] == {"page": 1, "per_page": 5, "count": 5, "total_count": 7, "total_pages": 2}
    assert len(http.get(RECORDS, params={"type": "A", "per_page": 5, "page": 2}).json()["result"]) == 2
    (acme,) = ok(http.get(RECORDS, params={"name": f"_acme-challenge.{ZONE_NAME}"}))
    assert acme["content"] == "x.flydns.net"
    assert ok(http.get(RECORDS, params={"name.exact": "h3", "content": "192.0.2.3"}))[0]["name"] == f"h3.{ZONE_NAME}"
    refused(http.get(RECORDS, params={"order": "color"}), 400, 1004)
    refused(http.get(RECORDS, params={"per_page": 2}), 400, 9207)


def test_an_unknown_zone_has_no_route(cf):
    _, http = cf
    body = refused(http.get(f"/zones/{'e' * 32}/dns_records"), 404, 7003)
    assert "perhaps your object identifier is invalid" in body


# -- faults -----------------------------------------------------------------------------------------------
def test_a_429_fault_answers_code_971_with_retry_after_and_does_no_work(cf):
    emulator, http = cf
    emulator.inject(Fault(method="POST", path=r"/r2/buckets$", status=429, times=2))
    for _ in range(2):
        response = http.post(BUCKETS, json={"name": "alex-t1"})
        refused(response, 429, 971)
        assert response.headers["retry-after"] == "1"
    assert emulator.world.buckets == {}
    new_bucket(http, "alex-t1")
    assert [r.status for r in emulator.requests] == [429, 429, 200]
    assert [r.faulted for r in emulator.requests] == [True, True, False]


def test_a_5xx_fault_answers_code_10001_and_after_work_the_work_is_done(cf):
    emulator, http = cf
    emulator.inject(Fault(method="POST", path=r"/tokens$", status=502, when="after_work"))
    emulator.inject(Fault(method="GET", path=r"/dns_records$", status=500, headers={"retry-after": "7"}))
    refused(http.post(TOKENS, json={"name": "r2-alex-t1", "policies": [policy()]}), 502, 10001)
    assert len(emulator.world.tokens) == 1  # created; only the answer was lost
    response = http.get(RECORDS)
    refused(response, 500, 10001)
    assert response.headers["retry-after"] == "7"


def test_a_fault_can_skip_requests_and_bring_its_own_body(cf):
    emulator, http = cf
    body = {"success": False, "errors": [{"code": 10043, "message": "custom"}], "messages": [], "result": None}
    emulator.inject(Fault(method="GET", path=r"/r2/buckets$", status=503, skip=1, body=body))
    ok(http.get(BUCKETS))
    assert http.get(BUCKETS).json() == body
    ok(http.get(BUCKETS))


def test_a_slow_answer_waits_on_the_emulators_clock():
    clock = FakeClock()
    with new_emulator(clock=clock) as emulator:
        emulator.inject(Fault(method="GET", path=r"/r2/buckets$", status=None, delay=30))
        answers: list[httpx.Response] = []
        http = client(emulator)
        worker = threading.Thread(target=lambda: answers.append(http.get(BUCKETS)))
        worker.start()
        clock.until_blocked(1)
        assert answers == []
        clock.advance(30)
        worker.join(timeout=10)
        assert answers[0].status_code == 200


def test_a_dropped_connection_gets_no_answer(cf):
    emulator, http = cf
    emulator.inject(Fault(method="POST", path=r"/r2/buckets$", drop=True, when="after_work"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(BUCKETS, json={"name": "alex-t1"})
    assert ("default", "alex-t1") in emulator.world.buckets  # the work was done before the drop


# -- the request log and unknown requests -----------------------------------------------------------------
def test_the_log_keeps_method_path_query_headers_that_matter_and_body(cf):
    emulator, http = cf
    http.post(BUCKETS, json={"name": "alex-t1"}, headers={"cf-r2-jurisdiction": "default", "x-other": "no"})
    http.get(BUCKETS, params={"per_page": "5", "name_contains": "alex"})
    create, listing = emulator.requests
    assert (create.method, create.path, create.route, create.status) == (
        "POST",
        f"/client/v4{BUCKETS}",
        "r2.buckets.create",
        200,
    )
    assert create.body == {"name": "alex-t1"} and create.authorized and create.writes
    assert create.headers["cf-r2-jurisdiction"] == "default" and "x-other" not in create.headers
    assert listing.query == {"per_page": ["5"], "name_contains": ["alex"]} and not listing.writes
    assert [r.route for r in emulator.writes()] == ["r2.buckets.create"]
    emulator.reset_log()
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/client/v4/accounts/{ACCOUNT}/tokens/verify"),
        ("GET", f"/client/v4/accounts/{ACCOUNT}/tokens/permission_groups"),
        ("POST", f"/client/v4/accounts/{ACCOUNT}/r2/buckets/alex-t1"),
        ("GET", "/client/v4/user/tokens"),
        ("GET", f"/accounts/{ACCOUNT}/r2/buckets"),
        ("DELETE", f"/client/v4/accounts/{ACCOUNT}/r2/buckets/alex-t1/lifecycle"),
    ],
)
def test_a_request_cloudflare_has_no_route_for_is_answered_404_and_fails_the_test(method, path):
    with new_emulator() as emulator:
        root = emulator.url.removesuffix("/client/v4")
        response = httpx.request(method, f"{root}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        errors = response.json()["errors"]
        assert response.status_code == 404 and [e["code"] for e in errors] == [7003, 7000]
        assert path in errors[0]["message"]
        (unknown,) = emulator.unknown_requests()
        assert (unknown.method, unknown.path) == (method, path)
        with pytest.raises(pytest.fail.Exception, match=f"does not know:\n  {method} {path}"):
            fail_on_unknown(emulator)


def test_known_requests_do_not_fail_the_test(cf):
    emulator, http = cf
    new_bucket(http, "alex-t1")
    refused(http.get(f"{BUCKETS}/nothing-here"), 404, 10006)  # an error answer, but a route Cloudflare has
    fail_on_unknown(emulator)


# -- `python -m emulators.cloudflare` ---------------------------------------------------------------------
def test_main_module_serves_until_interrupted():
    port = free_port()
    command = [sys.executable, "-m", "emulators.cloudflare", "--port", str(port), "--token", TOKEN]
    command += ["--account", ACCOUNT, "--zone", f"{ZONE_ID}={ZONE_NAME}"]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = f"http://127.0.0.1:{port}/client/v4"
            assert url in proc.stdout.readline()
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                assert new_record(http, name="www")["name"] == f"www.{ZONE_NAME}"
                assert ok(http.get(BUCKETS))["buckets"] == []
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
