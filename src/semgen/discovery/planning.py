"""Planning the pattern classes: references, coordinates, neighbours and crop boxes.

Paper Sec. 2 / official ``pattern_generator_3D.py``: for each of C classes take a
not-yet-used training reference, accept one random coordinate on it, and cut the crop
at that coordinate from the reference's K nearest training scans (at several
resolutions) and its nearest validation scans (native resolution only). The class
index is the pseudo label.

A coordinate is accepted when (all checked for a whole batch of candidates at once):
the crop centre lies inside the reference's body mask; the centre is at least
``min_distance`` voxels from every earlier class's coordinate mapped onto this
reference (body-relative or same indices, like the crops); the crop passes the
acceptance rule (:mod:`semgen.discovery.acceptance`). Unlike the published code the
"too close" flag is evaluated per candidate (it was never reset there).

Randomness is keyed by (seed, class, reference) and (seed, "multires", class), so a
resumed run plans exactly what an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semgen.discovery.acceptance import AcceptanceRule
from semgen.discovery.placement import multires_boxes, place, to_fraction
from semgen.utils.seeding import numpy_rng

TRAIN, VALIDATION = "train", "validation"


class DiscoveryError(ValueError):
    """Self-discovery cannot go on: the message says what is wrong and what to change."""


@dataclass
class ClassPlan:
    """One pattern class: its reference scan (index into the cohort order), the native
    crop start on the reference (voxels), and the crop centre as fractions of the
    reference's body box."""

    index: int
    reference: int
    start: tuple[int, ...]
    fraction: tuple[float, ...]

    def to_json(self, ids: list[str]) -> dict:
        return {"class": self.index, "reference": ids[self.reference], "start": list(self.start), "fraction": list(self.fraction)}

    @classmethod
    def from_json(cls, entry: dict, position: dict[str, int]) -> ClassPlan:
        return cls(entry["class"], position[entry["reference"]], tuple(entry["start"]), tuple(entry["fraction"]))


def candidate_starts(shape: tuple[int, ...], size: tuple[int, ...], count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, ndim) uniform random crop starts such that the crop lies inside ``shape``."""
    upper = np.asarray(shape) - np.asarray(size) + 1
    return rng.integers(0, upper, size=(count, len(shape)))


def choose_coordinate(
    image: np.ndarray,
    mask: np.ndarray,
    earlier: np.ndarray,
    size: tuple[int, ...],
    rule: AcceptanceRule,
    min_distance: float,
    budget: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray | None, str]:
    """Try ``budget`` random crop starts on one reference and return the first accepted
    one (in draw order) and "" -- or None and the reason none was.

    image, mask: the reference (X, Y[, Z]); earlier: (E, ndim)
    centres (voxels, on this reference) of earlier classes' coordinates.
    """
    starts = candidate_starts(image.shape, size, budget, rng)
    centres = starts + np.asarray(size) / 2.0
    inside = np.asarray(mask)[tuple(np.floor(centres).astype(np.int64).T)] > 0
    if len(earlier):
        gaps = np.linalg.norm(centres[:, None, :] - earlier[None, :, :], axis=2).min(axis=1)
        far = gaps >= min_distance
    else:
        far = np.ones(budget, dtype=bool)
    ok = inside & far
    passed = np.zeros(budget, dtype=bool)
    passed[ok] = rule.accept(image, mask, starts[ok], size)
    if passed.any():
        return starts[np.argmax(passed)], ""
    reason = (
        f"none of {budget} candidate coordinates was accepted: {int((~inside).sum())} outside the body, "
        f"{int((inside & ~far).sum())} closer than {min_distance:g} voxels to an earlier class, "
        f"{int(ok.sum())} failed the {rule.describe()}"
    )
    return None, reason


def earlier_centres(plans: list[ClassPlan], box: np.ndarray, size: tuple[int, ...], placement: str) -> np.ndarray:
    """Centres (E, ndim) of earlier classes' coordinates on a reference with body box ``box``."""
    if not plans:
        return np.zeros((0, len(size)))
    if placement == "voxel":
        return np.array([p.start for p in plans], dtype=np.float64) + np.asarray(size) / 2.0
    fractions = np.array([p.fraction for p in plans])
    return box[0] + fractions * (box[1] - box[0])


def plan_class(
    index: int,
    reference: int,
    image: np.ndarray,
    mask: np.ndarray,
    box: np.ndarray,
    earlier: list[ClassPlan],
    *,
    size: tuple[int, ...],
    rule: AcceptanceRule,
    min_distance: float,
    budget: int,
    placement: str,
    seed: int,
    reference_id: str,
) -> tuple[ClassPlan | None, str]:
    """Choose the coordinate of class ``index`` on scan ``reference`` (see :func:`choose_coordinate`)."""
    rng = numpy_rng(seed, "coordinate", index, reference_id)
    centres = earlier_centres(earlier, box, size, placement)
    start, reason = choose_coordinate(image, mask, centres, size, rule, min_distance, budget, rng)
    if start is None:
        return None, reason
    fraction = to_fraction(start + np.asarray(size) / 2.0, box)
    return ClassPlan(index, reference, tuple(int(v) for v in start), tuple(float(v) for v in fraction)), ""


@dataclass
class CropTable:
    """Crop boxes (one row per crop), as arrays: ``klass`` (n,), ``scan`` (n,) cohort index,
    ``split`` (n,) bool (True = validation), ``resolution`` (n,) 1-based, ``start`` and
    ``size`` (n, ndim) voxels, ``distance`` (n,) feature distance to the class's reference."""

    klass: np.ndarray
    scan: np.ndarray
    split: np.ndarray
    resolution: np.ndarray
    start: np.ndarray
    size: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.klass)

    @classmethod
    def concat(cls, tables: list[CropTable]) -> CropTable:
        return cls(*(np.concatenate([getattr(t, f) for t in tables]) for f in cls.__dataclass_fields__))


def class_crops(
    plan: ClassPlan,
    train: np.ndarray,
    train_distances: np.ndarray,
    val: np.ndarray,
    val_distances: np.ndarray,
    boxes: np.ndarray,
    shapes: np.ndarray,
    *,
    patch: tuple[int, ...],
    resolutions: int,
    scale: tuple[float, float],
    shift: int,
    placement: str,
    seed: int,
) -> CropTable:
    """Every crop of one class, vectorised over its neighbours: for each training neighbour
    (nearest first) the native crop then ``resolutions - 1`` larger ones; then the native
    crop of each validation neighbour. boxes (N, 2, ndim) and shapes (N, ndim) are indexed
    by cohort position."""
    ndim = len(patch)
    ref_start = np.asarray(plan.start)
    ref_box = boxes[plan.reference]
    native = place(ref_start, ref_box, boxes[train], shapes[train], patch, placement)
    extra = resolutions - 1
    starts = np.empty((len(train), resolutions, ndim), dtype=np.int64)
    sizes = np.empty_like(starts)
    starts[:, 0], sizes[:, 0] = native, patch
    if extra:
        rng = numpy_rng(seed, "multires", plan.index)
        starts[:, 1:], sizes[:, 1:] = multires_boxes(native, shapes[train], patch, extra, scale, shift, rng)
    val_starts = place(ref_start, ref_box, boxes[val], shapes[val], patch, placement)
    n_train, n_val = len(train) * resolutions, len(val)
    return CropTable(
        klass=np.full(n_train + n_val, plan.index, dtype=np.int64),
        scan=np.concatenate([np.repeat(train, resolutions), val]).astype(np.int64),
        split=np.concatenate([np.zeros(n_train, dtype=bool), np.ones(n_val, dtype=bool)]),
        resolution=np.concatenate([np.tile(np.arange(1, resolutions + 1), len(train)), np.ones(n_val, dtype=np.int64)]),
        start=np.concatenate([starts.reshape(-1, ndim), val_starts]),
        size=np.concatenate([sizes.reshape(-1, ndim), np.broadcast_to(np.asarray(patch), (n_val, ndim))]),
        distance=np.concatenate([np.repeat(train_distances, resolutions), val_distances]).astype(np.float32),
    )
