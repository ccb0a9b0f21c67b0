"""The chain that ``semgen pretrain`` runs, built from the stages: the built-in phantoms
(:mod:`semgen.phantoms`) or the given scans -> ``prepare`` (:mod:`semgen.cohort.prepare`)
-> ``discover`` (:mod:`semgen.discovery`) -> the pre-training stage (:mod:`semgen.training`).

INPUT kinds (:func:`~semgen.training.inputs.detect_input`): a folder with ``classes.json``
is a pattern set; one with ``manifest.csv`` and ``arrays/`` is a cohort; anything else is
scans to prepare; no INPUT = the built-in synthetic chest-CT cohort. The earlier stages write
into ``RUN/phantoms``, ``RUN/cohort`` and ``RUN/patterns``, each claiming its own folder
(:mod:`semgen.stage`), so a re-run (or ``--resume``) reuses what is there and
``--overwrite`` starts each of them again.

Imports run one way: the command line -> this module -> the stages -> the building blocks.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semgen.tasks import get_method
from semgen.training.config import PretrainConfig
from semgen.training.inputs import CPU_PATCH, detect_input, given_inputs
from semgen.training.result import PretrainResult
from semgen.training.pipeline import pretrain as pretrain_stage

log = logging.getLogger(__name__)

PHANTOM_PRESET = "small"
# the CPU chain's discovery: few classes and neighbours, small crops, and discovery's "cpu"
# auto-encoder preset (coarse whole-scan grid: enough to tell a few dozen patients apart),
# trained for 15 epochs; sized with the pre-training preset so that the whole main job fits
# 3 minutes on 2 cores without AVX-512 (README, "Quick start"); 6 validation scans per class
# (the 32 phantoms' 6 validation patients): 48 validation crops, so that the pattern accuracy
# the main job reports moves in steps of 2 points, not 4
CPU_DISCOVERY = {"classes": 8, "neighbors": 16, "val_neighbors": 6, "preset": "cpu", "ae_epochs": 15}


def _phantoms(cfg: PretrainConfig, run_dir: Path) -> Path:
    from semgen.phantoms.writer import PhantomsConfig, phantoms

    out = run_dir / "phantoms"
    log.info("synthetic chest-CT phantoms (%d) in %s", cfg.phantoms, out)
    result = phantoms(PhantomsConfig(out=out, n=cfg.phantoms, seed=cfg.seed, preset=PHANTOM_PRESET, overwrite=cfg.overwrite))
    return result.root / "images"


def _prepare(scans: Path, run_dir: Path, cfg: PretrainConfig) -> Path:
    from semgen.cohort.prepare import PrepareConfig, prepare

    out = run_dir / "cohort"
    result = prepare(PrepareConfig(inputs=(str(scans),), out=str(out), seed=cfg.seed, overwrite=cfg.overwrite))
    if not result.scans:
        raise ValueError(f"{scans}: no scan could be prepared (see {out / 'report.json'})")
    return out


def _discover(cohort: Path, run_dir: Path, cfg: PretrainConfig) -> Path:
    """Self-discovery into RUN/patterns: ``--discovery-config`` YAML first, then (for what it
    leaves unset) the seed, the device, ``--patch`` and, in the CPU preset, :data:`CPU_DISCOVERY`
    with the CPU crop size."""
    import yaml

    from semgen.cohort.store import Cohort
    from semgen.discovery.config import DiscoveryConfig
    from semgen.discovery.pipeline import discover
    from semgen.utils.config import build_config

    given: set[str] = set()
    if cfg.discovery_config is not None:
        dcfg = build_config(DiscoveryConfig, cfg.discovery_config)
        with open(cfg.discovery_config) as f:
            given = {DiscoveryConfig.RENAMED.get(k, k) for k in yaml.safe_load(f) or {}}
    else:
        dcfg = DiscoveryConfig()
    defaults: dict[str, Any] = {"seed": cfg.seed, "device": cfg.device}
    if cfg.preset == "cpu":
        defaults.update(CPU_DISCOVERY, patch=CPU_PATCH[Cohort(cohort).spatial_dims])
    if cfg.patch is not None:
        defaults["patch"] = tuple(cfg.patch)
    dcfg = dataclasses.replace(dcfg, **{k: v for k, v in defaults.items() if k not in given})
    return discover(cohort, run_dir / "patterns", dcfg, overwrite=cfg.overwrite).out


def chain_inputs(cfg: PretrainConfig, run_dir: Path) -> dict[str, str | None]:
    """Run the stages the method needs (rank 0 only); returns ``{"cohort", "patterns"}`` paths
    (``patterns`` is ``None`` for sub-volume methods given a cohort or scans)."""
    method = get_method(cfg.method)
    kind = detect_input(cfg.input) if cfg.input is not None else "phantoms"
    if kind == "patterns":
        return given_inputs(cfg, run_dir)
    if kind == "cohort":
        cohort = Path(cfg.input)
    else:
        scans = _phantoms(cfg, run_dir) if kind == "phantoms" else Path(cfg.input)
        cohort = _prepare(scans, run_dir, cfg)
    patterns = _discover(cohort, run_dir, cfg) if method.needs_discovery else None
    return {"cohort": str(cohort), "patterns": str(patterns) if patterns is not None else None}


def pretrain(config: PretrainConfig, *, on_step: Callable[[int, int], None] | None = None) -> PretrainResult | None:
    """``semgen pretrain``: the pre-training stage on :func:`chain_inputs` (see the module docstring)."""
    return pretrain_stage(config, inputs=chain_inputs, on_step=on_step)
