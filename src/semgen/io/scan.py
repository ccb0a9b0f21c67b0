"""The in-memory scan, its canonical geometry, resampling and writing.

Canonical orientation (ARCHITECTURE.md Sec. 3): ITK's identity direction "LPS",
array axes (X, Y, Z) with x toward patient Left, y toward Posterior, z toward
Superior (2D: (X, Y)). A SimpleITK image is brought there by permuting and
flipping its axes (no interpolation); a scan acquired obliquely keeps its small
residual rotation in ``meta["direction"]`` and says so in its orientation string.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy.optimize import linear_sum_assignment

from semgen.utils.io import atomic_path

MODALITIES = ("CT", "MR", "XR", "OT")
# letter for the +/- direction of each physical (LPS) axis
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))
_WRITE_SUFFIXES = (".nii", ".nii.gz", ".mha", ".nrrd")


class ScanError(ValueError):
    """A scan that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def missing_reason(path: str | os.PathLike) -> str:
    """Why ``path`` cannot be opened although it was named: a symbolic-link loop, a link to a
    file that is gone, or no such file or directory (for a one-line :class:`ScanError`)."""
    if not os.path.islink(path):
        return "no such file or directory"
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link loop (its links point back to each other)"
    return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"


@dataclasses.dataclass
class Scan:
    """One scan in canonical orientation.

    ``array``: float32, (X, Y, Z) or (X, Y) for 2D, raw intensities (HU for CT).
    ``spacing`` and ``origin`` in mm, same axis order as ``array``. ``modality`` is
    "CT", "MR", "XR" or "OT". ``meta`` holds what else is known: ``patient``,
    ``modality_source`` (how the modality was decided), ``direction`` (row-major
    direction cosines after canonicalisation, identity unless oblique),
    ``orientation`` and ``source_orientation`` (e.g. "RAS"), ``source_geometry`` (the grid
    the file stores: ``size``, ``spacing``, ``origin``, ``direction``; see
    :func:`to_source_geometry`), DICOM ``series_uid``...
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    modality: str
    source: str
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        return self.array.ndim


def orientation_code(direction: np.ndarray) -> str:
    """Letters naming where each array axis points (+ direction), e.g. "LPS" for identity, "RAS"
    for the usual NIfTI (x→Right, y→Anterior), "LP" for a 2D identity."""
    direction = np.asarray(direction, dtype=float)
    letters = []
    for i in range(direction.shape[1]):
        col = direction[:, i]
        j = int(np.argmax(np.abs(col)))
        letters.append(_AXIS_LETTERS[j][0 if col[j] >= 0 else 1])
    return "".join(letters)


def canonicalize(image: sitk.Image) -> sitk.Image:
    """Permute and flip ``image`` so its direction is the identity (or the nearest to it for an
    oblique scan). Exact: no interpolation, every voxel keeps its physical position."""
    dim = image.GetDimension()
    direction = np.array(image.GetDirection()).reshape(dim, dim)
    physical, axes = linear_sum_assignment(-np.abs(direction))
    order = [int(a) for a in axes[np.argsort(physical)]]
    if order != list(range(dim)):
        image = sitk.PermuteAxes(image, order)
    direction = np.array(image.GetDirection()).reshape(dim, dim)
    flips = [bool(direction[j, j] < 0) for j in range(dim)]
    if any(flips):
        image = sitk.Flip(image, flips)
    return image


def obliquity_degrees(direction: np.ndarray) -> float:
    """Largest angle (degrees) between an array axis and the physical axis it stands for."""
    diag = np.clip(np.abs(np.diag(np.asarray(direction, dtype=float))), 0.0, 1.0)
    return float(np.degrees(np.arccos(diag.min())))


def scan_from_image(image: sitk.Image, source: str, modality: str, meta: dict[str, Any] | None = None) -> Scan:
    """A :class:`Scan` from a scalar SimpleITK image (any direction): canonical float32 array."""
    dim = image.GetDimension()
    source_orientation = orientation_code(np.array(image.GetDirection()).reshape(dim, dim))
    source_geometry = {
        "size": [int(n) for n in image.GetSize()],
        "spacing": [float(s) for s in image.GetSpacing()],
        "origin": [float(o) for o in image.GetOrigin()],
        "direction": [float(d) for d in image.GetDirection()],
    }
    image = canonicalize(image)
    direction = np.array(image.GetDirection()).reshape(dim, dim)
    oblique = obliquity_degrees(direction)
    orientation = "LPS"[:dim] if oblique < 1e-3 else f"{'LPS'[:dim]} (oblique {oblique:.1f} deg)"
    # (z, y, x) C order transposed: an (x, y, z) view in Fortran order, no copy of the voxels
    array = sitk.GetArrayFromImage(image).T.astype(np.float32, copy=False)
    info = {
        "direction": tuple(float(v) for v in direction.ravel()),
        "orientation": orientation,
        "source_orientation": source_orientation,
        "source_geometry": source_geometry,
        **(meta or {}),
    }
    return Scan(
        array=array,
        spacing=tuple(float(s) for s in image.GetSpacing()),
        origin=tuple(float(o) for o in image.GetOrigin()),
        modality=modality,
        source=source,
        meta=info,
    )


def image_from_array(
    array: np.ndarray,
    spacing: tuple[float, ...],
    origin: tuple[float, ...] | None = None,
    direction: tuple[float, ...] | None = None,
) -> sitk.Image:
    """A SimpleITK image from a canonical (X, Y[, Z]) array (identity direction unless given)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array).T))
    image.SetSpacing([float(s) for s in spacing])
    if origin is not None:
        image.SetOrigin([float(o) for o in origin])
    if direction is not None:
        image.SetDirection([float(d) for d in direction])
    return image


def _image_from_scan(scan: Scan) -> sitk.Image:
    return image_from_array(scan.array, scan.spacing, scan.origin, scan.meta.get("direction"))


def to_source_geometry(array: np.ndarray, scan: Scan) -> sitk.Image:
    """A canonical (X, Y[, Z]) array on ``scan``'s grid (e.g. a label map predicted on it) as a
    SimpleITK image on the grid of the file ``scan`` was read from: the canonical permutation
    and flips undone exactly (nearest-neighbour lookup at coinciding voxel centres, so no
    value changes), with the file's size, spacing, origin and direction. The dtype is kept."""
    if tuple(array.shape) != scan.shape:
        raise ValueError(f"{scan.source}: array shape {tuple(array.shape)} differs from the scan's {scan.shape}")
    grid = scan.meta.get("source_geometry")
    if grid is None:
        raise ValueError(f"{scan.source}: the scan does not record the grid it was read from")
    image = _image_from_scan(dataclasses.replace(scan, array=array))
    return sitk.Resample(image, [int(n) for n in grid["size"]], sitk.Transform(), sitk.sitkNearestNeighbor,
                         grid["origin"], grid["spacing"], grid["direction"], 0, image.GetPixelID())


def resampled_size(shape: tuple[int, ...], spacing: tuple[float, ...], target: tuple[float, ...]) -> tuple[int, ...]:
    """Voxel counts that cover the same extent at the ``target`` spacing (at least 1 per axis)."""
    return tuple(max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target, strict=True))


def resample(scan: Scan, spacing: tuple[float, ...], *, interpolator: str = "linear") -> Scan:
    """Resample ``scan`` to ``spacing`` (mm, one value per axis) with SimpleITK.

    ``interpolator``: "linear" for images, "nearest" for label maps. The first voxel keeps its
    position; voxels outside the scan take the scan's minimum (air for CT, background for MR).
    """
    if len(spacing) != scan.ndim:
        raise ScanError(scan.source, f"target spacing has {len(spacing)} values but the scan is {scan.ndim}D")
    if any(s <= 0 for s in spacing):
        raise ValueError(f"target spacing must be positive, got {spacing}")
    image = _image_from_scan(scan)
    method = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}[interpolator]
    out = sitk.Resample(
        image,
        resampled_size(scan.shape, scan.spacing, spacing),
        sitk.Transform(),
        method,
        image.GetOrigin(),
        [float(s) for s in spacing],
        image.GetDirection(),
        float(scan.array.min()),
        image.GetPixelID(),
    )
    meta = {**scan.meta, "resampled_from": scan.spacing}
    return dataclasses.replace(
        scan,
        array=sitk.GetArrayFromImage(out).T,
        spacing=tuple(float(s) for s in spacing),
        meta=meta,
    )


def write_scan(
    path: str | os.PathLike,
    array: np.ndarray,
    spacing: tuple[float, ...],
    origin: tuple[float, ...] | None = None,
) -> None:
    """Write a canonical (X, Y[, Z]) array as NIfTI (.nii, .nii.gz), MetaImage (.mha) or NRRD
    (.nrrd), atomically, with identity (LPS) direction; the dtype is kept."""
    path = Path(path)
    if not path.name.lower().endswith(_WRITE_SUFFIXES):
        raise ValueError(f"{path}: cannot write this format; use one of {', '.join(_WRITE_SUFFIXES)}")
    if array.ndim not in (2, 3) or len(spacing) != array.ndim:
        raise ValueError(f"{path}: need a 2D/3D array with one spacing per axis, got {array.shape} and {spacing}")
    image = image_from_array(array, spacing, origin)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=path.name.lower().endswith(".gz"))


@contextlib.contextmanager
def itk_warnings_off() -> Iterator[None]:
    """Silence ITK's global warning printout (e.g. "Non uniform sampling") while reading; our own
    checks report such problems as clear one-line reasons instead."""
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def itk_reason(error: RuntimeError) -> str:
    """The one informative line of a SimpleITK exception (they span several lines of C++ source
    locations), for a one-line reason."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    for line in reversed(lines):
        for marker in ("sitk::ERROR:", "ITK ERROR:", "Reason:"):
            if marker in line:
                return line.split(marker, 1)[1].split("):", 1)[-1].strip()
    return lines[-1] if lines else "unknown error"
