"""Intensity normalisation to [0, 1] per modality, and the modality guess for files without tags.

ARCHITECTURE.md Sec. 3: CT is clipped to a Hounsfield window (default -1000..1000, the
window of the published Models/Semantic Genesis code) and scaled to [0, 1]; MR is
per-volume percentile min-max (default 0.5..99.5 %); X-ray and other images are
per-image min-max. The returned dict describes the window and is stored with the
cohort and with checkpoints; passing it back as ``window`` reproduces the mapping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_CT_WINDOW = (-1000.0, 1000.0)
DEFAULT_MR_PERCENTILES = (0.5, 99.5)
CT_MINIMUM_BELOW = -500.0


def guess_modality(array: np.ndarray) -> tuple[str, str]:
    """("CT" or "MR", how it was decided) for a volume without a modality tag: a minimum below
    -500 can only be Hounsfield units (air is -1000 HU), anything else is taken as MR."""
    low = float(np.min(array))
    if low < CT_MINIMUM_BELOW:
        return "CT", f"intensity (minimum {low:g} < {CT_MINIMUM_BELOW:g})"
    return "MR", f"intensity (minimum {low:g} >= {CT_MINIMUM_BELOW:g})"


def modality_window(modality: str | None, ct_window: tuple[float, float] | None = None) -> dict[str, Any] | None:
    """The window dict :func:`normalize_intensity` applies to a modality when given none: CT
    the fixed HU window (``ct_window``, default -1000..1000), MR the default per-volume
    percentiles; None for X-rays and other images (min-max per image)."""
    if modality == "CT":
        low, high = (float(v) for v in (ct_window or DEFAULT_CT_WINDOW))
        return {"kind": "ct", "low": low, "high": high}
    if modality == "MR":
        return {"kind": "mr", "percentiles": [float(p) for p in DEFAULT_MR_PERCENTILES]}
    return None


def _scaled(array: np.ndarray, low: float, high: float) -> np.ndarray:
    if not high > low:
        raise ValueError(f"constant intensity in the window ({low:g}..{high:g}): nothing to normalise")
    out = (np.asarray(array, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def normalize_intensity(
    array: np.ndarray,
    modality: str,
    window: tuple[float, float] | dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Map raw intensities to float32 in [0, 1]; returns (array, window description).

    ``window``: for CT the (low, high) HU window; for MR the (low, high) percentiles; or a dict
    returned earlier by this function to apply the same mapping again (fixed ``low``/``high``
    for CT, X-ray and min-max; the same percentiles, recomputed on this volume, for MR).
    Raises ``ValueError`` for non-finite values or a constant image.
    """
    array = np.asarray(array)
    if not np.isfinite(array).all():
        raise ValueError(f"{int(np.size(array) - np.isfinite(array).sum())} voxels are NaN or infinite")
    if isinstance(window, dict):
        kind = window.get("kind")
        if kind == "mr":
            return normalize_intensity(array, "MR", tuple(window["percentiles"]))
        if kind not in ("ct", "xr", "minmax"):
            raise ValueError(f"unknown window kind {kind!r}")
        low, high = float(window["low"]), float(window["high"])
        return _scaled(array, low, high), {**window, "low": low, "high": high}
    if modality == "CT":
        low, high = (float(v) for v in (window or DEFAULT_CT_WINDOW))
        return _scaled(array, low, high), {"kind": "ct", "low": low, "high": high}
    if modality == "MR":
        p_low, p_high = (float(v) for v in (window or DEFAULT_MR_PERCENTILES))
        if not 0.0 <= p_low < p_high <= 100.0:
            raise ValueError(f"MR percentiles must satisfy 0 <= low < high <= 100, got {p_low}, {p_high}")
        low, high = (float(v) for v in np.percentile(array, [p_low, p_high]))
        return _scaled(array, low, high), {"kind": "mr", "percentiles": [p_low, p_high], "low": low, "high": high}
    if modality in ("XR", "OT"):
        if window is not None:
            raise ValueError(f"{modality} images are min-max normalised; a window does not apply")
        low, high = float(array.min()), float(array.max())
        return _scaled(array, low, high), {"kind": "xr" if modality == "XR" else "minmax", "low": low, "high": high}
    raise ValueError(f"unknown modality {modality!r}; expected one of CT, MR, XR, OT")
