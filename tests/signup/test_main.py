"""`python -m signup`, as the image's CMD runs it: a process serving on uvicorn, stopped by SIGTERM; and the
program's machine config, which runs that CMD unchanged."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from components.signup import HEALTH_PATH as MACHINE_HEALTH_PATH
from components.signup import SIGNUP_PORT, signup_machine_config
from signup.app import HEALTH_PATH, SERVER_LIMITS
from tests.program.harness import settings
from tests.signup.conftest import site_env, write_names

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "image" / "signup" / "Dockerfile"


def test_the_site_runs_as_a_process_on_uvicorn_and_stops_on_sigterm(tmp_path):
    names = tmp_path / "names.json"
    write_names(names, ["alice"])
    env = {**os.environ, **site_env(names, "http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9")}
    command = [sys.executable, "-m", "signup", "--host", "127.0.0.1", "--port", "0"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        try:
            line = process.stderr.readline()  # blocks until the server has bound its port
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            assert found, line
            url = f"http://127.0.0.1:{found[1]}"
            health = requests.get(url + HEALTH_PATH, timeout=10)
            assert health.status_code == 200 and health.json()["usernames"] == 1
            many = requests.get(url + "/api/available?" + "&".join(f"p{n}=v" for n in range(21)), timeout=10)
            assert many.status_code == 200  # before, 21 query parameters were a 500
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_the_image_runs_the_site_on_the_port_and_health_path_the_machine_config_expects():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert 'CMD ["python", "-m", "signup", "--host", "0.0.0.0", "--port", "8080"]' in text
    config = signup_machine_config(settings(), [])
    assert "init" not in config  # no cmd or entrypoint override: the image's CMD runs
    (service,) = config["services"]
    assert service["internal_port"] == SIGNUP_PORT == 8080
    assert config["checks"]["health"]["path"] == MACHINE_HEALTH_PATH == HEALTH_PATH


def test_the_per_address_connection_cap_is_above_what_flys_proxy_sends_one_machine():
    """Behind Fly's proxy every client arrives from the proxy's address: the cap must never refuse it."""
    (service,) = signup_machine_config(settings(), [])["services"]
    assert SERVER_LIMITS.peer_connections > service["concurrency"]["hard_limit"]
