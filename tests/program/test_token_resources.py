"""The token policy's `resources`: the one spelling Cloudflare echoes, and refusal of any part that could be
spelled another way (docs/reference/cloudflare.md §1.3, §8)."""

from __future__ import annotations

import json

import httpx
import pytest

from components.storage import bucket_resource_key, token_resources_json
from tests.support.cloudflare_api import ACCOUNT, TOKEN, new_emulator

ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6"
VALID_BUCKETS = ["abc", "alex-t00001", "a" * 63, "0-9", "alex-12345678901234567890"]


@pytest.mark.parametrize("bucket", VALID_BUCKETS)
@pytest.mark.parametrize("jurisdiction", ["default", "eu", "fedramp"])
def test_resources_is_compact_json_with_one_key_that_reads_back_to_the_same_bytes(bucket, jurisdiction):
    text = token_resources_json(ACCOUNT, bucket, jurisdiction)
    parsed = json.loads(text)
    assert parsed == {f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_{jurisdiction}_{bucket}": "*"}
    # Any compact JSON writer (Cloudflare's echo) gives these bytes back, whatever its escaping rules.
    assert json.dumps(parsed, separators=(",", ":"), ensure_ascii=False) == text
    assert json.dumps(parsed, separators=(",", ":"), ensure_ascii=True) == text
    assert " " not in text and text.isascii()


def test_the_emulator_echoes_resources_byte_for_byte_as_the_program_sends_them():
    text = token_resources_json(ACCOUNT, "alex-t00001")
    policy = {"effect": "allow", "permission_groups": [{"id": ITEM_WRITE}], "resources": json.loads(text)}
    with new_emulator() as cf:
        answer = httpx.post(
            f"{cf.url}/accounts/{ACCOUNT}/tokens",
            json={"name": "r2-alex-t00001", "policies": [policy]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        token_id = answer.json()["result"]["id"]
        read = httpx.get(f"{cf.url}/accounts/{ACCOUNT}/tokens/{token_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    for raw in (answer.text, read.text):
        assert f'"resources":{text}' in raw


@pytest.mark.parametrize(
    ("account", "bucket", "jurisdiction", "field"),
    [
        (ACCOUNT.upper(), "alex-t1x", "default", "account id"),
        (ACCOUNT[:-1], "alex-t1x", "default", "account id"),
        (ACCOUNT[:-1] + '"', "alex-t1x", "default", "account id"),
        (ACCOUNT + "\n", "alex-t1x", "default", "account id"),
        ("", "alex-t1x", "default", "account id"),
        (ACCOUNT, 'alex-"t1', "default", "bucket name"),
        (ACCOUNT, "alex-\\t1", "default", "bucket name"),
        (ACCOUNT, "alex-tä1", "default", "bucket name"),
        (ACCOUNT, "alex-t1\n", "default", "bucket name"),
        (ACCOUNT, "alex-t\u00001", "default", "bucket name"),
        (ACCOUNT, "Alex-t1", "default", "bucket name"),
        (ACCOUNT, "alex_t1", "default", "bucket name"),
        (ACCOUNT, "alex.t1", "default", "bucket name"),
        (ACCOUNT, "alex t1", "default", "bucket name"),
        (ACCOUNT, "-alex", "default", "bucket name"),
        (ACCOUNT, "alex-", "default", "bucket name"),
        (ACCOUNT, "ab", "default", "bucket name"),
        (ACCOUNT, "a" * 64, "default", "bucket name"),
        (ACCOUNT, "", "default", "bucket name"),
        (ACCOUNT, "alex-t1x", "EU", "jurisdiction"),
        (ACCOUNT, "alex-t1x", "us", "jurisdiction"),
        (ACCOUNT, "alex-t1x", "", "jurisdiction"),
    ],
)
def test_a_part_that_json_could_spell_another_way_is_refused_by_name(account, bucket, jurisdiction, field):
    for build in (token_resources_json, bucket_resource_key):
        with pytest.raises(ValueError, match=field):
            build(account, bucket, jurisdiction)
