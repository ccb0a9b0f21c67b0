"""Write a synthetic chest-CT cohort to disk: NIfTI images, organ labels, nodule masks,
candidate list, manifest, montage and resolved configuration.

Patients are generated in parallel worker processes; patient ``i`` is built from its own
seed ``derive_seed(seed, "phantom", i)`` and its type from a seeded, balanced assignment,
so the output is identical for any number of workers. The output folder is claimed through
the stage contract (:mod:`semgen.stage`): a folder holding phantoms of another count, seed or
preset is refused without ``--overwrite``; one holding the same cohort is reused as it is.
"""

from __future__ import annotations

import concurrent.futures
import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semgen.io.scan import write_scan
from semgen.phantoms.anatomy import LABELS, PATIENT_TYPES, PRESETS, make_phantom
from semgen.stage import StageConfig, claim_folder, require
from semgen.utils.io import atomic_write
from semgen.utils.workers import process_pool

log = logging.getLogger(__name__)

MANIFEST_FIELDS = [
    "id",
    "image",
    "labels",
    "nodules",
    "patient_type",
    "type_name",
    "shape",
    "spacing",
    "origin",
    "orientation",
    "seed",
    "preset",
    "n_nodules",
    "n_lookalikes",
    "lung_volume_ml",
    "heart_volume_ml",
    "fov_start_mm",
    "roll_deg",
]
CANDIDATE_FIELDS = ["id", "x", "y", "z", "x_mm", "y_mm", "z_mm", "radius_mm", "label", "kind"]
OUTPUTS = ("images", "labels", "nodules", "candidates.csv", "manifest.csv", "montage.png")


@dataclass
class PhantomsConfig(StageConfig):
    """Configuration of ``semgen phantoms`` (saved as ``OUT/config.yaml``).

    ``out``: output folder; ``n``: number of patients; ``seed``: cohort seed; ``preset``:
    one of :data:`~semgen.phantoms.anatomy.PRESETS`; ``workers``: worker processes
    (0 = one per CPU core, at most ``n``); ``montage_patients``: patients drawn in the montage;
    ``overwrite``: replace phantoms of another count, seed or preset in ``out``.
    """

    IDENTITY = ("n", "seed", "preset", "montage_patients")

    out: Path | None = None
    n: int = 32
    seed: int = 0
    preset: str = "small"
    workers: int = 0
    montage_patients: int = 4
    overwrite: bool = False

    def validate(self) -> None:
        """Raise :class:`~semgen.stage.ConfigError` naming the bad option."""
        require(self.out is not None, "phantoms: an output folder is required")
        require(self.n >= 1, f"--n must be at least 1, got {self.n}")
        require(self.seed >= 0, f"--seed must be non-negative, got {self.seed}")
        require(self.preset in PRESETS, f"--preset: unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        require(self.workers >= 0, f"--workers must be 0 (auto) or more, got {self.workers}")
        require(self.montage_patients >= 0, f"montage_patients must be 0 or more, got {self.montage_patients}")


@dataclass
class PhantomsResult:
    """What :func:`phantoms` wrote: ``manifest`` (``OUT/manifest.csv``), the phantoms' ``shape``
    and ``spacing`` (text like ``128x128x64``), their ``types``, the ``nodules`` and
    ``lookalikes`` in ``candidates.csv``; ``reused``: the folder already held this cohort."""

    manifest: Path
    n: int
    shape: str
    spacing: str
    types: list[str]
    nodules: int
    lookalikes: int
    reused: bool

    @property
    def root(self) -> Path:
        return self.manifest.parent

    @classmethod
    def from_rows(cls, manifest: Path, rows: list[dict[str, Any]], reused: bool) -> PhantomsResult:
        return cls(
            manifest=manifest, n=len(rows), shape=str(rows[0]["shape"]), spacing=str(rows[0]["spacing"]),
            types=sorted({str(r["type_name"]) for r in rows}), nodules=sum(int(r["n_nodules"]) for r in rows),
            lookalikes=sum(int(r["n_lookalikes"]) for r in rows), reused=reused,
        )


def patient_plan(n: int, seed: int) -> list[tuple[str, int, int]]:
    """(id, patient seed, patient type) of each of ``n`` patients: types balanced and shuffled by ``seed``."""
    from semgen.utils.seeding import derive_seed, numpy_rng

    types = numpy_rng(seed, "phantom", "types").permutation(n) % len(PATIENT_TYPES)
    return [(f"phantom_{i:03d}", derive_seed(seed, "phantom", i), int(types[i])) for i in range(n)]


def write_cohort(
    out: str | os.PathLike,
    n: int,
    seed: int,
    preset: str = "small",
    *,
    workers: int = 0,
    montage_patients: int = 4,
) -> Path:
    """:func:`phantoms` with these options; returns ``out/manifest.csv``."""
    return phantoms(PhantomsConfig(Path(out), n, seed, preset, workers, montage_patients)).manifest


def phantoms(cfg: PhantomsConfig) -> PhantomsResult:
    """Generate ``cfg.n`` phantoms and write them under ``cfg.out`` (``semgen phantoms``).

    Writes ``images/<id>.nii.gz`` (int16 HU), ``labels/<id>.nii.gz`` (uint8 organ labels,
    :data:`~semgen.phantoms.anatomy.LABELS`), ``nodules/<id>.nii.gz`` (uint8 nodule mask),
    ``candidates.csv`` (voxel and LPS mm centres, radius, label 1 nodule / 0 look-alike),
    ``manifest.csv`` (one row per patient), ``montage.png`` and ``config.yaml``. Every file
    is written atomically. ``workers`` = 0 uses one process per CPU core (at most ``n``).
    """
    root = Path(cfg.out)
    with claim_folder(root, stage="phantoms", identity=cfg.identity(), outputs=OUTPUTS, config=cfg,
                      overwrite=cfg.overwrite) as claim:
        manifest = root / "manifest.csv"
        if claim.resumed and manifest.is_file():
            with open(manifest, newline="") as f:
                return PhantomsResult.from_rows(manifest, list(csv.DictReader(f)), reused=True)
        results = _generate_all(cfg)
        _write_tables(root, results)
        panels = [r["panel"] for r in results if r["panel"] is not None]
        if panels:
            from semgen.viz.montage import draw_montage

            draw_montage(panels, root / "montage.png", label_names=LABELS)
    return PhantomsResult.from_rows(manifest, [r["row"] for r in results], reused=False)


def _generate_all(cfg: PhantomsConfig) -> list[dict[str, Any]]:
    """Every patient of ``cfg`` generated and written (in worker processes), sorted by id."""
    from semgen.utils.progress import Pace, progress

    root = Path(cfg.out)
    for sub in ("images", "labels", "nodules"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    plan = patient_plan(cfg.n, cfg.seed)
    first_of_type: dict[int, int] = {}
    for i, (_, _, ptype) in enumerate(plan):
        first_of_type.setdefault(ptype, i)
    shown = sorted(first_of_type.values())[: cfg.montage_patients]
    jobs = [(str(root), pid, pseed, cfg.preset, ptype, i in shown) for i, (pid, pseed, ptype) in enumerate(plan)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n_workers = min(cfg.n, cfg.workers or cores)
    results: list[dict[str, Any]] = []
    bar = progress(total=cfg.n, desc="phantoms", unit="patient")
    pace = Pace(log, "phantoms", cfg.n, unit="patient", every=10)
    if n_workers == 1:
        for job in jobs:
            results.append(_generate(*job))
            bar.update()
            pace.step(len(results), f"{cfg.preset} preset, {n_workers} process(es)")
    else:
        with process_pool(n_workers) as pool:
            futures = [pool.submit(_generate, *job) for job in jobs]
            for future in concurrent.futures.as_completed(futures):
                results.append(future.result())
                bar.update()
                pace.step(len(results), f"{cfg.preset} preset, {n_workers} process(es)")
    bar.close()
    results.sort(key=lambda r: r["row"]["id"])
    return results


def _write_tables(root: Path, results: list[dict[str, Any]]) -> None:
    """``candidates.csv`` and ``manifest.csv`` of the generated patients."""
    with atomic_write(root / "candidates.csv", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CANDIDATE_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerows(r["candidates"])
    with atomic_write(root / "manifest.csv", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(r["row"] for r in results)


def _fmt(values) -> str:
    return "x".join(f"{v:g}" for v in values)


def _generate(root: str, pid: str, seed: int, preset: str, ptype: int, want_panel: bool) -> dict[str, Any]:
    """Worker: build one phantom, write its three NIfTI files, return its manifest row,
    candidate rows and (when asked) the slices for the montage."""
    ph = make_phantom(seed, preset, ptype)
    out = Path(root)
    name = f"{pid}.nii.gz"
    hu = np.rint(ph.image).astype(np.int16)
    write_scan(out / "images" / name, hu, ph.spacing, ph.origin)
    write_scan(out / "labels" / name, ph.labels, ph.spacing, ph.origin)
    write_scan(out / "nodules" / name, ph.nodule_mask, ph.spacing, ph.origin)
    return {"row": _manifest_row(ph, pid, name, seed, preset), "candidates": _candidate_rows(ph, pid),
            "panel": _panel(ph, pid, hu) if want_panel else None}


def _manifest_row(ph, pid: str, name: str, seed: int, preset: str) -> dict[str, Any]:
    return {
        "id": pid,
        "image": f"images/{name}",
        "labels": f"labels/{name}",
        "nodules": f"nodules/{name}",
        "patient_type": ph.patient_type,
        "type_name": ph.params["type_name"],
        "shape": _fmt(ph.image.shape),
        "spacing": _fmt(ph.spacing),
        "origin": _fmt(round(o, 3) for o in ph.origin),
        "orientation": "LPS",
        "seed": seed,
        "preset": preset,
        "n_nodules": len(ph.nodules),
        "n_lookalikes": len(ph.lookalikes),
        "lung_volume_ml": ph.params["lung_volume_ml"],
        "heart_volume_ml": ph.params["heart_volume_ml"],
        "fov_start_mm": ph.params["fov_start"],
        "roll_deg": ph.params["roll_deg"],
    }


def _candidate_rows(ph, pid: str) -> list[dict[str, Any]]:
    """One ``candidates.csv`` row per nodule (label 1) and look-alike (label 0), centres in voxels and LPS mm."""
    rows = []
    for label, group in ((1, ph.nodules), (0, ph.lookalikes)):
        for c in group:
            mm = np.asarray(ph.origin) + np.asarray(c.center) * np.asarray(ph.spacing)
            rows.append({
                "id": pid, "x": c.center[0], "y": c.center[1], "z": c.center[2],
                "x_mm": round(float(mm[0]), 2), "y_mm": round(float(mm[1]), 2), "z_mm": round(float(mm[2]), 2),
                "radius_mm": c.radius_mm, "label": label, "kind": c.kind,
            })
    return rows


def _panel(ph, pid: str, hu: np.ndarray) -> dict[str, Any]:
    """The montage's slices of one patient: the middle axial slice and a coronal one through the lungs."""
    z_mid = hu.shape[2] // 2
    lung_y = np.flatnonzero((ph.labels == 1).any(axis=(0, 2)))
    y_mid = int(lung_y.mean()) if len(lung_y) else hu.shape[1] // 2
    return {
        "id": pid,
        "type_name": ph.params["type_name"],
        "spacing": ph.spacing,
        "axial": hu[:, :, z_mid].copy(),
        "coronal": hu[:, y_mid, :].copy(),
        "coronal_labels": ph.labels[:, y_mid, :].copy(),
        "z": z_mid,
        "y": y_mid,
    }
