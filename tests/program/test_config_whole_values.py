"""Every stack config value is checked whole: a trailing newline or an invisible character is refused."""

from __future__ import annotations

import pytest

from config.stack_config import ConfigError, from_mapping
from tests.program.harness import SETTINGS_VALUES
from tests.tenants.test_roster_whole_values import SPOILERS

KEYS = ("domain", "image", "flyOrg", "flyRegion", "appPrefix", "cloudflareAccountId", "cloudflareZoneId", "flyApiUrl")
GOOD = {**{k: SETTINGS_VALUES[f"alex-hosted:{k}"] for k in KEYS if f"alex-hosted:{k}" in SETTINGS_VALUES}}
GOOD.setdefault("flyApiUrl", "https://api.machines.dev")
GOOD["roster"] = "tenants/prod.yaml"


@pytest.mark.parametrize("spoiler", SPOILERS, ids=list(SPOILERS))
@pytest.mark.parametrize("key", [*KEYS, "roster"])
def test_config_whole_values_a_spoilt_value_is_refused_naming_the_key(key: str, spoiler: str) -> None:
    bad = SPOILERS[spoiler](str(GOOD[key]))
    with pytest.raises(ConfigError) as caught:
        from_mapping("prod", {**SETTINGS_VALUES, f"alex-hosted:{key}": bad})
    (problem,) = caught.value.problems
    assert problem.startswith(f"alex-hosted:{key}: expected") and repr(bad) in problem
