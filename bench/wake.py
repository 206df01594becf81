"""Benchmark: the first byte a visitor gets when their request wakes a stopped tenant machine.

Run: `.venv/bin/python -m bench.wake [--runs 5] [--gap 1.7]`. Needs node and `npm ci --prefix
image/companion`. The Fly emulator's proxy (emulators/fly) holds a tenant app with one machine, stopped.
Each run sends `GET /login` through the proxy; the proxy starts the machine, and the bench then boots
what the image runs: the companion at once, the stand-in Alex (tests/support/alex_web.py) `--gap` seconds
later (on Fly, Alex listened 1.3-2.1 s after the companion, at every boot). The time to first byte is from
the request to the answer's headers, with the status and the page it was. The machine's own boot (the
VM, the entrypoint's restore probe and schema script) is not in it: the emulator's start is instant.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from emulators.fly import FlyEmulator
from emulators.fly.speeds import REFERENCE
from tests.companion.harness import CompanionEnv, start_companion
from tests.emulators.test_fly_support import client_for, create_machine, machine_config, wait_state
from tests.support.alex_web import AlexWeb
from tests.support.servers import free_port, start_moto

APP = "alex-wake"


class Machine:
    """What the image starts on boot: the companion on `port`, Alex on `alex_port` after `gap` seconds."""

    def __init__(self, tmp: Path, endpoint: str, port: int, gap: float) -> None:
        self.tmp, self.endpoint, self.port, self.gap = tmp, endpoint, port, gap
        self.alex_port = free_port()
        self.started: list[Any] = []

    def boot(self) -> None:
        library = self.tmp / "library"
        library.mkdir(exist_ok=True)
        env = CompanionEnv(f"http://127.0.0.1:{self.alex_port}", self.endpoint, "wake", library)
        env_port = self.port

        class Pinned(CompanionEnv):
            def environ(self, port: int) -> dict[str, str]:
                return super().environ(env_port)

        pinned = Pinned(env.alex_url, env.r2_endpoint, env.bucket, env.library)
        self.started.append(start_companion(pinned, self.tmp / "companion.log", wait=False))
        alex: list[AlexWeb] = []

        def listen() -> None:
            # Made here, not before: AlexWeb binds its port when made, and a bound port already queues
            # connections, which a process still starting does not.
            alex.append(AlexWeb(library=library, port=self.alex_port).start())

        timer = threading.Timer(self.gap, listen)
        timer.start()
        self.started.append((timer, alex))

    def halt(self) -> None:
        for item in self.started:
            if isinstance(item, tuple):
                timer, alex = item
                timer.cancel()
                timer.join()
                for server in alex:
                    server.stop()
            else:
                item.stop()
        self.started.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wake")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gap", type=float, default=1.7, help="seconds Alex listens after the companion")
    args = parser.parse_args(argv)
    moto, endpoint = start_moto()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FlyEmulator(**REFERENCE.kwargs()) as emu,
        client_for(emu) as api,
        httpx.Client(base_url=emu.proxy_url, timeout=60) as visitor,
    ):
        assert api.post("/v1/apps", json={"name": APP, "org_slug": "personal"}).status_code == 201
        assert api.post(f"/v1/apps/{APP}/ip_assignments", json={"type": "shared_v4"}).status_code == 200
        config = machine_config()
        config["services"][0]["autostart"] = True
        machine = create_machine(api, APP, config=config)
        wait_state(api, APP, machine, "started")
        port = free_port()
        emu.proxy.serve_app(APP, f"http://127.0.0.1:{port}")
        box = Machine(Path(tmp), endpoint, port, args.gap)
        figures = []
        for run in range(1, args.runs + 1):
            emu.autostop(APP, machine["id"])
            while emu.state.machines[machine["id"]].state != "stopped":  # the API's /wait is rate-limited
                time.sleep(0.005)
            booted = threading.Event()

            def watch(booted: threading.Event = booted) -> None:
                # The machine's init: boots what the image runs once the proxy has started it.
                while emu.state.machines[machine["id"]].state != "started":
                    time.sleep(0.005)
                box.boot()
                booted.set()

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            sent = time.monotonic()
            with visitor.stream("GET", "/login", headers={"host": f"{APP}.fly.dev"}) as answer:
                first_byte = time.monotonic() - sent
                page = answer.read().decode(errors="replace")
            booted.wait(10)
            title = page.split("<title>", 1)[-1].split("</title>", 1)[0] if "<title>" in page else page[:60]
            print(f"run {run}: {answer.status_code} {title!r:28} first byte {first_byte:.2f} s")
            figures.append((answer.status_code, first_byte))
            box.halt()
        ok = [t for status, t in figures if status == 200]
        print(f"Alex's page {len(ok)} of {len(figures)} times", end="")
        print(f"; median first byte {statistics.median(ok):.2f} s" if ok else "")
    moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
