"""The upload bookkeeping's bounds, driven in one Node process (lib/uploads.js with a stand-in bucket):
thousands of plans are milliseconds here, minutes over HTTP."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.companion.harness import COMPANION_DIR, require_node
from tests.support.node_clock import PRELOAD

SCRIPT = r"""
const { mock } = require('node:test');
const { Uploads, MAX_TRACKED } = require('./lib/uploads');
const bucket = {
  head: async () => null,
  remove: async () => { bucket.removed++; },
  presign: () => 'https://r2.invalid/url',
  removed: 0,
};
const config = {
  presignTtlSeconds: 300, partBytes: 8 * 1024 * 1024, maxParts: 10000, maxUploadBytes: 2 ** 30,
  quotaBytes: null, libraryPath: process.argv[1], stagingPrefix: 'staging/', uploadsMarkDir: null,
};
const uploads = new Uploads({ config, s3: bucket, log: () => {} });
async function planAndAbort(n) {
  try {
    const plan = await uploads.plan({ name: `Book ${n}.pdf`, size: 10, type: 'application/pdf' });
    await uploads.abort({ key: plan.key });
    return 200;
  } catch (err) {
    return err.status;
  }
}
(async () => {
  const statuses = {};
  for (let n = 0; n < MAX_TRACKED + 3; n++) {
    const status = await planAndAbort(n);
    statuses[status] = (statuses[status] || 0) + 1;
  }
  const tracked = uploads.entries.size;
  mock.timers.tick(600 * 1000); // the URLs die: every entry is let go
  await new Promise((resolve) => setImmediate(resolve));
  const left = uploads.entries.size;
  const after = await planAndAbort('again');
  process.stdout.write(JSON.stringify({ MAX_TRACKED, statuses, tracked, left, after, removed: bucket.removed }));
})();
"""


def test_a_loop_of_plan_and_abort_meets_a_bound_that_lifts_as_the_urls_die(tmp_path: Path) -> None:
    """Each aborted single PUT is remembered until its URL is dead (its bytes count, its leftovers are
    deleted then): a loop of them is bounded in memory and work, with a 429 the page waits on."""
    out = subprocess.run(
        [require_node(), "--require", str(PRELOAD), "-e", SCRIPT, str(tmp_path)],
        cwd=COMPANION_DIR,
        env={"FAKE_CLOCK_PORT": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    result = json.loads(out)
    assert result["MAX_TRACKED"] >= 1000  # far above a reader's pace: a plan costs tens of milliseconds
    assert result["statuses"] == {"200": result["MAX_TRACKED"], "429": 3}
    assert result["tracked"] == result["MAX_TRACKED"]
    assert (result["left"], result["after"]) == (0, 200)
    # Each staging key is deleted at the abort and again when its URL dies (whatever it wrote meanwhile).
    assert result["removed"] == 2 * result["MAX_TRACKED"] + 1
