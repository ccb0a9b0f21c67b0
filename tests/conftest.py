"""Shared fixtures. Tests that read the real images beside the project use ``shared_data``,
which skips with a reason when ``../shared/data`` is absent (as on a user's machine)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEMGEN_SHARED_DATA", REPO.parent / "shared" / "data"))

# one intra-op thread per test process: pytest-xdist runs one process per core
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the verbs' default --threads (tests call semgen.cli.main in-process)
os.environ.setdefault("SEMGEN_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or $SEMGEN_SHARED_DATA); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real images not available: {SHARED_DATA} does not exist")
    return SHARED_DATA


@pytest.fixture(scope="session")
def patterns(tmp_path_factory):
    """A 10-scan MR cohort of smooth blobs and a 3-class pattern set of 16^3 crops cut from it."""
    from semgen.cohort import create_cohort
    from semgen.discovery import DiscoveryConfig, discover

    root = tmp_path_factory.mktemp("chain")
    rng = np.random.default_rng(0)
    base = ndi.gaussian_filter(rng.random((40, 40, 24)), 3)
    scans = []
    for i in range(10):
        a = base + 0.3 * ndi.gaussian_filter(rng.random((40, 40, 24)), 2)
        a = (a - a.min()) / (a.max() - a.min())
        a[:3] = 0
        a[-3:] = 0
        scans.append((f"s{i:02d}", a.astype(np.float32), (1.0, 1.0, 2.0)))
    create_cohort(root / "cohort", scans, "MR")
    cfg = DiscoveryConfig(
        classes=3, neighbors=4, val_neighbors=2, resolutions=2, patch=(16, 16, 16), ae_grid=(16, 16, 8),
        ae_width=2, ae_epochs=1, ae_patience=1, acceptance="none", preset="cpu", device="cpu", seed=0,
    )
    discover(root / "cohort", root / "patterns", cfg)
    return root
