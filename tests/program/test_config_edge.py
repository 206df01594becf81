"""The edge's stack keys: `alex-hosted:edgeRegions` (at least two distinct region codes) and `alex-hosted:edgeImage`.

Pulumi hands structured config over as a JSON string, the stack file as YAML: both forms read the same.
Every problem names the key.
"""

from __future__ import annotations

import pytest

from config.stack_config import EDGE_REGIONS_MIN, from_mapping, read_stack_file
from tests.program.harness import SETTINGS_VALUES, config_problems

REGIONS = "alex-hosted:edgeRegions"
IMAGE = "alex-hosted:edgeImage"
EXPECTED_REGIONS = "a list of at least 2 distinct Fly region codes, e.g. [ams, fra]"


def problems(key: str, value: object) -> list[str]:
    """The problems of the test settings with `key` set to `value` (None: left out)."""
    return config_problems({key: value})


def regions_of(value: object) -> tuple[str, ...]:
    return from_mapping("prod", {**SETTINGS_VALUES, REGIONS: value}).edge_regions


# --- edgeRegions -----------------------------------------------------------------------------------


def test_config_edge_regions_minimum_is_two() -> None:
    assert EDGE_REGIONS_MIN == 2


@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty string"])
def test_config_edge_regions_are_required(value: object) -> None:
    assert problems(REGIONS, value) == [f"{REGIONS}: required ({EXPECTED_REGIONS})"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["ams"]', f"{REGIONS}: expected {EXPECTED_REGIONS}, got 1"),
        (["ams"], f"{REGIONS}: expected {EXPECTED_REGIONS}, got 1"),
        ("[]", f"{REGIONS}: expected {EXPECTED_REGIONS}, got 0"),
        ([], f"{REGIONS}: expected {EXPECTED_REGIONS}, got 0"),
        ('["ams", "ams"]', f"{REGIONS}: 'ams' is listed more than once"),
        (["ams", "fra", "ams"], f"{REGIONS}: 'ams' is listed more than once"),
        ('["AMS", "fra"]', f"{REGIONS}: 'AMS' is not a three-letter Fly region code"),
        ('["ams", "am"]', f"{REGIONS}: 'am' is not a three-letter Fly region code"),
        ('["ams1", "fra"]', f"{REGIONS}: 'ams1' is not a three-letter Fly region code"),
        (["ams\n", "fra"], f"{REGIONS}: 'ams\\n' is not a three-letter Fly region code"),
        ([" ams", "fra"], f"{REGIONS}: ' ams' is not a three-letter Fly region code"),
        ('{"ams": 1}', f"{REGIONS}: expected {EXPECTED_REGIONS}, got a mapping"),
        ({"ams": 1}, f"{REGIONS}: expected {EXPECTED_REGIONS}, got a mapping"),
        (42, f"{REGIONS}: expected {EXPECTED_REGIONS}, got 42"),
        ("ams,fra", f"{REGIONS}: expected {EXPECTED_REGIONS}, got 'ams,fra'"),
        ("ams", f"{REGIONS}: expected {EXPECTED_REGIONS}, got 'ams'"),
        ('["ams", 1]', f"{REGIONS}: expected region codes as text, got 1 in the list"),
        (["ams", None], f"{REGIONS}: expected region codes as text, got None in the list"),
        ([["ams", "fra"]], f"{REGIONS}: expected region codes as text, got a list in the list"),
    ],
    ids=[
        "one region (JSON)",
        "one region (YAML list)",
        "empty list (JSON)",
        "empty list",
        "duplicate (JSON)",
        "duplicate (YAML list)",
        "uppercase code",
        "two-letter code",
        "code with a digit",
        "code with a trailing newline",
        "code with a leading space",
        "a mapping (JSON)",
        "a mapping",
        "a number",
        "comma-separated text",
        "one bare code",
        "a number item (JSON)",
        "a null item",
        "a nested list",
    ],
)
def test_config_edge_regions_bad_value_is_named_with_what_it_expects(value: object, message: str) -> None:
    assert problems(REGIONS, value) == [message]


def test_config_edge_regions_that_are_not_yaml_name_the_key() -> None:
    (problem,) = problems(REGIONS, "[ams, fra")
    assert problem.startswith(f"{REGIONS}: not valid YAML")


def test_config_edge_regions_problem_is_reported_beside_other_keys() -> None:
    assert config_problems({REGIONS: '["ams"]', "alex-hosted:flyRegion": "x"}) == [
        "alex-hosted:flyRegion: expected a three-letter Fly region code, got 'x'",
        f"{REGIONS}: expected {EXPECTED_REGIONS}, got 1",
    ]


@pytest.mark.parametrize(
    ("value", "regions"),
    [
        ('["ams","fra"]', ("ams", "fra")),
        ('["ams", "fra"]', ("ams", "fra")),
        ("[ams, fra]", ("ams", "fra")),  # YAML flow text, as `pulumi config set` might store it
        (["ams", "fra"], ("ams", "fra")),  # the stack file's YAML list
        (["fra", "ams", "iad"], ("fra", "ams", "iad")),  # three, order kept: the rollout order
        ('["iad", "ams", "syd"]', ("iad", "ams", "syd")),
    ],
    ids=["JSON compact", "JSON spaced", "YAML flow text", "YAML list", "three regions", "three regions (JSON)"],
)
def test_config_edge_regions_accepted_forms_read_the_same(value: object, regions: tuple[str, ...]) -> None:
    assert regions_of(value) == regions


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_config_edge_regions_of_the_stack_files_are_at_least_two(stack: str) -> None:
    settings = read_stack_file(stack)
    assert len(settings.edge_regions) >= 2
    assert len(set(settings.edge_regions)) == len(settings.edge_regions)
    assert settings.edge_image and settings.edge_app_name == f"{settings.app_prefix}-edge"


def test_config_edge_app_name_follows_the_app_prefix() -> None:
    settings = from_mapping("prod", {**SETTINGS_VALUES, "alex-hosted:appPrefix": "books"})
    assert settings.edge_app_name == "books-edge"
    assert from_mapping("prod", SETTINGS_VALUES).edge_app_name == "alex-edge"


# --- edgeImage -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty string"])
def test_config_edge_image_is_required(value: object) -> None:
    assert problems(IMAGE, value) == [f"{IMAGE}: required (the edge router image (image/router), pinned)"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "ghcr.io/alex-hosted/alex-hosted-edge",
            f"{IMAGE}: expected an image pinned to a tag or digest, e.g. ghcr.io/org/alex-hosted:0.6.0-1, "
            "got 'ghcr.io/alex-hosted/alex-hosted-edge'",
        ),
        (
            "ghcr.io/alex-hosted/alex-hosted-edge:latest",
            f"{IMAGE}: 'latest' is not a pin; use a release tag or a digest, got 'ghcr.io/alex-hosted/alex-hosted-edge:latest'",
        ),
        (
            "ghcr.io/alex-hosted/alex-hosted-edge:1.0.0-1\n",
            f"{IMAGE}: expected an image reference (letters, digits and . _ : / @ -), e.g. ghcr.io/org/alex-hosted:0.6.0-1, "
            "got 'ghcr.io/alex-hosted/alex-hosted-edge:1.0.0-1\\n'",
        ),
        (5, f"{IMAGE}: expected text, got 5"),
    ],
    ids=["unpinned", "latest", "trailing newline", "a number"],
)
def test_config_edge_image_must_be_pinned(value: object, message: str) -> None:
    assert problems(IMAGE, value) == [message]


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/alex-hosted/alex-hosted-edge:1.0.0-1",
        "ghcr.io/alex-hosted/alex-hosted-edge@sha256:" + "0123456789abcdef" * 4,
        "registry.example.com:5000/edge:2",
    ],
    ids=["tag", "digest", "registry with a port"],
)
def test_config_edge_image_pinned_is_accepted(image: str) -> None:
    assert from_mapping("prod", {**SETTINGS_VALUES, IMAGE: image}).edge_image == image
