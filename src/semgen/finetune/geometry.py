"""The inputs of a fine-tuning task, decided once per task and never by the initialisation.

A comparison of initialisations measures pre-training only when every initialisation is
fine-tuned on identical inputs. So the patch, the spacing, the modality and its intensity
normalisation are decided from the task alone, each by the first of

- **patch**: ``--patch``; the recipe's patch; 64x64 (2D) or 64x64x32 (3D), cut on each
  axis to the median image size (at the fine-tuning spacing, rounded up to a multiple of 8);
- **spacing** (3D, unless ``--no-resample``): ``--spacing``; the recipe's spacing; the
  per-axis median spacing of the task's images (read from up to :data:`PROBE_SAMPLES`
  images spread evenly over the task, in its order);
- **modality**: ``--modality``; the recipe's or layout's modality (CT for the LIDC recipes,
  ``dataset.json``'s for nnU-Net and MSD folders); the majority of what those images say
  (DICOM tag, pictures are X-rays, else a minimum below -500 HU means CT);
- **normalisation**, by modality: CT the fixed window ``--ct-window`` (default -1000..1000
  HU, the pre-training default), MR the 0.5-99.5 percentiles of each volume, X-ray and
  other images min-max per image.

A checkpoint pre-trained at another patch, spacing or window is still used: the U-Net is
fully convolutional, so its weights do not depend on the input size. The fine-tuning logs
and ``summary.json`` record both geometries (:func:`pretraining_geometry`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from semgen.finetune.config import FinetuneConfig
from semgen.finetune.data import RECIPES, Geometry, TaskData, TaskDataError
from semgen.io.intensity import modality_window
from semgen.models.unet import DIVISOR

log = logging.getLogger(__name__)

DEFAULT_PATCH = {2: (64, 64), 3: (64, 64, 32)}
PROBE_SAMPLES = 16
"""Images read to decide what the task itself must tell (2D or 3D, median spacing, modality)."""


def _probe(data: TaskData, modality: str | None) -> list[Any]:
    """Up to :data:`PROBE_SAMPLES` readable scans spread evenly over ``data.samples``."""
    from semgen.io import read_scan

    n = len(data.samples)
    picks = sorted({int(i) for i in np.linspace(0, n - 1, min(n, PROBE_SAMPLES))}) if n else []
    scans = []
    for i in picks:
        try:
            scans.append(read_scan(data.samples[i].image, modality=modality))
        except (ValueError, OSError, RuntimeError):
            continue  # reported with its reason when the samples are loaded
    if not scans:
        raise TaskDataError(f"{data.root}: none of {len(picks)} images spread over the task could be read")
    return scans


def _default_patch(scans: list[Any], dims: int, spacing: tuple[float, ...] | None) -> tuple[tuple[int, ...], str]:
    """64x64 (2D) / 64x64x32 (3D), cut per axis to the median image size at the fine-tuning
    spacing (rounded up to a multiple of 8), so small images are not mostly padding."""
    sizes = np.array([np.asarray(s.shape) * np.asarray(s.spacing) / np.asarray(spacing or s.spacing)
                      for s in scans if s.ndim == dims], dtype=np.float64)
    median = np.median(sizes, axis=0)
    patch = tuple(min(d, max(DIVISOR, int(np.ceil(m / DIVISOR)) * DIVISOR)) for d, m in zip(DEFAULT_PATCH[dims], median))
    how = "default" if patch == DEFAULT_PATCH[dims] else \
        f"default {'x'.join(map(str, DEFAULT_PATCH[dims]))} cut to the median size of {len(sizes)} images of the task"
    return patch, how


def _modality(cfg: FinetuneConfig, data: TaskData, probe: Callable[[], list[Any]]) -> tuple[str, str]:
    """The task's modality and where it came from: the flag, the recipe or layout, or the
    majority of the probed images (warning when they disagree)."""
    if cfg.modality:
        return cfg.modality, "--modality"
    if data.modality:
        return data.modality, f"recipe {data.recipe}" if data.recipe else "the task's layout"
    votes = Counter(s.modality for s in probe())
    modality = votes.most_common(1)[0][0]
    if len(votes) > 1:
        log.warning("the task's images disagree on the modality (%s): all are normalised as %s (set --modality to choose)",
                    ", ".join(f"{m} {n}" for m, n in votes.most_common()), modality)
    return modality, f"{votes[modality]} of {sum(votes.values())} images of the task"


def task_geometry(cfg: FinetuneConfig, data: TaskData) -> Geometry:
    """Patch, spacing, modality and normalisation of the task ``data`` under ``cfg``, by the
    rules of this module; ``Geometry.sources`` says where each came from."""
    recipe = RECIPES.get(data.recipe or "")
    sources: dict[str, str] = {}
    scans: list[Any] | None = None

    def probe() -> list[Any]:
        nonlocal scans
        if scans is None:
            scans = _probe(data, cfg.modality or data.modality)
        return scans

    if cfg.patch:
        dims, sources["spatial_dims"] = len(cfg.patch), "--patch"
    elif recipe:
        dims, sources["spatial_dims"] = recipe.spatial_dims, f"recipe {recipe.name}"
    else:
        found = Counter(s.ndim for s in probe())
        dims, sources["spatial_dims"] = found.most_common(1)[0][0], f"{sum(found.values())} images of the task"

    spacing = None
    if dims == 3 and not cfg.resample:
        sources["spacing"] = "--no-resample"
    elif dims == 3 and cfg.spacing:
        spacing, sources["spacing"] = tuple(float(s) for s in cfg.spacing), "--spacing"
    elif dims == 3 and recipe and recipe.spacing:
        spacing, sources["spacing"] = tuple(recipe.spacing), f"recipe {recipe.name}"
    elif dims == 3:
        spacings = np.array([s.spacing for s in probe() if s.ndim == 3], dtype=np.float64)
        spacing = tuple(round(float(v), 4) for v in np.median(spacings, axis=0))
        sources["spacing"] = f"median of {len(spacings)} images of the task"

    if cfg.patch:
        patch, sources["patch"] = tuple(cfg.patch), "--patch"
    elif recipe and recipe.spatial_dims == dims:
        patch, sources["patch"] = recipe.patch, f"recipe {recipe.name}"
    else:
        patch, sources["patch"] = _default_patch(probe(), dims, spacing)
    if len(patch) != dims or any(p % DIVISOR for p in patch):
        raise TaskDataError(f"patch {'x'.join(map(str, patch))}: need {dims} sizes, each divisible by {DIVISOR}")

    modality, sources["modality"] = _modality(cfg, data, probe)
    window = modality_window(modality, cfg.ct_window)
    sources["normalisation"] = "--ct-window" if cfg.ct_window and modality == "CT" else f"{modality} default"
    return Geometry(dims, tuple(int(p) for p in patch), spacing, modality, window, sources)


def pretraining_geometry(meta: dict[str, Any]) -> Geometry | None:
    """The geometry a checkpoint was pre-trained at (from its metadata), or None when the
    metadata does not say (scratch, published weights)."""
    patch = meta.get("patch_size")
    if not patch:
        return None
    window = meta.get("intensity_window") if isinstance(meta.get("intensity_window"), dict) else None
    kind = (window or {}).get("kind")
    modality = {"ct": "CT", "mr": "MR", "xr": "XR", "minmax": "OT"}.get(kind or "")
    spacing = tuple(float(s) for s in meta["spacing"]) if meta.get("spacing") else None
    return Geometry(int(meta.get("spatial_dims") or len(patch)), tuple(int(p) for p in patch), spacing, modality, window)


def check_init(geometry: Geometry, meta: dict[str, Any], name: str) -> str | None:
    """Refuse a checkpoint of the other dimensionality; return the line that compares its
    pre-training geometry with the fine-tuning geometry (None without metadata)."""
    pre = pretraining_geometry(meta)
    if pre is None:
        return None
    if pre.spatial_dims != geometry.spatial_dims:
        raise TaskDataError(f"--init {name}: a {pre.spatial_dims}D checkpoint cannot fine-tune this {geometry.spatial_dims}D task")
    if pre.inputs_key() == geometry.inputs_key():
        return f"{name}: pre-trained and fine-tuned at {geometry.describe()}"
    return (f"{name}: pre-trained at {pre.describe()}; fine-tuned at {geometry.describe()} "
            "(the same for every initialisation; the fully convolutional weights do not depend on the input size)")
