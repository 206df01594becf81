"""Fly machine and volume states: the one home of the sets the providers and `scripts.status` test against.

Machine states are Fly's "Machine states and lifecycle" page (fly.io/docs/machines/machine-states):
persistent created/started/stopped/suspended/failed, transient starting/stopping/suspending/restarting/
updating/replacing/destroying, terminal destroyed/replaced/migrated. Volume states come from the Volumes
API (`state` of a volume): created/extending/restoring/hydrating..., and the destroy path
scheduling_destroy -> pending_destroy -> destroying -> destroyed.
"""

from __future__ import annotations

from typing import Final

# A machine in one of these is not the tenant's machine any more: it is on its way out or a record of
# an old one (`replaced` is an earlier version, `migrated` the stub left behind when Fly moved it to
# another host). Never adopt one after an ambiguous create, never report one as the tenant's machine.
MACHINE_GONE: Final = frozenset({"destroying", "destroyed", "replaced", "migrated"})

# Up, or on its way up by itself: what "the machine is running" means to an operator.
MACHINE_RUNNING: Final = frozenset({"started", "starting", "restarting", "updating", "replacing"})

# What the machine provider treats as running when it decides to stop before an update or to relaunch
# after one: a `created` machine (created without skip_launch) is about to start on its own.
MACHINE_RUNNING_OR_LAUNCHING: Final = MACHINE_RUNNING | {"created"}

# A volume anywhere on Fly's destroy path is gone to us: it cannot be mounted or extended, and a volume
# of the same name may be created next to it. `scheduling_destroy` is the first step of that path.
VOLUME_GONE: Final = frozenset({"scheduling_destroy", "pending_destroy", "destroying", "destroyed"})


def settled_machine_state(launched: bool) -> str:
    """The state a machine settles in after a create or update: `started`, or `stopped` after skip_launch."""
    return "started" if launched else "stopped"
