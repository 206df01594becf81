"""Secrets provider lifecycle against the emulator; secret values never leak."""

from __future__ import annotations

import pytest

from emulators.faults import Fault
from providers.fly.secrets import SecretsProvider
from tests.conftest import FLY_TEST_TOKEN
from tests.fly.lifecycle import preview, refresh, up
from tests.support.engine import ProviderCallError

VALUES = {"NEXTAUTH_SECRET": "s3cr3t-nextauth", "R2_SECRET_ACCESS_KEY": "s3cr3t-r2"}


@pytest.fixture
def secrets(host):
    return host.bind(SecretsProvider())


def test_secrets_lifecycle_one_write_version_update_unset_delete(secrets, emu, app):
    id_, outs = up(secrets, {"app": app, "values": VALUES})
    assert outs["values"] == VALUES and outs["version"] == emu.state.apps[app].secrets_version
    public = {k: v for k, v in outs.items() if k != "values"}  # the only output marked secret
    assert not any(secret in str(public) for secret in VALUES.values())
    assert sum(1 for r in emu.requests if r.method == "POST" and r.path.endswith("/secrets")) == 1
    assert preview(secrets, id_, outs, {"app": app, "values": VALUES}).changes is False
    rid, routs, rinputs = refresh(secrets, id_, outs)
    assert rid == id_ and preview(secrets, rid, routs, rinputs).changes is False

    news = {"app": app, "values": {"NEXTAUTH_SECRET": "s3cr3t-nextauth", "OWNER_INITIAL_PASSWORD": "s3cr3t-pw"}}
    _, updated = up(secrets, news, id_=id_, outs=outs)
    assert updated["version"] > outs["version"]
    assert set(emu.state.secrets[app]) == {"NEXTAUTH_SECRET", "OWNER_INITIAL_PASSWORD"}

    secrets.delete(id_, updated)
    assert emu.state.secrets[app] == {}


def test_secrets_unknown_value_in_preview_is_a_change(secrets, app):
    from pulumi.runtime.rpc import UNKNOWN

    id_, outs = up(secrets, {"app": app, "values": VALUES})
    assert preview(secrets, id_, outs, {"app": app, "values": {**VALUES, "R2_SECRET_ACCESS_KEY": UNKNOWN}}).changes


def test_secrets_read_of_deleted_app_drops_it(secrets, apps, app):
    id_, outs = up(secrets, {"app": app, "values": VALUES})
    apps.delete(app, {"name": app, "org": "personal"})
    assert refresh(secrets, id_, outs)[0] == ""
    secrets.delete(id_, outs)  # app gone: success


def test_secrets_never_in_error_text_or_provider_logs(secrets, host, emu, app):
    emu.inject(Fault(method="POST", path=rf"^/v1/apps/{app}/secrets$", status=500, times=99))
    with pytest.raises(ProviderCallError) as info:
        up(secrets, {"app": app, "values": VALUES})
    text = info.value.details
    assert "HTTP 500" in text and "fly-request-id: " in text and "fly-request-id: none" not in text
    for secret in (*VALUES.values(), FLY_TEST_TOKEN):
        assert secret not in text and secret not in host.stderr()


def test_secrets_check_names_the_key_not_the_value(secrets):
    failures = secrets.check({}, {"app": "a-app", "values": {"bad-name": "s3cr3t", "OK": 5}}).failures
    assert len(failures) == 2 and all("s3cr3t" not in reason for _, reason in failures)
