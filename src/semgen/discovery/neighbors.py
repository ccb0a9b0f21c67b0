"""Nearest patients by L2 distance between auto-encoder features (paper Sec. 2).

Batched: one distance matrix per chunk of references on the device, no Python loop
over patients. Ties are broken by scan order (stable sort), so results do not depend
on the device.
"""

from __future__ import annotations

import numpy as np
import torch


def nearest(
    queries: np.ndarray,
    pool: np.ndarray,
    k: int,
    device: str | torch.device = "cpu",
    chunk: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``pool`` (P, D) nearest to each row of ``queries`` (Q, D) by L2.

    Returns (indices (Q, k) int64 into ``pool``, distances (Q, k) float32), nearest
    first; a query that is also in the pool finds itself at distance 0 (as published).
    Distances are computed in float64 on ``device``, ``chunk`` queries at a time.
    """
    k = min(k, len(pool))
    if k == 0 or len(queries) == 0:
        return np.zeros((len(queries), k), dtype=np.int64), np.zeros((len(queries), k), dtype=np.float32)
    pool_t = torch.as_tensor(np.asarray(pool), dtype=torch.float64, device=device)
    indices, distances = [], []
    for begin in range(0, len(queries), chunk):
        q = torch.as_tensor(np.asarray(queries[begin : begin + chunk]), dtype=torch.float64, device=device)
        d = torch.cdist(q, pool_t, compute_mode="donot_use_mm_for_euclid_dist")
        order = torch.sort(d, dim=1, stable=True).indices[:, :k]
        indices.append(order.cpu().numpy())
        distances.append(torch.gather(d, 1, order).cpu().numpy().astype(np.float32))
    return np.concatenate(indices), np.concatenate(distances)
