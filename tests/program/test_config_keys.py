"""Config key names: Pulumi.yaml's schema and every stack file use exactly the keys of config.config_keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components import program
from config.config_keys import (
    FLY_API_TOKEN_ENV,
    FLY_API_URL_ENV,
    FOREIGN_KEYS,
    NAMESPACE,
    SCHEMA_KEYS,
    SECRET_KEYS,
    SETTINGS_KEYS,
    UNDECLARED_KEYS,
    ConfigKey,
)
from providers.fly import settings as fly_settings
from tenants.inputs import load_yaml, read_text
from tenants.plans import PLANS_KEY
from tenants.roster import REPO_ROOT

STACK_FILES = sorted((REPO_ROOT / "stacks").glob("Pulumi.*.yaml"))
ALLOWED_IN_STACK_FILES = {key.qualified for key in ConfigKey} | set(FOREIGN_KEYS)


def read_yaml(path: Path) -> Any:
    return load_yaml(read_text(path))


def unknown_keys(stack_config: dict[str, Any]) -> list[str]:
    return sorted(key for key in stack_config if key not in ALLOWED_IN_STACK_FILES)


def test_config_keys_project_name_is_the_namespace() -> None:
    assert read_yaml(REPO_ROOT / "Pulumi.yaml")["name"] == NAMESPACE


def test_config_keys_pulumi_yaml_schema_declares_exactly_the_schema_keys() -> None:
    schema = read_yaml(REPO_ROOT / "Pulumi.yaml")["config"]
    assert list(schema) == [str(key) for key in SCHEMA_KEYS]


def test_config_keys_every_key_is_declared_or_left_out_on_purpose() -> None:
    assert set(SCHEMA_KEYS) | set(UNDECLARED_KEYS) == set(ConfigKey)
    assert not set(SCHEMA_KEYS) & set(UNDECLARED_KEYS)
    assert set(SECRET_KEYS) <= set(UNDECLARED_KEYS)  # a schema default would put a secret in plain text


def test_config_keys_stack_files_exist() -> None:
    assert [p.name for p in STACK_FILES] == ["Pulumi.dev.yaml", "Pulumi.prod-2.yaml", "Pulumi.prod.yaml"]


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_config_keys_stack_file_uses_only_known_keys(path: Path) -> None:
    assert unknown_keys(read_yaml(path)["config"]) == []


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_config_keys_stack_file_sets_every_required_schema_key(path: Path) -> None:
    schema = read_yaml(REPO_ROOT / "Pulumi.yaml")["config"]
    required = {f"{NAMESPACE}:{key}" for key, spec in schema.items() if "default" not in spec}
    assert required <= set(read_yaml(path)["config"])


def test_config_keys_a_typo_in_a_stack_file_is_caught() -> None:
    config = read_yaml(REPO_ROOT / "stacks" / "Pulumi.dev.yaml")["config"]
    config["alex-hosted:flyApiURL"] = "https://api.machines.dev"  # optional key, so Pulumi would not notice
    config["alexhosted:domain"] = "books.example.com"
    assert unknown_keys(config) == ["alex-hosted:flyApiURL", "alexhosted:domain"]


def test_config_keys_the_program_reads_the_settings_keys() -> None:
    assert tuple(program.CONFIG_KEYS) == SETTINGS_KEYS


def test_config_keys_other_spellings_agree() -> None:
    # Until every reader imports config.config_keys, the copies must spell the same keys.
    assert ConfigKey.PLANS.qualified == PLANS_KEY
    assert ConfigKey.FLY_API_URL.qualified == fly_settings.URL_CONFIG
    assert ConfigKey.FLY_API_TOKEN.qualified == fly_settings.TOKEN_CONFIG
    assert (fly_settings.URL_ENV, fly_settings.TOKEN_ENV) == (FLY_API_URL_ENV, FLY_API_TOKEN_ENV)
