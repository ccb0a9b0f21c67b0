"""The body / foreground mask stored with every prepared scan.

Later stages sample crop coordinates inside it (ARCHITECTURE.md Sec. 4: coordinates
placed relative to each patient's body, and a generic foreground test instead of the
published pure-Python lung loop). The recipe, all vectorised with scipy.ndimage:

1. threshold: CT keeps voxels above -500 HU (denser than lung and air, so the body,
   not the air around it); MR, X-ray and others use Otsu's threshold on a 256-bin
   histogram of the [0, 1] image;
2. open with a 3x3 in-plane square (cuts thin bridges such as table rails and wires)
   and keep the largest connected component (drops the table, noise, burnt-in labels);
3. fill holes per axial slice: every background region the slice's border cannot reach
   becomes body (the lungs and airway too: in 3D they reach the outside through the
   airway; cavities closed in 3D are closed in the slices through them as well).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from semgen.io.intensity import DEFAULT_CT_WINDOW

CT_BODY_HU = -500.0


def otsu_threshold(array01: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the level that maximises the between-class
    variance of the two groups it makes."""
    hist, edges = np.histogram(array01, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(1, hist.sum())
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(p)
    mean = np.cumsum(p * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight - mean) ** 2 / (weight * (1.0 - weight))
    between[~np.isfinite(between)] = -1.0
    return float(edges[int(np.argmax(between)) + 1])


def ct_body_level(window: dict[str, Any] | None = None) -> float:
    """Where -500 HU lands in [0, 1] under a CT ``window`` (default HU -1000..1000 -> 0.25);
    0 when the window starts above -500 HU (then everything not at the floor counts)."""
    low, high = (window["low"], window["high"]) if window else DEFAULT_CT_WINDOW
    return float(np.clip((CT_BODY_HU - low) / (high - low), 0.0, 1.0))


def _fill_slices(mask: np.ndarray) -> np.ndarray:
    """``mask`` plus every background region of each axial slice that the slice border cannot
    reach (one labelling of the whole volume, no connectivity along Z)."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    if mask.ndim == 3:
        structure[:, :, 0] = structure[:, :, 2] = False
    background, count = ndimage.label(~mask, structure=structure)
    outside = np.zeros(count + 1, dtype=bool)
    for axis in (0, 1):
        outside[np.take(background, 0, axis=axis)] = True
        outside[np.take(background, -1, axis=axis)] = True
    outside[0] = True
    return mask | ~outside[background]


def body_mask(array01: np.ndarray, modality: str, window: dict[str, Any] | None = None) -> np.ndarray:
    """Boolean body/foreground mask of a normalised (X, Y[, Z]) image in [0, 1].

    ``modality``: "CT" thresholds at -500 HU (placed with ``window``, the dict returned by
    :func:`semgen.io.normalize_intensity`; default the HU -1000..1000 window); any other
    modality uses Otsu's threshold. Then an in-plane opening, the largest connected component,
    and its holes filled per axial (Z) slice. Returns all False for an image with no foreground.
    """
    array01 = np.asarray(array01)
    if array01.ndim not in (2, 3):
        raise ValueError(f"body_mask needs a 2D or 3D array, got shape {array01.shape}")
    level = ct_body_level(window) if modality == "CT" else otsu_threshold(array01)
    foreground = array01 > level
    square = np.ones((3, 3) + (1,) * (foreground.ndim - 2), dtype=bool)
    foreground = ndimage.binary_opening(foreground, structure=square)
    labels, count = ndimage.label(foreground)
    if count == 0:
        return foreground
    sizes = ndimage.histogram(labels, 1, count, count)
    return _fill_slices(labels == int(np.argmax(sizes)) + 1)
