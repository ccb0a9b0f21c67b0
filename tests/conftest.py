"""Shared fixtures. Tests that read the real images beside the project use ``shared_data``,
which skips with a reason when ``../shared/data`` is absent (as on a user's machine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
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
