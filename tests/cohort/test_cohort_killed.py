"""``kill -9`` of ``semgen prepare`` leaves no worker process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # an exited orphan may wait as a zombie for a reaper


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_workers_end_when_prepare_is_killed(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        sitk.WriteImage(sitk.GetImageFromArray((rng.random((40, 48, 48)) * 2000 - 1000).astype(np.float32)),
                        str(scans / f"s{i:02d}.nii.gz"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEMGEN_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "semgen", "prepare", str(scans), "--out", str(tmp_path / "cohort"), "--workers", "2"]
    parent = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            workers = [p for p in _children(parent.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
        assert len(workers) == 2, "the workers did not start"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in workers if _alive(p)], "workers outlived the killed prepare"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
