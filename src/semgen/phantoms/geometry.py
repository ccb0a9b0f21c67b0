"""Geometry for the synthetic chest CT: the voxel grid, the patient's body frame, and
vectorised rasterisation of tapered tubes (vessels, airways, ribs, aorta).

Coordinates are millimetres in ITK's LPS convention: x toward patient Left, y toward
Posterior, z toward Superior. The *scanner* frame has its origin at the centre of the
volume; the *body* frame is the patient's own frame (x = 0 on the midline, y = 0 on the
body's centre line, z = 0 at the nominal top of the right diaphragm dome). A patient
lying slightly rotated and shifted on the table is ``scanner = R @ body + t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# upper bound on (samples x neighbourhood offsets) evaluated at once by render_tubes
_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class Grid:
    """A voxel grid of ``shape`` (X, Y, Z) with ``spacing`` in mm, centred on the scanner origin."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    @property
    def offset(self) -> np.ndarray:
        """Scanner coordinates (mm, LPS) of voxel (0, 0, 0): the image origin."""
        return -(np.asarray(self.shape, dtype=np.float64) - 1.0) / 2.0 * np.asarray(self.spacing)

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The scanner coordinate (mm) of every voxel centre along X, Y and Z (1D, float32)."""
        off = self.offset
        x, y, z = ((off[a] + self.spacing[a] * np.arange(self.shape[a])).astype(np.float32) for a in range(3))
        return x, y, z

    def to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (..., 3) of scanner points (..., 3) in mm."""
        return (np.asarray(points_mm, dtype=np.float64) - self.offset) / np.asarray(self.spacing)

    def nearest_voxel(self, points_mm: np.ndarray) -> np.ndarray:
        """Nearest voxel indices (..., 3) (int64, clipped into the grid) of scanner points in mm."""
        idx = np.rint(self.to_index(points_mm)).astype(np.int64)
        return np.clip(idx, 0, np.asarray(self.shape) - 1)

    def voxel_to_mm(self, index: np.ndarray) -> np.ndarray:
        """Scanner coordinates (mm) of voxel indices (..., 3)."""
        return np.asarray(index, dtype=np.float64) * np.asarray(self.spacing) + self.offset


@dataclass(frozen=True)
class Frame:
    """The patient's pose in the scanner: ``scanner = rotation @ body + translation`` (mm)."""

    rotation: np.ndarray
    translation: np.ndarray

    @staticmethod
    def from_angles(roll_deg: float, pitch_deg: float, yaw_deg: float, translation: np.ndarray) -> Frame:
        """A pose rotated about z (roll, the in-plane tilt), x (pitch) and y (yaw), in degrees."""
        a, b, c = np.deg2rad([roll_deg, pitch_deg, yaw_deg])
        rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
        ry = np.array([[np.cos(c), 0.0, np.sin(c)], [0.0, 1.0, 0.0], [-np.sin(c), 0.0, np.cos(c)]])
        return Frame(rz @ rx @ ry, np.asarray(translation, dtype=np.float64))

    def to_scanner(self, points: np.ndarray) -> np.ndarray:
        """Body-frame points (..., 3) to scanner coordinates (mm)."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation

    def body_coordinates(self, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Body-frame x, y, z (mm) of every voxel of ``grid``: three float32 arrays of ``grid.shape``."""
        sx, sy, sz = grid.axes()
        d = (sx - self.translation[0])[:, None, None], (sy - self.translation[1])[None, :, None], (
            sz - self.translation[2]
        )[None, None, :]
        r = self.rotation.astype(np.float32)
        # body = R^T (scanner - t): row i of R^T is column i of R
        x, y, z = (r[0, i] * d[0] + r[1, i] * d[1] + r[2, i] * d[2] for i in range(3))
        return x, y, z


def render_tubes(
    grid: Grid,
    p0: np.ndarray,
    p1: np.ndarray,
    r0: np.ndarray,
    r1: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Rasterise tapered tubes (capsules) into a partial-volume fraction map.

    Segment ``i`` runs from ``p0[i]`` to ``p1[i]`` (scanner mm, (N, 3)) with radius going
    linearly from ``r0[i]`` to ``r1[i]`` (mm); a zero-length segment is a sphere. Each voxel
    gets ``clip((r - d) / w + 1/2, 0, 1)`` with ``d`` its distance to the segment axis and
    ``w`` the smallest voxel size (an anti-aliased edge), scaled by ``min(1, 2r / w)`` so a
    vessel thinner than a voxel has the lower contrast partial volume gives it. Tubes
    combine by maximum into ``out`` (float32 of ``grid.shape``, created when None), which is
    returned. Only voxels near each segment are visited: samples along the axis, each with
    a fixed neighbourhood of voxel offsets, evaluated in vectorised chunks.
    """
    p0 = np.atleast_2d(np.asarray(p0, dtype=np.float64))
    p1 = np.atleast_2d(np.asarray(p1, dtype=np.float64))
    r0 = np.atleast_1d(np.asarray(r0, dtype=np.float64))
    r1 = r0 if r1 is None else np.atleast_1d(np.asarray(r1, dtype=np.float64))
    if out is None:
        out = np.zeros(grid.shape, dtype=np.float32)
    if len(p0) == 0:
        return out
    spacing = np.asarray(grid.spacing, dtype=np.float64)
    w = float(spacing.min())
    rmax = np.maximum(r0, r1)
    # bucket segments by radius so thin vessels get small neighbourhoods
    bucket = np.ceil(np.log2(np.maximum(rmax / w, 0.25)) * 2.0).astype(int)
    flat_out = out.reshape(-1)
    for b in np.unique(bucket):
        sel = np.flatnonzero(bucket == b)
        _render_bucket(grid, spacing, w, p0[sel], p1[sel], r0[sel], r1[sel], flat_out)
    return out


def _render_bucket(
    grid: Grid,
    spacing: np.ndarray,
    w: float,
    p0: np.ndarray,
    p1: np.ndarray,
    r0: np.ndarray,
    r1: np.ndarray,
    flat_out: np.ndarray,
) -> None:
    # samples every max(w, r) along the axis: fewer, larger neighbourhoods for thick tubes
    step = max(w, float(np.maximum(r0, r1).max()))
    ab = p1 - p0
    length = np.linalg.norm(ab, axis=1)
    n_samples = np.ceil(length / step).astype(np.int64) + 1
    seg = np.repeat(np.arange(len(p0)), n_samples)
    first = np.cumsum(n_samples) - n_samples
    k = np.arange(len(seg)) - np.repeat(first, n_samples)
    frac = k / np.maximum(n_samples[seg] - 1, 1)
    centres = np.rint(grid.to_index(p0[seg] + frac[:, None] * ab[seg])).astype(np.int64)
    reach = float(np.maximum(r0, r1).max()) + w / 2 + step / 2
    half = np.ceil(reach / spacing + 0.5).astype(np.int64)
    offsets = np.stack(
        np.meshgrid(*[np.arange(-h, h + 1) for h in half], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    # keep only offsets that can be within reach of a sample (a ball, not the whole box)
    keep = np.linalg.norm(np.maximum(np.abs(offsets) - 0.5, 0) * spacing, axis=1) <= reach + 0.5 * w
    offsets = offsets[keep]
    shape = np.asarray(grid.shape)
    ab_len2 = np.einsum("ij,ij->i", ab, ab)
    chunk = max(1, _CHUNK_ELEMENTS // len(offsets))
    for start in range(0, len(seg), chunk):
        s = seg[start : start + chunk]
        vox = centres[start : start + chunk, None, :] + offsets[None, :, :]
        inside = np.all((vox >= 0) & (vox < shape), axis=-1)
        vox = vox[inside]
        s = np.broadcast_to(s[:, None], inside.shape)[inside]
        q = vox * spacing + grid.offset - p0[s]
        t = np.clip(np.einsum("ij,ij->i", q, ab[s]) / np.maximum(ab_len2[s], 1e-12), 0.0, 1.0)
        dist = np.linalg.norm(q - t[:, None] * ab[s], axis=1)
        radius = r0[s] + t * (r1[s] - r0[s])
        f = np.clip((radius - dist) / w + 0.5, 0.0, 1.0) * np.minimum(1.0, 2.0 * radius / w)
        hit = f > 0
        if not hit.any():
            continue
        flat = np.ravel_multi_index(vox[hit].T, grid.shape)
        np.maximum.at(flat_out, flat, f[hit].astype(np.float32))


def catmull_rom(points: np.ndarray, samples_per_span: int = 8) -> np.ndarray:
    """A smooth curve (M, 3) through the control ``points`` (K, 3): a uniform Catmull-Rom spline."""
    p = np.asarray(points, dtype=np.float64)
    padded = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0.0, 1.0, samples_per_span, endpoint=False)[:, None]
    pieces = []
    for i in range(1, len(padded) - 2):
        a, b, c, d = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        pieces.append(
            0.5
            * (
                2 * b
                + (-a + c) * t
                + (2 * a - 5 * b + 4 * c - d) * t**2
                + (-a + 3 * b - 3 * c + d) * t**3
            )
        )
    pieces.append(p[-1:])
    return np.vstack(pieces)


def smoothstep(x: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic in between."""
    t = np.clip((np.asarray(x, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` (..., 3) scaled to unit length."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
