"""Memory is O(B^2): FaceNet's batch (B = 1,800, D = 128) fits in 1 GB of extra memory.

A [B, B, B] float32 tensor at B = 1,800 alone would take 23 GB; the [B, B] matrices the
losses use take 13 MB each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

LIMIT_BYTES = 1 << 30


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_forward_backward_at_batch_1800_fits_in_1gb():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.losses.memory_worker", "1800", "128"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    extra = json.loads(line[len("RESULT ") :])["extra_bytes"]
    assert set(extra) == {
        f"{loss}/{mode}"
        for loss in ("semihard", "batch_hard", "batch_all")
        for mode in ("eager", "function")
    }
    for name, used in extra.items():
        assert 0 < used < LIMIT_BYTES, f"{name}: {used / 2**20:.0f} MiB"
