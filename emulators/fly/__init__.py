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
  `passing`; `set_check()` sets one until the next boot. A booting machine's checks already pass.
* Duplicate machine name, or a mount of a volume another machine holds: 422. Mount of an unknown or
  other-region volume, or `min_secrets_version` above the app's secrets version: 400.
"""

from emulators.clock import FakeClock, RealClock
from emulators.fly.faults import RecordedRequest
from emulators.fly.server import FlyEmulator

__all__ = ["FakeClock", "FlyEmulator", "RealClock", "RecordedRequest"]
