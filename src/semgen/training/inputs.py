"""What ``semgen pretrain INPUT`` trains on, running the earlier stages as needed (cached in RUN).

INPUT kinds (:func:`detect_input`): a folder with ``classes.json`` is a pattern set
(``semgen discover``); one with ``manifest.csv`` and ``arrays/`` is a cohort
(``semgen prepare``); anything else is scans to prepare. No INPUT = the built-in
synthetic chest-CT cohort (``semgen.phantoms``). Stages write into ``RUN/phantoms``,
``RUN/cohort`` and ``RUN/patterns``; each stage resumes / reuses its own finished
output, so a re-run (or ``--resume``) does not redo them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from semgen.tasks import Method, get_method
from semgen.training.config import PretrainConfig
from semgen.training.data import SubvolumeDataset, split_patients
from semgen.training.trainer import TrainingData

log = logging.getLogger(__name__)

DIVISOR = 8  # three 2x poolings in the U-Net
PHANTOM_PRESET = "small"
# crop size for sub-volume methods (and for discovery in the CPU chain) when --patch is not given
CPU_PATCH = {3: (32, 32, 16), 2: (64, 64)}
PAPER_PATCH = {3: (64, 64, 32), 2: (224, 224)}
# the CPU chain's discovery: few classes and neighbours, small crops, and discovery's "cpu"
# auto-encoder preset (coarse whole-scan grid: enough to tell a few dozen patients apart)
CPU_DISCOVERY = {"classes": 8, "neighbors": 16, "val_neighbors": 6, "preset": "cpu"}


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


def _phantom_cohort(cfg: PretrainConfig, run_dir: Path) -> Path:
    import yaml

    from semgen.phantoms import write_cohort

    out = run_dir / "phantoms"
    if (out / "manifest.csv").is_file():
        with open(out / "config.yaml") as f:
            made = yaml.safe_load(f) or {}
        if (made.get("n"), made.get("seed"), made.get("preset")) != (cfg.phantoms, cfg.seed, PHANTOM_PRESET):
            raise ValueError(
                f"{out} holds {made.get('n')} phantoms of seed {made.get('seed')}, not {cfg.phantoms} of seed {cfg.seed}; "
                "use --overwrite (which starts the whole chain again) or another --out"
            )
        return out / "images"
    log.info("writing %d synthetic chest-CT phantoms to %s", cfg.phantoms, out)
    write_cohort(out, cfg.phantoms, cfg.seed, PHANTOM_PRESET)
    return out / "images"


def _prepare(scans: Path, run_dir: Path, cfg: PretrainConfig) -> Path:
    from semgen.cohort.prepare import PrepareConfig, prepare

    out = run_dir / "cohort"
    report = prepare(PrepareConfig(inputs=(str(scans),), out=str(out), seed=cfg.seed))
    if not report["scans"]:
        raise ValueError(f"{scans}: no scan could be prepared (see {out / 'report.json'})")
    return out


def _discover(cohort: Path, run_dir: Path, cfg: PretrainConfig) -> Path:
    """Self-discovery into RUN/patterns: ``--discovery-config`` YAML first, then (for what it
    leaves unset) the seed, the device, ``--patch`` and, in the CPU preset, :data:`CPU_DISCOVERY`
    with the CPU crop size."""
    import yaml

    from semgen.discovery import DiscoveryConfig, discover
    from semgen.utils.config import build_config

    given: set[str] = set()
    if cfg.discovery_config is not None:
        dcfg = build_config(DiscoveryConfig, cfg.discovery_config)
        with open(cfg.discovery_config) as f:
            given = set(yaml.safe_load(f) or {})
    else:
        dcfg = DiscoveryConfig()
    defaults: dict[str, Any] = {"seed": cfg.seed, "device": cfg.device}
    if cfg.preset == "cpu":
        dims = _open_cohort(cohort).spatial_dims
        defaults.update(CPU_DISCOVERY, patch_size=CPU_PATCH[dims])
    if cfg.patch is not None:
        defaults["patch_size"] = tuple(cfg.patch)
    dcfg = dataclasses.replace(dcfg, **{k: v for k, v in defaults.items() if k not in given})
    return discover(cohort, run_dir / "patterns", dcfg)


def _open_cohort(path: Path):
    from semgen.cohort import Cohort

    try:
        return Cohort(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot open the cohort ({e})") from None


def prepare_inputs(cfg: PretrainConfig, run_dir: Path) -> dict[str, str | None]:
    """Run the stages the method needs (rank 0 only); returns ``{"cohort", "patterns"}`` paths
    (``patterns`` is ``None`` for sub-volume methods given a cohort or scans)."""
    method = get_method(cfg.method)
    kind = detect_input(cfg.input) if cfg.input is not None else "phantoms"
    if kind == "patterns":
        from semgen.discovery import PatternSet

        patterns = PatternSet(cfg.input)
        return {"cohort": str(patterns.cohort_path), "patterns": str(cfg.input)}
    if kind == "cohort":
        cohort = Path(cfg.input)
    else:
        scans = _phantom_cohort(cfg, run_dir) if kind == "phantoms" else Path(cfg.input)
        cohort = _prepare(scans, run_dir, cfg)
    patterns = _discover(cohort, run_dir, cfg) if method.needs_discovery else None
    return {"cohort": str(cohort), "patterns": str(patterns) if patterns is not None else None}


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
        "extra": {"modality": Counter(r.modality for r in records).most_common(1)[0][0], "cohort": str(cohort.root)},
    }


def load_training_data(cfg: PretrainConfig, paths: dict[str, str | None]) -> TrainingData:
    """The datasets of ``cfg.method`` from :func:`prepare_inputs`' paths, after the input checks:
    at least 2 pattern classes for a classifying method, a patch no larger than the crops
    (or scans) and divisible by 8."""
    method = get_method(cfg.method)
    if method.needs_discovery:
        return _pattern_data(cfg, method, Path(paths["patterns"]))
    return _subvolume_data(cfg, Path(paths["cohort"]))


def _pattern_data(cfg: PretrainConfig, method: Method, root: Path) -> TrainingData:
    from semgen.discovery import PatternDataset, PatternSet

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
        log.warning("%d scan(s) of %s are smaller than the %s patch and are left out", len(cohort) - len(usable), root, patch)
    train_ids, val_ids = split_patients([r.id for r in usable], [r.patient for r in usable], cfg.validation_fraction, cfg.seed)
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
