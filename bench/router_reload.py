"""Benchmark the edge router at fleet size (not a test): map size, start, reload, memory and lookups.

Writes a map of N tenants (default 10,000: each a subdomain, one in five also a custom domain, a few
suspended or cancelled), starts `node image/router/server.js` on it and reports:

- the map file's size, raw and gzipped;
- the time from starting the process to its health check answering (plain and gzipped map);
- SIGHUP reload time, from the signal to the health check reporting the new digest;
- the router's RSS (VmRSS, and VmHWM the peak) from /proc;
- lookup throughput: requests/s over keep-alive connections for a few seconds, from a Node load
  generator (Python's clients would measure themselves), beside a Node server that answers the same
  without looking anything up (the floor this machine and Node's http set), then again with a SIGHUP
  every 0.5 s.

    .venv/bin/python -m bench.router_reload [--tenants 10000] [--seconds 5] [--connections 16]

The load generator shares the machine's CPUs with the router, so throughput is a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.companion.harness import rss_kib
from tests.router.harness import Hosts, Router, start_router, write_map
from tests.support.servers import free_port

# One process, N keep-alive connections, random known hosts; prints {"ok", "errors", "statuses"} as JSON.
LOAD = r"""
const http = require('node:http');
const [port, hostsFile, seconds, connections] = process.argv.slice(1);
const hosts = require('node:fs').readFileSync(hostsFile, 'utf8').split('\n').filter(Boolean);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(connections) });
const deadline = Date.now() + Number(seconds) * 1000;
const result = { ok: 0, errors: 0, statuses: {} };
function next(done) {
  if (Date.now() >= deadline) return done();
  const host = hosts[Math.floor(Math.random() * hosts.length)];
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent, headers: { host } }, (res) => {
    result.statuses[res.statusCode] = (result.statuses[res.statusCode] || 0) + 1;
    if (res.statusCode === 200 && !res.headers['fly-replay']) result.errors++; else result.ok++;
    res.resume();
    res.on('end', () => next(done));
  });
  req.on('error', () => { result.errors++; next(done); });
}
let running = Number(connections);
const finish = () => {
  if (--running > 0) return;
  console.log(JSON.stringify(result));
  agent.destroy();
};
for (let i = 0; i < Number(connections); i++) next(finish);
"""


# The same answer from a server that looks nothing up: what Node's http and this machine allow.
BASELINE = r"""
const server = require('node:http').createServer((req, res) => {
  res.writeHead(200, { 'fly-replay': 'app=ah-baseline', 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
});
server.listen(Number(process.argv[1]), '127.0.0.1', () => console.log('ready'));
"""


def fleet(tenants: int, seed: int = 7) -> Hosts:
    rng = random.Random(seed)
    hosts: Hosts = {}
    for number in range(1, tenants + 1):
        app = f"ah-t{number:07d}"
        slug = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 14))) + str(number)
        entry = {"app": app}
        roll = rng.random()
        if roll < 0.03:
            entry["state"] = "suspended"
        elif roll < 0.05:
            entry = {**entry, "state": "cancelled", "exportUntil": "2026-12-31"}
        hosts[f"{slug}.alexhosted.com"] = entry
        if rng.random() < 0.2:
            hosts[f"books.{slug}.net"] = entry
    return hosts


def digest(hosts: Hosts) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(hosts, sort_keys=True).encode()).hexdigest()


def timed_start(map_path: Path, log_path: Path) -> tuple[Router, float]:
    started = time.monotonic()
    router = start_router(map_path, log_path)
    return router, time.monotonic() - started


def load(port: int, hosts_file: Path, seconds: float, connections: int) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    result = subprocess.run(
        [node(), "-e", LOAD, str(port), str(hosts_file), str(seconds), str(connections)],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures, time.monotonic() - started


def baseline(hosts_file: Path, seconds: float, connections: int) -> float:
    """Requests/s from the same load against BASELINE."""
    port = free_port()
    server = subprocess.Popen([node(), "-e", BASELINE, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        figures, took = load(port, hosts_file, seconds, connections)
        return float(figures["ok"] + figures["errors"]) / took
    finally:
        server.terminate()
        server.wait(5)


def node() -> str:
    path = shutil.which("node")
    assert path is not None, "node is missing"
    return path


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--reloads", type=int, default=10)
    args = parser.parse_args()

    hosts = fleet(args.tenants)
    with tempfile.TemporaryDirectory(prefix="router-bench-") as tmp:
        root = Path(tmp)
        plain = write_map(root / "map.json", hosts, digest(hosts))
        zipped = write_map(root / "map.json.gz", hosts, digest(hosts), compress=True)
        raw_size, gz_size = plain.stat().st_size, zipped.stat().st_size
        hosts_file = root / "hosts.txt"
        hosts_file.write_text("\n".join(hosts))
        print(f"map: {args.tenants} tenants, {len(hosts)} hosts")
        ratio = gz_size / raw_size
        print(f"  file size:        {raw_size / 1e3:.0f} kB raw, {gz_size / 1e3:.0f} kB gzipped ({ratio:.0%})")

        for label, path in (("plain", plain), ("gzipped", zipped)):
            times = []
            for attempt in range(3):
                router, took = timed_start(path, root / f"start-{label}-{attempt}.log")
                router.stop()
                times.append(took)
            median = statistics.median(times) * 1e3
            print(f"  start to healthy: {label:8} median {median:.0f} ms (of {times_ms(times)})")

        router, _ = timed_start(plain, root / "router.log")
        try:
            idle = rss_kib(router.pid)
            print(f"RSS after start:    VmRSS {mib(idle['VmRSS'])}, VmHWM {mib(idle['VmHWM'])}")

            reload_times = []
            for number in range(args.reloads):
                moved = dict(hosts)
                moved[f"bench-{number}.alexhosted.com"] = {"app": "ah-bench"}
                write_map(plain, moved, digest(moved), compress=number % 2 == 1)
                reload_times.append(router.reload_to(digest(moved)))
            print(
                f"SIGHUP reload:      median {statistics.median(reload_times) * 1e3:.1f} ms, "
                f"max {max(reload_times) * 1e3:.1f} ms over {args.reloads} (plain and gzipped alternately; "
                "signal to health reporting the new digest)"
            )
            after = rss_kib(router.pid)
            print(f"RSS after reloads:  VmRSS {mib(after['VmRSS'])}, VmHWM {mib(after['VmHWM'])}")

            figures, took = load(router.port, hosts_file, args.seconds, args.connections)
            total = figures["ok"] + figures["errors"]
            print(
                f"lookups:            {total / took:,.0f} requests/s over {args.connections} keep-alive connections "
                f"for {took:.1f} s; errors {figures['errors']}; statuses {figures['statuses']}"
            )
            floor = baseline(hosts_file, args.seconds, args.connections)
            print(f"  baseline:         {floor:,.0f} requests/s from a Node server that looks nothing up, same load")
            busy = rss_kib(router.pid)
            print(f"RSS after load:     VmRSS {mib(busy['VmRSS'])}, VmHWM {mib(busy['VmHWM'])}")

            stop = threading.Event()

            def hup() -> None:
                while not stop.wait(0.5):
                    router.signal(signal.SIGHUP)

            sender = threading.Thread(target=hup)
            sender.start()
            try:
                figures, took = load(router.port, hosts_file, 3, args.connections)
            finally:
                stop.set()
                sender.join()
            total = figures["ok"] + figures["errors"]
            reloads = router.output().count("reloaded on SIGHUP") - args.reloads
            print(
                f"lookups + reloads:  {total / took:,.0f} requests/s with {reloads} SIGHUP reloads in {took:.1f} s; "
                f"errors {figures['errors']}"
            )
        finally:
            router.stop()
    return 0


def times_ms(times: list[float]) -> str:
    return ", ".join(f"{t * 1e3:.0f}" for t in times) + " ms"


if __name__ == "__main__":
    raise SystemExit(main())
