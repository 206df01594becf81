"""`python -m emulators.demo [--stack dev]` (`make demo`): the whole platform on one machine.

Starts every outside API the platform talks to on 127.0.0.1 (Fly's Machines API and its proxy, Cloudflare's
v4 API, R2 as moto's S3 server, Stripe), runs a real `pulumi up` of the stack's roster against them with
the real engine (`make engine`'s, `ALEX_PULUMI_BIN`, or the `pulumi` on PATH), starts the edge router
(image/router, Node.js) on the map the program put in the router machine's config, and prints what exists
and how to reach each tenant through the emulated edge. Ctrl-C (or SIGTERM) stops everything it started
and removes its temporary folder; `--exit` stops right after printing (what the test does).

Nothing here needs a credential or the network: the tokens are the emulators' own.
"""

from __future__ import annotations

import argparse
import base64
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from moto.server import ThreadedMotoServer

from emulators.cloudflare import CloudflareEmulator
from emulators.cloudflare.s3 import S3Objects
from emulators.fly import FlyEmulator
from emulators.project import REPO_ROOT, copy_program, engine_bin, engine_environment, engine_home
from emulators.stripe.server import serve as serve_stripe
from emulators.stripe.state import StripeWorld

FLY_TOKEN = "demo-fly-token"
CF_TOKEN = "demo-cloudflare-token-0123456789abcdefghijklmnopq"  # the provider wants 40 to 80 characters
STRIPE_KEY = "sk_test_demo"
PASSPHRASE = "demo-passphrase"
ROUTER_JS = REPO_ROOT / "image" / "router" / "server.js"


class DemoError(Exception):
    """The demo cannot run; the message says what is missing."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Until something accepts connections on `port`, or the process died, or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the router exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DemoError(f"the router did not listen on port {port} within {timeout:.0f} s")


@contextmanager
def moto() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def router(map_path: Path, log_path: Path) -> Iterator[str]:
    """The edge router (Node.js) serving `map_path` on a free port; stopped on exit."""
    port = free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PORT": str(port), "HOST": "127.0.0.1", "EDGE_MAP": str(map_path)}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(["node", str(ROUTER_JS)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stack_file_settings(stack: str) -> dict[str, Any]:
    """The repository's stack file's plain settings (encrypted ones stay behind)."""
    path = REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise DemoError(f"no stack file {path}")
    config = dict((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {})
    return {k: v for k, v in config.items() if not isinstance(v, dict) or "secure" not in v}


def pointed_at(
    stack: str, config: dict[str, Any], fly: FlyEmulator, cloudflare: CloudflareEmulator, r2: str
) -> dict[str, Any]:
    """The settings with every API pointed at the emulators."""
    config = dict(config)
    config.update(
        {
            "alex-hosted:flyApiUrl": fly.url,
            "alex-hosted:r2Endpoint": r2,
            "alex-hosted:roster": f"tenants/{stack}.yaml",
            "cloudflare:baseUrl": cloudflare.url,
        }
    )
    config.pop("alex-hosted:domainShards", None)  # one stack alone: its edge holds its own tenants
    return config


def run(command: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    print(f"demo: {what}", flush=True)
    done = subprocess.run(command, cwd=cwd, env=env, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise DemoError(f"{what} failed (exit {done.returncode})")


def deliver_map(fly: FlyEmulator, edge_app: str, path: Path) -> Path:
    """What Fly does with the router machine's `files` entry: the bytes at its guest path."""
    machines = [m for m in fly.state.machines_of(edge_app) if m.state != "destroyed"]
    if not machines:
        raise DemoError(f"no router machine in {edge_app}")
    (file,) = machines[0].config["files"]
    path.write_bytes(base64.b64decode(file["raw_value"]))
    return path


def describe(fly: FlyEmulator, cloudflare: CloudflareEmulator, proxy_url: str, outputs_text: str) -> str:
    apps = sorted(fly.state.apps)
    with cloudflare.world.lock:
        buckets = sorted(name for _, name in cloudflare.world.buckets)
        records = sorted(r.view()["name"] for zone in cloudflare.world.records.values() for r in zone.values())
    lines = [
        "",
        "What exists now (all on 127.0.0.1):",
        f"  Fly apps ({len(apps)}): {', '.join(apps)}",
        f"  R2 buckets: {', '.join(buckets)}",
        f"  DNS records: {', '.join(records)}",
        "",
        "Reach a tenant through the emulated edge (Fly's proxy -> the router -> fly-replay -> the tenant's app):",
    ]
    tenants = (yaml.safe_load(outputs_text) or {}).get("tenants") or {}
    for tid, tenant in sorted(tenants.items()):
        lines.append(f"  curl -si -H 'Host: {tenant['hostname']}' {proxy_url}/   # {tid}, {tenant['state']}")
    return "\n".join(lines)


def probe(proxy_url: str, outputs_text: str) -> str:
    """One request per tenant hostname through the proxy: what a visitor gets (the demo's own check)."""
    lines = ["", "Through the edge now:"]
    tenants = (yaml.safe_load(outputs_text) or {}).get("tenants") or {}
    for _, tenant in sorted(tenants.items()):
        answer = httpx.get(f"{proxy_url}/", headers={"Host": tenant["hostname"]}, timeout=30)
        lines.append(f"  {tenant['hostname']} -> {answer.status_code} ({tenant['state']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.demo", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="the stack file and roster to bring up (default dev)")
    parser.add_argument("--exit", action="store_true", help="stop everything once the platform is up and printed")
    args = parser.parse_args(argv)
    bin_dir = engine_bin()
    if bin_dir is None:
        print("demo: no Pulumi engine: run `make engine`, or install the CLI with Pulumi's installer", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="alex-demo-") as tmp:
            root = Path(tmp)
            base = stack_file_settings(args.stack)
            org = str(base.get("alex-hosted:flyOrg", "personal"))
            r2 = stack.enter_context(moto())
            fly = stack.enter_context(FlyEmulator(token=FLY_TOKEN, org=org, cross_network_replay=True))
            cloudflare = stack.enter_context(
                CloudflareEmulator(
                    token=CF_TOKEN,
                    account_id=str(base["alex-hosted:cloudflareAccountId"]),
                    zones={str(base["alex-hosted:cloudflareZoneId"]): str(base["alex-hosted:domain"])},
                    objects=S3Objects(r2),
                )
            )
            stripe_url, _ = stack.enter_context(serve_stripe(StripeWorld(api_key=STRIPE_KEY)))
            print(f"demo: Fly API {fly.url}, Fly proxy {fly.proxy.url}, Cloudflare {cloudflare.url}", flush=True)
            print(f"demo: R2 (moto) {r2}, Stripe {stripe_url} (key {STRIPE_KEY})", flush=True)

            project = copy_program(root / "project")
            (root / "state").mkdir()
            settings = pointed_at(args.stack, base, fly, cloudflare, r2)
            roster = REPO_ROOT / "tenants" / f"{args.stack}.yaml"
            (project / "tenants" / f"{args.stack}.yaml").write_text(roster.read_text(encoding="utf-8"), "utf-8")
            env = engine_environment(
                bin_dir,
                engine_home(),
                root / "state",
                PASSPHRASE,
                {"FLY_API_TOKEN": FLY_TOKEN, "CLOUDFLARE_API_TOKEN": CF_TOKEN, "FLY_API_URL": fly.url},
            )
            pulumi = str(bin_dir / "pulumi")
            run([pulumi, "stack", "init", args.stack, "--secrets-provider", "passphrase"], project, env, "stack init")
            stack_file = project / "stacks" / f"Pulumi.{args.stack}.yaml"
            document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
            document["config"] = settings
            stack_file.write_text(yaml.safe_dump(document), encoding="utf-8")
            python = str(project / ".venv" / "bin" / "python")
            run([python, "-m", "scripts.pulumi_stack", "up", "--stack", args.stack], project, env, "pulumi up")

            outputs = subprocess.run(
                [pulumi, "stack", "output", "--stack", args.stack, "--json"],
                cwd=project, env=env, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            edge_app = f"{settings['alex-hosted:appPrefix']}-edge"
            map_path = deliver_map(fly, edge_app, root / "map.json")
            router_url = stack.enter_context(router(map_path, root / "router.log"))
            fly.proxy.serve_app(edge_app, router_url)
            print(describe(fly, cloudflare, fly.proxy.url, outputs), flush=True)
            if args.exit:
                print(probe(fly.proxy.url, outputs), flush=True)
            else:
                print("\ndemo: running; Ctrl-C stops everything and removes the temporary state", flush=True)
                stop.wait()
    except KeyboardInterrupt:
        pass
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    print("demo: stopped; nothing left running", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
