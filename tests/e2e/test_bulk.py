"""`scripts.pulumi_stack up --bulk`: a new stack's first `up` with the state written once, at the end.

The engine skips the checkpoint after each step (PULUMI_SKIP_CHECKPOINTS), so what the run did must still
all be in the state it writes at the end: after a clean bulk `up` nothing is left to change, and after one
whose steps partly failed the next plain `up` creates only what is missing, never a second of anything.
A stack that already has tenants is refused: there a killed run would lose the record of real customers.
"""

from __future__ import annotations

from emulators.faults import Fault
from tests.e2e.test_faults import ROSTER, STACK, assert_one_of_everything


def test_a_bulk_first_up_records_everything_it_made(workspace, config, fly, cloudflare):
    workspace.new_stack(STACK, config, ROSTER)
    up = workspace.up(STACK, "--bulk").check()
    assert set(up.changes()) == {"create"}, up.summary()
    assert_one_of_everything(fly, cloudflare)

    fly.reset_log()
    cloudflare.reset_log()
    workspace.preview(STACK, "--no-changes").check()
    assert workspace.up(STACK).check().changes() == {}
    assert fly.writes() == 0 and cloudflare.writes() == []

    again = workspace.up(STACK, "--bulk")
    assert again.returncode == 2
    assert f"stack {STACK}: --bulk is for a new stack's first up" in again.output


def test_a_bulk_up_whose_steps_fail_keeps_what_it_made_and_the_next_up_adds_only_the_rest(
    workspace, config, fly, cloudflare
):
    workspace.new_stack(STACK, config, ROSTER)
    fly.inject(Fault(path=r"e2efault02/machines$", method="POST", status=500, times=50))
    cloudflare.inject(Fault(path=r"/tokens$", method="POST", status=503, times=50, skip=1))
    broken = workspace.up(STACK, "--bulk")
    assert broken.returncode != 0 and broken.failures(), broken.output[-2000:]
    recorded = {r["urn"] for r in workspace.resources(STACK)}
    assert any(urn.endswith("::e2efault01-app") for urn in recorded)  # written at the end despite the failures

    fly.clear_faults()
    cloudflare.clear_faults()
    workspace.up(STACK).check()
    workspace.preview(STACK, "--no-changes").check()
    assert_one_of_everything(fly, cloudflare)
