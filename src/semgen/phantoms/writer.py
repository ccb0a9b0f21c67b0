"""Write a synthetic chest-CT cohort to disk: NIfTI images, organ labels, nodule masks,
candidate list, manifest, montage and resolved configuration.

Patients are generated in parallel worker processes; patient ``i`` is built from its own
seed ``derive_seed(seed, "phantom", i)`` and its type from a seeded, balanced assignment,
so the output is identical for any number of workers.
"""

from __future__ import annotations

import concurrent.futures
import csv
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semgen.phantoms.anatomy import PATIENT_TYPES, PRESETS, make_phantom
from semgen.utils.io import atomic_path, atomic_write

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


@dataclass
class PhantomsConfig:
    """Configuration of ``semgen phantoms`` (saved as ``OUT/config.yaml``).

    ``out``: output folder; ``n``: number of patients; ``seed``: cohort seed; ``preset``:
    one of :data:`~semgen.phantoms.anatomy.PRESETS`; ``workers``: worker processes
    (0 = one per CPU core, at most ``n``); ``montage_patients``: patients drawn in the montage.
    """

    out: Path | None = None
    n: int = 32
    seed: int = 0
    preset: str = "small"
    workers: int = 0
    montage_patients: int = 4

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad option."""
        if self.out is None:
            raise ValueError("phantoms: an output folder is required")
        if self.n < 1:
            raise ValueError(f"phantoms: --n must be at least 1, got {self.n}")
        if self.seed < 0:
            raise ValueError(f"phantoms: --seed must be non-negative, got {self.seed}")
        if self.preset not in PRESETS:
            raise ValueError(f"phantoms: unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.workers < 0:
            raise ValueError(f"phantoms: --workers must be 0 (auto) or more, got {self.workers}")
        if self.montage_patients < 0:
            raise ValueError(f"phantoms: montage_patients must be 0 or more, got {self.montage_patients}")


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
    """Generate ``n`` phantoms and write them under ``out``; returns ``out/manifest.csv``.

    Writes ``images/<id>.nii.gz`` (int16 HU), ``labels/<id>.nii.gz`` (uint8 organ labels,
    :data:`~semgen.phantoms.anatomy.LABELS`), ``nodules/<id>.nii.gz`` (uint8 nodule mask),
    ``candidates.csv`` (voxel and LPS mm centres, radius, label 1 nodule / 0 look-alike),
    ``manifest.csv`` (one row per patient), ``montage.png`` and ``config.yaml``. Every file
    is written atomically. ``workers`` = 0 uses one process per CPU core (at most ``n``).
    """
    from semgen.utils.config import save_config
    from semgen.utils.progress import progress

    cfg = PhantomsConfig(Path(out), n, seed, preset, workers, montage_patients)
    cfg.validate()
    root = Path(out)
    for sub in ("images", "labels", "nodules"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    plan = patient_plan(n, seed)
    first_of_type: dict[int, int] = {}
    for i, (_, _, ptype) in enumerate(plan):
        first_of_type.setdefault(ptype, i)
    shown = sorted(first_of_type.values())[:montage_patients]
    jobs = [(str(root), pid, pseed, preset, ptype, i in shown) for i, (pid, pseed, ptype) in enumerate(plan)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n_workers = min(n, workers or cores)
    results: list[dict[str, Any]] = []
    bar = progress(total=n, desc="phantoms", unit="patient")
    if n_workers == 1:
        for job in jobs:
            results.append(_generate(*job))
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(n_workers, mp_context=context) as pool:
            futures = [pool.submit(_generate, *job) for job in jobs]
            for future in concurrent.futures.as_completed(futures):
                results.append(future.result())
                bar.update()
    bar.close()
    results.sort(key=lambda r: r["row"]["id"])
    with atomic_write(root / "candidates.csv", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CANDIDATE_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerows(r["candidates"])
    manifest = root / "manifest.csv"
    with atomic_write(manifest, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(r["row"] for r in results)
    panels = [r["panel"] for r in results if r["panel"] is not None]
    if panels:
        from semgen.phantoms.montage import draw_montage

        draw_montage(root / "montage.png", panels)
    save_config(cfg, root / "config.yaml")
    return manifest


def _fmt(values) -> str:
    return "x".join(f"{v:g}" for v in values)


def _write_nifti(path: Path, array: np.ndarray, spacing, origin) -> None:
    """Write a canonical (X, Y, Z) array as NIfTI with spacing, origin and identity (LPS) direction."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in origin])
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), True)


def _generate(root: str, pid: str, seed: int, preset: str, ptype: int, want_panel: bool) -> dict[str, Any]:
    """Worker: build one phantom, write its three NIfTI files, return its manifest row,
    candidate rows and (when asked) the slices for the montage."""
    ph = make_phantom(seed, preset, ptype)
    out = Path(root)
    name = f"{pid}.nii.gz"
    hu = np.rint(ph.image).astype(np.int16)
    _write_nifti(out / "images" / name, hu, ph.spacing, ph.origin)
    _write_nifti(out / "labels" / name, ph.labels, ph.spacing, ph.origin)
    _write_nifti(out / "nodules" / name, ph.nodule_mask, ph.spacing, ph.origin)
    row = {
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
    candidates = []
    for label, group in ((1, ph.nodules), (0, ph.lookalikes)):
        for c in group:
            mm = np.asarray(ph.origin) + np.asarray(c.center) * np.asarray(ph.spacing)
            candidates.append(
                {
                    "id": pid,
                    "x": c.center[0],
                    "y": c.center[1],
                    "z": c.center[2],
                    "x_mm": round(float(mm[0]), 2),
                    "y_mm": round(float(mm[1]), 2),
                    "z_mm": round(float(mm[2]), 2),
                    "radius_mm": c.radius_mm,
                    "label": label,
                    "kind": c.kind,
                }
            )
    panel = None
    if want_panel:
        z_mid = hu.shape[2] // 2
        lung_y = np.flatnonzero((ph.labels == 1).any(axis=(0, 2)))
        y_mid = int(lung_y.mean()) if len(lung_y) else hu.shape[1] // 2
        panel = {
            "id": pid,
            "type_name": ph.params["type_name"],
            "spacing": ph.spacing,
            "axial": hu[:, :, z_mid].copy(),
            "coronal": hu[:, y_mid, :].copy(),
            "coronal_labels": ph.labels[:, y_mid, :].copy(),
            "z": z_mid,
            "y": y_mid,
        }
    return {"row": row, "candidates": candidates, "panel": panel}
