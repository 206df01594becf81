"""A faithful, stateful emulator of the Fly.io Machines REST API, for tests and local runs.

`FlyEmulator` serves it over real HTTP on 127.0.0.1; `emulators.faults.Fault` injects misbehaviour;
`FlyEmulator(clock=FakeClock())` makes every modelled delay wait for `clock.advance()`; `RecordedRequest`
is one entry of `FlyEmulator.requests`. Built from docs/reference/fly-machines-api.md.

`FlyEmulator.state` (a `state.FlyState`, live, transitions applied on access):
    apps {name: App}, volumes {vol_id: Volume}, machines {machine_id: Machine} (destroyed kept),
    ips {app: [IpAssignment]}, secrets {app: {name: Secret}}, certificates {app: {hostname: Certificate}}.

Choices where the reference leaves a question open (documented here so clients can rely on them):
* `skip_launch` on create: `created`, then `stopped` after `transition`; /start from `created` is 412.
* Update: a started or stopped machine goes `updating` -> `starting` -> `started`; with `skip_launch`
  it goes `updating` -> `stopped`. A changed `mounts[].volume` is silently kept as before (flyctl #1758).
  A `current_version` mismatch is 412.
* App visibility delay applies to GET /v1/apps/{app} and the app list only; sub-resources answer at once.
* Deleted volumes stay listed as `pending_destroy`; deleting one again answers it again (200).
* Machine `events` (newest first, last 10, `timestamp` in epoch ms of the emulator clock): `launch`
  (created) on create, then `start` from flyd unless `skip_launch`; `start`/`stop`/`restart`/`suspend`
  from /start, /stop, /restart, /suspend; `update` then a flyd `start` on update; `destroy` on delete;
  `stop` from flyd on `autostop()`; `exit` (with `request.exit_event`) from `crash()`, which does not
  enforce the restart policy: the caller says whether flyd restarts (`start` event) or leaves it `stopped`.
  The emulator never enters `failed` by itself (the reference does not say when Fly does).
* Machine `checks`: one entry per configured check (`config.checks` names, then service checks named
  `servicecheck-NN-<type>-<port>`), reported once the machine has booted; every boot resets them to
  `passing` (or to what `set_boot_checks()` set for that machine: a guest that comes up unhealthy);
  `set_check()` sets one until the next boot. A booting machine's checks already pass.
* Rate limits (`rate_limit=True`, the default; docs/reference/fly-machines-api.md §0): a token bucket per action
  per machine, else per app, in the path: 1 req/s, burst 3 (GET machine: 5 req/s, burst 10). A call with no app
  in the path (`POST /v1/apps`, `GET /v1/apps`) counts against its action's bucket for the organization. Org-wide
  too: app deletes, 100/min as Fly publishes (a bucket of 100 refilling at 100/60 per second), and app creates,
  for which Fly publishes no number: the emulator applies the per-action figure, 1 req/s with bursts of 3, to the
  organization. `FlyEmulator(org_limits={"apps.create": (rate, burst)})` (or `--app-create-limit RATE,BURST`)
  changes it. A request over any limit is 429 `{"error": "rate limit exceeded for <action> on <subject>",
  "status": "resource_exhausted"}` with no `Retry-After` (Fly documents none) and takes no token.
* Duplicate machine name, or a mount of a volume another machine holds: 422. Mount of an unknown or
  other-region volume, or `min_secrets_version` above the app's secrets version: 400.
* Certificates: a hostname is held by one app at a time (another app's create is 422 `already_exists`).
  Wildcards `*.example.com` are created like any hostname and addressed as `%2A.example.com` in paths; their
  `_acme-challenge` / `_fly-ownership` records are on the parent (`_acme-challenge.example.com`, target
  `example.com.<id>.flydns.net`). `*.example.com` on one app and `a.example.com` on another may coexist.

The Fly edge: `FlyEmulator.proxy` (a `proxy.FlyProxy`) at `FlyEmulator.proxy_url`, its own 127.0.0.1 port,
started and stopped with the API, sharing its world (lock, clock, state machine). Send plain HTTP with the Host
header of the app to reach. `proxy.serve_app(app, "http://127.0.0.1:PORT")` makes the app's machines answer
through a test's server; without one, a built-in responder answers 200 JSON `{app, machine_id, instance_id,
method, path (with query), host, body_bytes, replay_src}`. `proxy.log`: one `ProxiedRequest` per request (host,
method, path, body_bytes, status, `error` code, `hops` [`ProxyHop`(app, machine_id, started, status, replay)],
`.apps`, `.started`). `proxy.inject(app, Fault)`: a machine of `app` misbehaves (`drop`: the proxy answers 502).
The proxy's own errors are JSON `{"error": text, "status": code}`. Choices (Fly documents none of these statuses):
* Routing by Host (port and trailing dot dropped): an exact certificate, then a `*.<parent>` certificate covering
  exactly one more label (not `<parent>` itself, not two labels), then `<app>.fly.dev`. Most specific wins: an
  exact certificate on one app beats a wildcard on another (the reference, §1.8/§7, marks this unverified).
  Only apps with a public IP (v4, v6, shared_v4; Flycast private_v6 does not count) are reachable: a certificate
  or `<app>.fly.dev` of an app without one is ignored. Certificate status is ignored (a `pending_validation`
  certificate routes: plain HTTP needs no TLS).
* Unknown or unroutable host: 404 `unknown_host` (Fly shows a 404 page for hosts it does not know).
* Machine choice: machines of the app that are not destroyed or cordoned and have a service port whose
  `handlers` include `http`. The first `started` one in creation order (Fly balances by load and RTT); else one on
  its way to `started` is waited for; else the first `stopped`/`suspended` one whose http service has
  `autostart: true` (missing counts as off) is started through the state machine (`starting` -> `started`, a
  `start` event from `fly-proxy`, checks reset; a suspended one too), and the proxy waits on the emulator clock
  up to `proxy.start_timeout` (10 s), else 503 `machine_start_timeout`. None it may start: 503
  `no_startable_machine` (reference §1.9: autostop without autostart fails with 503); no such machine at all, or
  none in a replay's regions: 503 `no_machines`. A machine it just started may not listen yet: a refused
  connection is tried again for `proxy.listen_timeout` (10 real seconds), as Fly's proxy waits for a woken
  machine's port; one already running that refuses gets 502 `upstream_unreachable` at once.
* Request headers: the client's, minus hop-by-hop ones, with the original Host; the proxy sets `fly-client-ip`,
  `fly-forwarded-port` and `x-forwarded-port` (the public port of the matched service port, a tls one preferred:
  443 with the usual config, although the test speaks plain HTTP), `x-forwarded-proto`/`x-forwarded-ssl`
  (https/on when that port has `tls`), `fly-region` (the edge region, `proxy.region`, "iad"), `fly-request-id`
  (one per client request, kept across replays, also on the response), `x-forwarded-for` (client, then the entry
  app's first public IP), `via: 1.1 fly.io`. Client-sent values of these and of `fly-replay-src` are dropped.
  An unreachable upstream: 502 `upstream_unreachable`.
* fly-replay (header form; the `application/vnd.fly.replay+json` body form, replay caching and `fly-replay-failed`
  fallbacks are not modelled; `timeout` and `fallback` are accepted and ignored): fields `app`, `instance`,
  `prefer_instance`, `region` (geographic aliases match every region), `state`, `elsewhere`. A malformed header
  (unknown or repeated field, empty value, bad app name or machine id, no routing field): 502 `bad_replay`.
  The answer carrying it is dropped and the same method, path, headers and body go to the target with
  `fly-replay-src: instance=<machine>;region=<its region>;t=<epoch µs>[;state=<state>]`, replacing any earlier one.
  `instance=` without `app=` is a machine of the replaying app; a machine not in the target app, or an unknown
  app: 502 `replay_target_not_found`; an app of another organization (`foreign_apps`): 403 `replay_forbidden`
  (cross-organization allowlists are not modelled).
* Replay loops: at most `proxy.max_replays` (5) replays per request; one more fly-replay answer is 508
  `replay_loop`.
* Replay body limit: Fly's docs say only that requests over 1MB "cannot be replayed" / "will throw an error";
  searches of Fly's docs, community pages and GitHub issues ("fly-replay request body 1MB limit", "fly-replay
  body size limit 1MB error", ...) found no status. The emulator reads 1MB as 1 MiB, inclusive, and answers a
  fly-replay for a body over 1,048,576 bytes with 413 `replay_body_too_large`. The proxy buffers every body whole
  (it must, to replay it); a large body that nobody replays passes.
* Cross-network replay: an `app=` replay between apps on different private networks (`network` at app create,
  "default" when not given) needs the organization setting `cross_network_replay`, off by default as on Fly
  (`FlyEmulator(cross_network_replay=True)` or `set_org_setting(cross_network_replay=...)`); otherwise 403
  `cross_network_replay_disabled`, naming the setting. Fly manages it in the dashboard and with
  `fly orgs cross-network-replays`; the Machines REST API has no endpoint for it, and the emulator adds none.
"""

from emulators.clock import FakeClock, RealClock
from emulators.fly.faults import RecordedRequest
from emulators.fly.server import FlyEmulator

__all__ = ["FakeClock", "FlyEmulator", "RealClock", "RecordedRequest"]
