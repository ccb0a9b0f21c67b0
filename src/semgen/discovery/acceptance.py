"""Is a candidate crop informative? Vectorised acceptance tests for many candidates at once.

Self-discovery (paper Sec. 2, official ``pattern_generator_3D.py:get_random_coordinate``)
keeps a random coordinate only when the crop there is worth learning from. Two rules:

- ``lung`` (the published CT rule, copied from Models Genesis): with ``t`` = 0.425
  (HU -150 in the [-1000, 1000] window), every voxel (i, j, d) of the crop weighs
  1 if slice d is dense (>= t) there, 0.5 if slice d is not but slice d + 1 is, else 0
  (the published loop looks at slices d..d+2 and weighs 1 - k/2 for the first dense
  slice k, so k = 2 weighs 0). The crop is rejected when the summed weight exceeds
  ``max_dense`` (0.15) x the crop's voxel count: it must be mostly aerated lung. The
  slice after the crop's last one is read from the volume, or repeated at its edge.
  In 2D there is no next slice and the weight is just "dense".
- ``generic`` (any modality): the fraction of the crop inside the body mask is at
  least ``min_foreground`` and the intensity standard deviation (texture) at least ``min_std``.
- ``none``: every candidate passes.

Every statistic is a box sum, so a summed-area table (cumulative sums over the
candidates' bounding region) answers all candidates with a few lookups each,
instead of the published 393k-iteration Python loop per candidate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

RULES = ("lung", "generic", "none")


def at_least(volume: np.ndarray, threshold: float) -> np.ndarray:
    """``volume >= threshold`` as a bool array. For float16 (the cohort's arrays) and a
    positive threshold it compares the bit patterns as int16, ~30x faster than NumPy's
    float16 comparison and equal to it for every non-NaN value (non-negative float16
    values order like their bits; negative ones have the sign bit set)."""
    volume = np.asarray(volume)
    if volume.dtype != np.float16 or threshold <= 0:
        return volume >= threshold
    level = np.float16(threshold)
    if float(level) < threshold:
        level = np.nextafter(level, np.float16(np.inf))
    return volume.view(np.int16) >= level.view(np.int16)


def lung_weight(volume: np.ndarray, threshold: float = 0.425) -> np.ndarray:
    """Twice the per-voxel weight of the published lung rule on a [0, 1] CT volume (X, Y[, Z]),
    as small integers (uint8): 2 where the voxel is >= ``threshold``; 1 where it is not but the
    next slice (z + 1, repeated at the last slice) is; else 0. In 2D: 2 where dense, else 0.
    """
    dense = at_least(volume, threshold)
    weight = np.left_shift(dense.view(np.uint8), 1)
    if dense.ndim == 3:  # the last slice's next is itself, which adds nothing
        weight[..., :-1] += np.greater(dense[..., 1:], dense[..., :-1])
    return weight


def box_sums(field: np.ndarray | torch.Tensor, starts: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Sum of ``field`` over the boxes ``[start, start + size)`` for every row of ``starts``.

    field: (X, Y[, Z]), bool/uint8 or float; starts: (B, ndim) int, boxes inside the field.
    Returns (B,) float64. Builds a summed-area table (torch cumulative sums: exact int32 /
    int64 for bool and uint8 fields, float64 otherwise) over the boxes' bounding region only.
    """
    starts = np.asarray(starts, dtype=np.int64).reshape(-1, field.ndim)
    if len(starts) == 0:
        return np.zeros(0)
    size_a = np.asarray(size, dtype=np.int64)
    lo = starts.min(axis=0)
    hi = (starts + size_a).max(axis=0)
    window = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    region = field[window] if isinstance(field, torch.Tensor) else torch.from_numpy(np.array(field[window]))
    if region.dtype in (torch.bool, torch.uint8):
        dtype = torch.int32 if region.numel() <= 2**23 else torch.int64  # 255 * 2**23 < 2**31
    else:
        dtype = torch.float64
    table = torch.zeros(tuple(int(n) + 1 for n in region.shape), dtype=dtype)
    table[(slice(1, None),) * region.ndim] = region
    for axis in range(region.ndim):
        table.cumsum_(axis)
    rel = torch.as_tensor(starts - lo)
    total = torch.zeros(len(starts), dtype=dtype)
    for corner in itertools.product((0, 1), repeat=region.ndim):
        idx = tuple(rel[:, a] + int(size_a[a]) * c for a, c in enumerate(corner))
        sign = -1 if (region.ndim - sum(corner)) % 2 else 1
        total += sign * table[idx]
    return total.double().numpy()


@dataclass(frozen=True)
class AcceptanceRule:
    """One acceptance rule and its thresholds (see the module docstring)."""

    kind: str = "generic"
    lung_threshold: float = 0.425
    lung_max_dense: float = 0.15
    min_foreground: float = 0.5
    min_std: float = 0.02

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise ValueError(f"unknown acceptance rule {self.kind!r}; choose one of {', '.join(RULES)}")

    def statistics(self, image: np.ndarray, mask: np.ndarray, starts: np.ndarray, size: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Per-candidate statistics the rule looks at: ``dense_fraction`` (lung), or
        ``foreground`` and ``std`` (generic). image: [0, 1] (X, Y[, Z]); mask: same shape;
        starts: (B, ndim) int, crops inside the image. Reads only the candidates' bounding region."""
        starts = np.asarray(starts, dtype=np.int64).reshape(-1, image.ndim)
        if self.kind == "none" or len(starts) == 0:
            return {}
        n = float(np.prod(size))
        lo = starts.min(axis=0)
        hi = (starts + np.asarray(size)).max(axis=0)
        rel = starts - lo
        if self.kind == "lung":
            if image.ndim == 3:  # the rule also looks at the slice after the crop
                hi = hi.copy()
                hi[2] = min(hi[2] + 1, image.shape[2])
            weight2 = lung_weight(image[tuple(slice(a, b) for a, b in zip(lo, hi))], self.lung_threshold)
            return {"dense_fraction": box_sums(weight2, rel, size) / (2 * n)}
        window = tuple(slice(a, b) for a, b in zip(lo, hi))
        region = torch.from_numpy(np.array(image[window], dtype=np.float64))
        mean = box_sums(region, rel, size) / n
        mean_sq = box_sums(region * region, rel, size) / n
        foreground = box_sums(np.asarray(mask[window]) > 0, rel, size) / n
        return {"foreground": foreground, "std": np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))}

    def accept(self, image: np.ndarray, mask: np.ndarray, starts: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
        """(B,) bool: which candidate crops ``[start, start + size)`` pass the rule."""
        stats = self.statistics(image, mask, starts, size)
        if self.kind == "lung":
            return stats["dense_fraction"] <= self.lung_max_dense
        if self.kind == "generic":
            return (stats["foreground"] >= self.min_foreground) & (stats["std"] >= self.min_std)
        return np.ones(len(np.asarray(starts).reshape(-1, image.ndim)), dtype=bool)

    def describe(self) -> str:
        """One line naming the rule and thresholds, for messages."""
        if self.kind == "lung":
            return f"lung rule (dense weight <= {self.lung_max_dense:g} of the crop at threshold {self.lung_threshold:g})"
        if self.kind == "generic":
            return f"generic rule (foreground >= {self.min_foreground:g}, std >= {self.min_std:g})"
        return "no informativeness rule"
