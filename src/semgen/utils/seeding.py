"""Owned randomness: every random choice in semgen draws from an explicit generator.

Seeds for sub-streams (a data-loader worker, a distributed rank, a trial, a
patient) are derived with :class:`numpy.random.SeedSequence`, so streams are
independent and the same seed always gives the same result.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def _key_to_int(key: int | str) -> int:
    if isinstance(key, int):
        if key < 0:
            raise ValueError(f"seed keys must be non-negative, got {key}")
        return key
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed for the sub-stream named by ``keys`` (ints or strings) under ``seed``."""
    ss = np.random.SeedSequence([_key_to_int(seed), *(_key_to_int(k) for k in keys)])
    return int(ss.generate_state(2, dtype=np.uint32).view(np.uint64)[0] >> np.uint64(1))


def numpy_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A NumPy generator for the sub-stream ``keys`` under ``seed``."""
    return np.random.default_rng(derive_seed(seed, *keys))


def torch_generator(seed: int, *keys: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` for the sub-stream ``keys`` under ``seed``."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *keys))
    return g
