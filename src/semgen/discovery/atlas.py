"""What the atlas shows (``PATTERNS/atlas.png`` + ``atlas.json``), and which classes look suspicious.

Like the paper's Fig. 1a / Fig. 4: one row per class; the reference and its nearest
training neighbours, each as the slice through the crop centre (axial in 3D) with its
native crop (resolution 1). This module picks the crops and slices and checks each class:

- **mostly outside the body**: the class's native training crops lie on average less than
  ``min_body_fraction`` inside the body mask (a pattern of air or table, not anatomy);
- **near-duplicate**: the mean native crop of the class correlates with another class's
  mean crop above ``duplicate_correlation`` (Pearson r; two classes of the same anatomy
  make the classification task ambiguous).

The flags go into ``atlas.json`` and the picture; nothing is removed. The drawing is
:func:`semgen.viz.atlas.draw_atlas`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from semgen.discovery.planning import CropTable
from semgen.utils.io import write_json

MIN_BODY_FRACTION = 0.5
DUPLICATE_CORRELATION = 0.95
CROPS_PER_CLASS = 32  # native training crops per class for the body fraction and the mean crop


@dataclass
class AtlasPanel:
    """One scan in a class row: the (X, Y) slice through the crop centre (``slice_index`` on
    Z in 3D, None in 2D), the crop's in-plane ``start``/``size`` (voxels) and whether it
    is the class's reference."""

    scan: str
    reference: bool
    slice_index: int | None
    plane: np.ndarray
    start: tuple[int, int]
    size: tuple[int, int]


@dataclass
class AtlasClass:
    """One class: its panels, body fraction of its crops, and its flags (plain sentences)."""

    klass: int
    reference: str
    panels: list[AtlasPanel]
    body_fraction: float
    duplicate_of: list[int] = field(default_factory=list)
    correlation: list[float] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass
class Atlas:
    """Everything :func:`semgen.viz.atlas.draw_atlas` draws, plus the thresholds used."""

    classes: list[AtlasClass]
    patch: tuple[int, ...]
    resolutions: int
    min_body_fraction: float
    duplicate_correlation: float

    def to_json(self) -> dict:
        """``atlas.json``: per class the scans shown, body fraction, duplicates and flags."""
        return {
            "patch_size": list(self.patch),
            "resolutions": self.resolutions,
            "shown": "native crops (resolution 1); slice through the crop centre (axial in 3D)",
            "min_body_fraction": self.min_body_fraction,
            "duplicate_correlation": self.duplicate_correlation,
            "classes": [
                {
                    "class": c.klass,
                    "reference": c.reference,
                    "shown": [{k: v for k, v in asdict(p).items() if k != "plane"} for p in c.panels],
                    "body_fraction": round(c.body_fraction, 4),
                    "duplicate_of": c.duplicate_of,
                    "correlation": [round(r, 4) for r in c.correlation],
                    "flags": c.flags,
                }
                for c in self.classes
            ],
            "flagged": [c.klass for c in self.classes if c.flags],
        }


def _box(start: np.ndarray, size: np.ndarray) -> tuple[slice, ...]:
    return tuple(slice(int(a), int(a) + int(s)) for a, s in zip(start, size))


def _panel(table: CropTable, row: int, ids: list[str], image: Callable[[str], np.ndarray], reference: bool) -> AtlasPanel:
    start, size = table.start[row], table.size[row]
    volume = image(ids[table.scan[row]])
    z = int(start[2] + size[2] // 2) if volume.ndim == 3 else None
    plane = np.asarray(volume[:, :, z] if z is not None else volume, dtype=np.float32)
    return AtlasPanel(ids[table.scan[row]], reference, z, plane, (int(start[0]), int(start[1])), (int(size[0]), int(size[1])))


def _correlations(means: np.ndarray) -> np.ndarray:
    """Pearson r between the rows of ``means`` (C, V); 1 between two constant rows, 0 between
    a constant and a varying one, 1 on the diagonal."""
    centred = means - means.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    flat = norms < 1e-6
    r = centred @ centred.T / np.maximum(np.outer(norms, norms), 1e-12)
    r[np.ix_(flat, flat)] = 1.0
    r[flat[:, None] ^ flat[None, :]] = 0.0
    return np.clip(r, -1.0, 1.0)


def atlas_data(
    table: CropTable,
    references: list[int],
    ids: list[str],
    image: Callable[[str], np.ndarray],
    mask: Callable[[str], np.ndarray],
    *,
    neighbors_shown: int = 4,
    min_body_fraction: float = MIN_BODY_FRACTION,
    duplicate_correlation: float = DUPLICATE_CORRELATION,
) -> Atlas:
    """The atlas of the classes of ``table`` (``references[c]`` = cohort index of class c's
    reference; ``image(id)`` / ``mask(id)`` return a cohort array in [0, 1] / its body mask):
    the reference and up to ``neighbors_shown`` training neighbours per class, and the flags
    (see the module docstring)."""
    native = (table.resolution == 1) & ~table.split
    patch = tuple(int(s) for s in table.size[np.flatnonzero(native)[0]]) if native.any() else ()
    classes, means = [], []
    for c, ref in enumerate(references):
        rows = np.flatnonzero(native & (table.klass == c))
        shown = [r for r in rows if table.scan[r] == ref][:1] + [r for r in rows if table.scan[r] != ref][:neighbors_shown]
        panels = [_panel(table, r, ids, image, table.scan[r] == ref) for r in shown]
        sample = rows[:CROPS_PER_CLASS]
        body = [float(np.mean(mask(ids[table.scan[r]])[_box(table.start[r], table.size[r])] > 0)) for r in sample]
        crops = [np.asarray(image(ids[table.scan[r]])[_box(table.start[r], table.size[r])], dtype=np.float32) for r in sample]
        crops = [x for x in crops if x.shape == patch]
        means.append(np.mean(crops, axis=0).ravel() if crops else np.zeros(int(np.prod(patch)), dtype=np.float32))
        fraction = float(np.mean(body)) if body else 0.0
        entry = AtlasClass(c, ids[ref], panels, fraction)
        if fraction < min_body_fraction:
            entry.flags.append(f"mostly outside the body ({100 * fraction:.0f} % of its crops inside the body mask)")
        classes.append(entry)
    if len(classes) > 1:
        r = _correlations(np.stack(means).astype(np.float64))
        for c, entry in enumerate(classes):
            others = [j for j in np.argsort(-r[c], kind="stable") if j != c and r[c, j] > duplicate_correlation]
            entry.duplicate_of = [int(j) for j in others]
            entry.correlation = [float(r[c, j]) for j in others]
            if others:
                listed = ", ".join(f"{j} (r = {r[c, j]:.2f})" for j in others[:3]) + (" ..." if len(others) > 3 else "")
                entry.flags.append(f"near-duplicate of class {listed}")
    resolutions = int(table.resolution.max()) if len(table) else 1
    return Atlas(classes, patch, resolutions, min_body_fraction, duplicate_correlation)


def write_atlas(
    out: Path,
    table: CropTable,
    references: list[int],
    ids: list[str],
    image: Callable[[str], np.ndarray],
    mask: Callable[[str], np.ndarray],
) -> Atlas:
    """Compute the atlas and write ``out/atlas.json`` and ``out/atlas.png``."""
    from semgen.viz.atlas import draw_atlas

    atlas = atlas_data(table, references, ids, image, mask)
    write_json(out / "atlas.json", atlas.to_json())
    draw_atlas(atlas, out / "atlas.png")
    return atlas
