"""What the pre-training stage trains on: the datasets of a pattern set (``semgen discover``)
or, for sub-volume methods, of a cohort (``semgen prepare``), after the input checks.

Running the earlier stages for other inputs (scans, or none: the built-in phantoms) is the
chain's job (:mod:`semgen.pipeline`).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from semgen.models.unet import DIVISOR
from semgen.tasks import Method, get_method
from semgen.training.config import PretrainConfig
from semgen.training.data import SubvolumeDataset
from semgen.training.trainer import TrainingData
from semgen.utils.splits import validation_patients

log = logging.getLogger(__name__)

# crop size for sub-volume methods (and for discovery in the CPU chain) when --patch is not given
CPU_PATCH = {3: (32, 32, 16), 2: (64, 64)}
PAPER_PATCH = {3: (64, 64, 32), 2: (224, 224)}


def detect_input(path: str | Path) -> str:
    """``"patterns"``, ``"cohort"`` or ``"scans"`` for an INPUT path; ``ValueError`` when it does not exist."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file or folder")
    if p.is_dir() and (p / "classes.json").is_file():
        return "patterns"
    if p.is_dir() and (p / "manifest.csv").is_file() and (p / "arrays").is_dir():
        return "cohort"
    return "scans"


def _default_patch(cfg: PretrainConfig, spatial_dims: int) -> tuple[int, ...]:
    if cfg.patch is not None:
        return tuple(cfg.patch)
    return (PAPER_PATCH if cfg.preset == "paper" else CPU_PATCH)[spatial_dims]


def _open_cohort(path: Path):
    from semgen.cohort.store import Cohort

    try:
        return Cohort(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot open the cohort ({e})") from None


def given_inputs(cfg: PretrainConfig, run_dir: Path) -> dict[str, str | None]:
    """``{"cohort", "patterns"}`` paths of ``cfg.input`` when it is a pattern set, or a cohort for a
    method that needs no discovery; other inputs need the earlier stages (:mod:`semgen.pipeline`)."""
    kind = detect_input(cfg.input) if cfg.input is not None else "phantoms"
    if kind == "patterns":
        from semgen.discovery.dataset import PatternSet

        return {"cohort": str(PatternSet(cfg.input).cohort_path), "patterns": str(cfg.input)}
    if kind == "cohort" and not get_method(cfg.method).needs_discovery:
        return {"cohort": str(cfg.input), "patterns": None}
    raise ValueError(
        f"{cfg.input or 'no input'}: the pre-training stage takes a pattern set (or a cohort for a method without "
        "discovery); semgen.pipeline.pretrain runs the earlier stages for scans or the built-in phantoms"
    )


def _check_patch(patch: tuple[int, ...], limit: tuple[int, ...], spatial_dims: int, what: str) -> None:
    if len(patch) != spatial_dims:
        raise ValueError(f"--patch {'x'.join(map(str, patch))} has {len(patch)} sizes but {what} is {spatial_dims}D")
    if any(p > c for p, c in zip(patch, limit)):
        raise ValueError(
            f"--patch {'x'.join(map(str, patch))} is larger than {what} ({'x'.join(map(str, limit))}); "
            "use a patch no larger than the crops"
        )
    if any(p % DIVISOR for p in patch):
        raise ValueError(f"--patch {'x'.join(map(str, patch))}: every size must be divisible by {DIVISOR} (three 2x poolings)")


def _cohort_metadata(cohort) -> dict[str, Any]:
    records = cohort.records
    windows = Counter(str(r.window) for r in records)
    window = next(r.window for r in records if str(r.window) == windows.most_common(1)[0][0])
    return {
        "spacing": [float(s) for s in np.median(np.array([r.spacing for r in records]), axis=0)],
        "intensity_window": window,
        "orientation": "LPS"[: cohort.spatial_dims],
        "manifest_hash": cohort.manifest_hash(),
        "extra": {"modality": Counter(r.modality for r in records).most_common(1)[0][0], "cohort": str(cohort.root),
                  "scans": len(records)},
    }


def load_training_data(cfg: PretrainConfig, paths: dict[str, str | None]) -> TrainingData:
    """The datasets of ``cfg.method`` from the inputs' paths, after the input checks:
    at least 2 pattern classes for a classifying method, a patch no larger than the crops
    (or scans) and divisible by 8."""
    method = get_method(cfg.method)
    if method.needs_discovery:
        return _pattern_data(cfg, method, Path(paths["patterns"]))
    return _subvolume_data(cfg, Path(paths["cohort"]))


def _pattern_data(cfg: PretrainConfig, method: Method, root: Path) -> TrainingData:
    from semgen.discovery.dataset import PatternDataset, PatternSet

    patterns = PatternSet(root)
    if method.classification and patterns.num_classes < 2:
        raise ValueError(
            f"{root}: the pattern set has {patterns.num_classes} class(es); {method.name} classifies patterns and "
            "needs at least 2 (discover more classes)"
        )
    patch = tuple(cfg.patch) if cfg.patch is not None else patterns.patch_size
    _check_patch(patch, patterns.patch_size, patterns.spatial_dims, f"the crops of {root}")
    train = PatternDataset(root, "train", patch)
    validation = PatternDataset(root, "validation", patch)
    if len(train) == 0:
        raise ValueError(f"{root}: the pattern set has no training crops")
    return TrainingData(
        train=train,
        validation=validation if len(validation) else None,
        spatial_dims=patterns.spatial_dims,
        patch=patch,
        num_classes=patterns.num_classes,
        metadata={**_cohort_metadata(patterns.cohort), "patterns": str(root)},
    )


def _subvolume_data(cfg: PretrainConfig, root: Path) -> TrainingData:
    cohort = _open_cohort(root)
    if len(cohort) == 0:
        raise ValueError(f"{root}: the cohort has no scans")
    dims = cohort.spatial_dims
    patch = _default_patch(cfg, dims)
    largest = tuple(int(v) for v in np.max(np.array([r.shape for r in cohort.records]), axis=0))
    _check_patch(patch, largest, dims, f"every scan of {root}")
    usable = [r for r in cohort.records if all(p <= s for p, s in zip(patch, r.shape))]
    if len(usable) < len(cohort):
        log.warning("%d scan(s) of %s are smaller than the %s patch and are left out",
                    len(cohort) - len(usable), root, "x".join(map(str, patch)))
    val_patients = validation_patients([r.patient for r in usable], cfg.val_fraction, cfg.seed, "patient-split")
    train_ids = [r.id for r in usable if r.patient not in val_patients]
    val_ids = [r.id for r in usable if r.patient in val_patients]
    if not val_patients:  # a single patient: validation uses other, fixed crops of the same scans
        val_ids = train_ids
    shape = {r.id: r.shape for r in usable}

    def dataset(ids: list[str], fixed: bool) -> SubvolumeDataset:
        per_scan = cfg.subvolumes_per_scan if not fixed else max(1, cfg.subvolumes_per_scan // 4)
        return SubvolumeDataset(root, ids, [shape[i] for i in ids], patch, per_scan, cfg.seed, fixed=fixed)

    return TrainingData(
        train=dataset(train_ids, False),
        validation=dataset(val_ids, True),
        spatial_dims=dims,
        patch=patch,
        num_classes=0,
        metadata=_cohort_metadata(cohort),
    )
