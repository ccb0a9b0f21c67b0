"""The resumable training state (``RUN/last.pt``), written atomically each epoch.

It holds everything a run needs to continue exactly: model, optimiser and scheduler
states, the next epoch and global step, every rank's random streams (``ranks``: the
corruption generator and torch's default generators of each process, gathered to rank 0,
so a ``torchrun`` job resumes bit for bit), the best validation loss and early-stopping
counter, the metrics rows so far, and the resolved configuration (checked on ``--resume``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from semgen.utils.io import atomic_path

STATE_FILE = "last.pt"


class ResumeError(ValueError):
    """A run cannot be resumed (missing or unreadable state, or another method/model)."""


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write the training state atomically (temporary file + rename)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state written by :func:`save_state` (tensors on the CPU); ``ResumeError`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ResumeError(f"{path}: no training state to resume from (the run never finished an epoch?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a damaged or foreign file
        raise ResumeError(f"{path}: not a readable semgen training state ({e})") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        what = f"keys: {sorted(state)}" if isinstance(state, dict) else type(state).__name__
        raise ResumeError(f"{path}: not a semgen training state ({what})")
    return state
