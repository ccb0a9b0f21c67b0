"""Where a class coordinate lands in each scan, and the crop boxes around it.

The published code cuts every neighbour at the reference's voxel indices, which only
lines up when all scans have the same size and field of view. By default semgen
places coordinates relative to each scan's body: the reference's crop centre is
written as fractions of its body bounding box (the box of ``cohort.mask(id)``), and
mapped to the same fractions of each neighbour's body box. Fractions of a box are the
same in voxels and in millimetres, so scans of different size and spacing line up.
The crop keeps its size in voxels. A crop that would leave the volume is shifted
inside it (never resized); a scan smaller than a crop is refused before planning.

All functions are vectorised over scans: boxes (N, 2, ndim), shapes (N, ndim).
"""

from __future__ import annotations

import numpy as np


def body_box(mask: np.ndarray) -> np.ndarray:
    """(2, ndim) int64: [low, high) voxel bounds of the nonzero part of ``mask`` (X, Y[, Z]).
    An empty mask gives the whole volume."""
    lo, hi = [], []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        nz = np.flatnonzero(np.asarray(mask).any(axis=other))
        if len(nz) == 0:
            return np.array([[0] * mask.ndim, list(mask.shape)], dtype=np.int64)
        lo.append(nz[0])
        hi.append(nz[-1] + 1)
    return np.array([lo, hi], dtype=np.int64)


def to_fraction(centre: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Centre(s) (..., ndim) in voxels -> fractions of the body box (2, ndim); 0.5 on a flat axis."""
    extent = (box[1] - box[0]).astype(np.float64)
    safe = np.where(extent > 0, extent, 1.0)
    return np.where(extent > 0, (np.asarray(centre, dtype=np.float64) - box[0]) / safe, 0.5)


def from_fraction(fraction: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Fractions (ndim,) or (N, ndim) mapped into body boxes (N, 2, ndim) -> centres (N, ndim) in voxels."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[:, 0] + np.asarray(fraction, dtype=np.float64) * (boxes[:, 1] - boxes[:, 0])


def clamp_starts(starts: np.ndarray, sizes: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Shift boxes [start, start + size) inside volumes of ``shapes`` (all (N, ndim)); int64."""
    sizes = np.asarray(sizes, dtype=np.int64)
    upper = np.maximum(np.asarray(shapes, dtype=np.int64) - sizes, 0)
    return np.clip(np.asarray(starts, dtype=np.int64), 0, upper)


def place(
    reference_start: np.ndarray,
    reference_box: np.ndarray,
    boxes: np.ndarray,
    shapes: np.ndarray,
    size: tuple[int, ...],
    mode: str = "body",
) -> np.ndarray:
    """Native crop starts (N, ndim) in N scans for a class whose crop starts at
    ``reference_start`` (ndim,) in the reference.

    mode "body": the reference crop centre as fractions of ``reference_box`` (2, ndim),
    mapped into each scan's body box (``boxes`` (N, 2, ndim)). mode "voxel": the same
    indices in every scan (published). Either way shifted inside ``shapes`` (N, ndim).
    """
    size_a = np.asarray(size, dtype=np.int64)
    shapes = np.asarray(shapes, dtype=np.int64)
    if mode == "voxel":
        starts = np.broadcast_to(np.asarray(reference_start, dtype=np.int64), shapes.shape)
    elif mode == "body":
        fraction = to_fraction(np.asarray(reference_start) + size_a / 2.0, reference_box)
        starts = np.floor(from_fraction(fraction, boxes) - size_a / 2.0 + 0.5).astype(np.int64)
    else:
        raise ValueError(f"placement must be 'body' or 'voxel', got {mode!r}")
    return clamp_starts(starts, np.broadcast_to(size_a, shapes.shape), shapes)


def multires_boxes(
    native_starts: np.ndarray,
    shapes: np.ndarray,
    patch: tuple[int, ...],
    extra: int,
    scale: tuple[float, float],
    shift: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The published extra resolutions around each native crop (official
    ``pattern_generator_3D.py`` with ``--multi_res``): a square in-plane size
    s in [round(scale[0] * patch), round(scale[1] * patch)) (50..79 for 64), an in-plane
    shift in [-shift, shift) (-10..9), the same slices; later resized back to ``patch``.
    Instead of redrawing until the box fits, the box is shifted inside the volume and
    s is capped at the in-plane size of the scan.

    native_starts, shapes: (N, ndim). Returns starts and sizes, both (N, extra, ndim) int64.
    """
    n, ndim = np.asarray(native_starts).shape
    s_lo = max(1, round(scale[0] * patch[0]))
    s_hi = max(s_lo + 1, round(scale[1] * patch[0]))
    side = rng.integers(s_lo, s_hi, size=(n, extra))
    offsets = rng.integers(-shift, shift, size=(n, extra, 2)) if shift > 0 else np.zeros((n, extra, 2), dtype=np.int64)
    shapes = np.asarray(shapes, dtype=np.int64)[:, None, :]
    sizes = np.broadcast_to(np.asarray(patch, dtype=np.int64), (n, extra, ndim)).copy()
    sizes[..., 0] = side
    sizes[..., 1] = side
    sizes[..., :2] = np.minimum(sizes[..., :2], shapes[..., :2])
    starts = np.broadcast_to(np.asarray(native_starts, dtype=np.int64)[:, None, :], (n, extra, ndim)).copy()
    starts[..., :2] += offsets
    return clamp_starts(starts, sizes, np.broadcast_to(shapes, (n, extra, ndim))), sizes
