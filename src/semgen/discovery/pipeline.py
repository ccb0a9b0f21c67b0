"""`semgen discover` as a function: cohort in, ``PATTERNS/`` out, resumable.

Stages (each written atomically, so an interrupted run continues where it stopped):

1. auto-encoder (``autoencoder.safetensors`` + ``.json``, best validation loss) -- or a
   given ``encoder`` checkpoint, or given ``features``;
2. one feature vector per scan (``features.npy``, rows in cohort order);
3. class planning, one class at a time into ``progress.json`` (reference, coordinate);
4. neighbours (``neighbors.json``), crop boxes (``manifest.csv``), ``atlas.png`` + ``atlas.json``, the
   optional materialised crops (``crops.npy``), and ``classes.json`` last: its presence
   means the pattern set is complete (``progress.json`` is then removed).

The folder is claimed through the stage contract (:mod:`semgen.stage`; identity: the
resolved options and the cohort's manifest hash): a re-run with the same options and cohort
continues; with other options it refuses unless ``overwrite`` is set (then the previous
outputs are removed first).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from semgen.discovery.acceptance import AcceptanceRule
from semgen.discovery.atlas import write_atlas
from semgen.discovery.autoencoder import (
    EncoderError,
    embed_grids,
    load_encoder,
    save_autoencoder,
    train_autoencoder,
)
from semgen.discovery.config import DiscoveryConfig
from semgen.discovery.manifest import read_crop, write_manifest
from semgen.discovery.neighbors import nearest
from semgen.discovery.placement import body_box
from semgen.discovery.planning import ClassPlan, CropTable, DiscoveryError, class_crops, plan_class
from semgen.stage import claim_folder
from semgen.utils.device import resolve_device
from semgen.utils.io import atomic_path, read_json, save_npy, write_json
from semgen.utils.progress import Pace, progress
from semgen.utils.splits import validation_patients
from semgen.utils.seeding import numpy_rng

log = logging.getLogger(__name__)

PROGRESS = "progress.json"
OUTPUTS = (
    "manifest.csv", "classes.json", "features.npy", "neighbors.json", "autoencoder.safetensors",
    "autoencoder.json", "atlas.png", "atlas.json", "crops.npy", PROGRESS,
)


@dataclasses.dataclass
class DiscoveryResult:
    """What :func:`discover` wrote in ``out``: the content of ``classes.json`` that a summary needs."""

    out: Path
    cohort: str
    num_classes: int
    scans: int
    patch: tuple[int, ...]
    resolutions: int
    placement: str
    acceptance: str
    crops: dict[str, int]
    rejected_references: int
    warnings: list[str]
    materialized: str | None

    @classmethod
    def from_classes(cls, out: Path, info: dict) -> DiscoveryResult:
        return cls(
            out=out, cohort=info["cohort"], num_classes=info["num_classes"], scans=len(info["scans"]),
            patch=tuple(info["patch_size"]), resolutions=info["resolutions"], placement=info["placement"],
            acceptance=info["acceptance"], crops=dict(info["crops"]), rejected_references=len(info["rejected_references"]),
            warnings=list(info["warnings"]), materialized=info.get("materialized"),
        )


@dataclasses.dataclass
class _Run:
    """One discovery's resolved inputs: the config, the cohort, the patient split and the usable scans."""

    cfg: DiscoveryConfig
    cohort_path: Path
    cohort: object
    ids: list[str]
    patients: list[str]
    shapes: np.ndarray
    usable: np.ndarray
    is_val: np.ndarray
    train_pool: np.ndarray
    val_pool: np.ndarray
    device: torch.device
    encoder: tuple | None
    cohort_hash: str
    warnings: list[str]

    @property
    def patch(self) -> tuple[int, ...]:
        return tuple(self.cfg.patch)

    def identity(self) -> dict:
        return {**self.cfg.identity(), "cohort": self.cohort_hash}


def clamp_counts(cfg: DiscoveryConfig, n_train: int, n_val: int) -> tuple[DiscoveryConfig, list[str]]:
    """Clamp C and K to the usable training scans and the validation neighbours to the
    usable validation scans; returns the clamped config and one warning per change."""
    warnings = []
    changes = {}
    if cfg.classes > n_train:
        warnings.append(
            f"{cfg.classes} classes need {cfg.classes} distinct training references but the cohort has "
            f"{n_train} usable training scans: using {n_train} classes"
        )
        changes["classes"] = n_train
    if cfg.neighbors > n_train:
        warnings.append(f"{cfg.neighbors} neighbours per class asked but only {n_train} usable training scans: using {n_train}")
        changes["neighbors"] = n_train
    if cfg.val_neighbors > n_val:
        warnings.append(
            f"{cfg.val_neighbors} validation neighbours per class asked but only {n_val} usable validation scans: using {n_val}"
        )
        changes["val_neighbors"] = n_val
    for w in warnings:
        log.warning(w)
    return dataclasses.replace(cfg, **changes), warnings


def _open_cohort(path: str | Path):
    from semgen.cohort.store import Cohort

    try:
        return Cohort(path)
    except (OSError, ValueError) as e:
        raise DiscoveryError(f"{path}: cannot open the cohort ({e}); make one from scans with `semgen prepare SCANS --out COHORT`") from None


def _load_grids(cohort, ids: list[str], grid: tuple[int, ...]) -> torch.Tensor:
    """Every scan resized to ``grid``: (N, 1, *grid) float16 (a few hundred MB at most for
    hundreds of 3D scans at the published grid)."""
    from semgen.discovery.autoencoder import resize_to_grid

    out = torch.empty((len(ids), 1, *grid), dtype=torch.float16)
    pace = Pace(log, "loading scans", len(ids), unit="scan", every=10)
    for i, scan_id in enumerate(progress(ids, desc="loading scans", unit="scan")):
        out[i] = resize_to_grid(cohort.image(scan_id), grid).half()
        pace.step(i + 1, f"resized to {'x'.join(map(str, grid))}")
    return out


def _features(cfg: DiscoveryConfig, out: Path, cohort, ids: list[str], is_val: np.ndarray, encoder, device, cohort_hash: str) -> np.ndarray:
    """Stage 1-2: the per-scan features, from ``features.npy`` when resuming."""
    path = out / "features.npy"
    if path.is_file():
        features = np.load(path)
    elif cfg.features is not None:
        try:
            features = np.load(cfg.features).astype(np.float32)
        except (OSError, ValueError) as e:
            raise DiscoveryError(f"{cfg.features}: cannot read features ({e})") from None
        save_npy(path, features)
    else:
        grids = _load_grids(cohort, ids, cfg.ae_grid)
        if encoder is not None:
            model, embed, _ = encoder
        elif (out / "autoencoder.safetensors").is_file():
            model, embed, _ = load_encoder(out / "autoencoder.safetensors")
        else:
            train = grids[torch.from_numpy(~is_val)].float()
            val = grids[torch.from_numpy(is_val)].float()
            log.info("training the auto-encoder on %d scans (%d for validation), grid %s",
                     len(train), len(val), "x".join(map(str, cfg.ae_grid)))
            model, history = train_autoencoder(
                train, val, width=cfg.ae_width, depth=cfg.ae_depth, epochs=cfg.ae_epochs, patience=cfg.ae_patience,
                batch_size=cfg.ae_batch_size, lr=cfg.ae_lr, seed=cfg.seed, device=device,
            )
            del train, val
            best = min(history, key=lambda h: h["val_loss"])
            save_autoencoder(out / "autoencoder.safetensors", model, {
                "grid": list(cfg.ae_grid), "spatial_dims": len(cfg.ae_grid), "axis_order": "XYZ"[: len(cfg.ae_grid)],
                "orientation": "LPS", "manifest_hash": cohort_hash, "best_epoch": best["epoch"],
                "best_val_loss": best["val_loss"], "history": history,
            })
            embed = model.embed
        model.to(device).eval()
        features = embed_grids(embed, grids, device, cfg.ae_batch_size)
        save_npy(path, features)
    if features.ndim != 2 or len(features) != len(ids):
        source = cfg.features or path
        raise DiscoveryError(f"{source}: features must be (scans, dims) with one row per cohort scan ({len(ids)}), got {features.shape}")
    return features


def _plan(cfg: DiscoveryConfig, out: Path, state: dict, cohort, ids: list[str], train_pool: np.ndarray, boxes: dict) -> list[ClassPlan]:
    """Stage 3: references and coordinates, one class at a time, saved after each."""
    position = {s: i for i, s in enumerate(ids)}
    plans = [ClassPlan.from_json(e, position) for e in state["classes"]]
    order = numpy_rng(cfg.seed, "references").permutation(train_pool)
    rule = AcceptanceRule(cfg.acceptance, cfg.lung_threshold, cfg.lung_max_dense, cfg.min_foreground, cfg.min_std)
    size = tuple(cfg.patch)
    bar = progress(total=cfg.classes, initial=len(plans), desc="planning classes", unit="class")
    pace = Pace(log, "class", cfg.classes, unit="class", initial=len(plans))
    while len(plans) < cfg.classes:
        if state["next_reference"] >= len(order):
            last = "; ".join(f"{r['reference']}: {r['reason']}" for r in state["rejected"][-3:])
            raise DiscoveryError(
                f"found only {len(plans)} of {cfg.classes} classes: every one of the {len(order)} training scans was tried "
                f"as a reference and {len(state['rejected'])} had no acceptable coordinate (last: {last}). "
                "Try fewer --classes, a smaller --patch or --min-distance, or another --acceptance rule"
            )
        ref = int(order[state["next_reference"]])
        state["next_reference"] += 1
        mask = cohort.mask(ids[ref])
        if ref not in boxes:
            boxes[ref] = body_box(mask)
        plan, reason = plan_class(
            len(plans), ref, cohort.image(ids[ref]), mask, boxes[ref], plans, size=size, rule=rule,
            min_distance=cfg.min_distance, budget=cfg.retry_budget, placement=cfg.placement, seed=cfg.seed, reference_id=ids[ref],
        )
        if plan is None:
            log.warning("class %d: reference %s rejected, %s; trying another reference", len(plans), ids[ref], reason)
            state["rejected"].append({"class": len(plans), "reference": ids[ref], "reason": reason})
        else:
            plans.append(plan)
            state["classes"].append(plan.to_json(ids))
            bar.update(1)
            pace.step(len(plans), f"reference {ids[ref]}, crop start {list(plan.start)}, {len(state['rejected'])} reference(s) rejected so far")
        write_json(out / PROGRESS, state)
    bar.close()
    return plans


def _materialize(path: Path, table: CropTable, ids: list[str], cohort, patch: tuple[int, ...]) -> None:
    """Every crop resized to ``patch`` into one float16 array (rows, *patch), manifest order."""
    with atomic_path(path) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(len(table), *patch))
        current, volume = None, None
        pace = Pace(log, "materialising crops", len(table), unit="crop", every=10)
        for done, row in enumerate(progress(np.argsort(table.scan, kind="stable"), desc="materialising crops", unit="crop")):
            pace.step(done + 1)
            if table.scan[row] != current:
                current = table.scan[row]
                volume = cohort.image(ids[current])
            array[row] = read_crop(volume, table.start[row], table.size[row], patch)[0].numpy()
        array.flush()
        del array


def _load_given_encoder(cfg: DiscoveryConfig, cohort, cohort_path) -> tuple[DiscoveryConfig, tuple | None]:
    """The ``--encoder`` checkpoint (``None`` without one), checked against the cohort; its grid
    replaces ``ae_grid``."""
    if cfg.encoder is None:
        return cfg, None
    try:
        encoder = load_encoder(cfg.encoder)
    except EncoderError as e:
        raise DiscoveryError(str(e)) from None
    dims = encoder[2].get("spatial_dims", cohort.spatial_dims)
    if dims != cohort.spatial_dims:
        raise DiscoveryError(f"{cfg.encoder}: a {dims}D encoder cannot embed the {cohort.spatial_dims}D cohort {cohort_path}")
    if "grid" in encoder[2]:
        cfg = dataclasses.replace(cfg, ae_grid=tuple(encoder[2]["grid"]))
    return cfg, encoder


def _setup(cohort_path: str | Path, cfg: DiscoveryConfig) -> _Run:
    """Open the cohort, resolve and clamp the options, split the patients: every check on the
    input before any file is written."""
    cohort = _open_cohort(cohort_path)
    ids = list(cohort.ids)
    if not ids:
        raise DiscoveryError(f"{cohort_path}: the cohort has no scans")
    records = [cohort[i] for i in ids]
    device = resolve_device(cfg.device)
    cfg = cfg.resolve(cohort.spatial_dims, cuda=device.type == "cuda")
    cfg, encoder = _load_given_encoder(cfg, cohort, cohort_path)
    shapes = np.array([r.shape for r in records], dtype=np.int64)
    patch = tuple(cfg.patch)
    usable = (shapes >= np.asarray(patch)).all(axis=1)
    warnings = []
    if not usable.all():
        small = [ids[i] for i in np.flatnonzero(~usable)]
        warnings.append(
            f"{len(small)} scan(s) smaller than a {'x'.join(map(str, patch))} crop are left out of the patterns: "
            + ", ".join(small[:5]) + (" ..." if len(small) > 5 else "")
        )
        log.warning(warnings[-1])
    held_out = validation_patients([r.patient for r in records], cfg.val_fraction, cfg.seed, "validation-split")
    is_val = np.array([r.patient in held_out for r in records], dtype=bool)
    train_pool = np.flatnonzero(usable & ~is_val)
    val_pool = np.flatnonzero(usable & is_val)
    if len(train_pool) == 0:
        raise DiscoveryError(
            f"{cohort_path}: no training scan is at least {'x'.join(map(str, patch))} voxels "
            f"({int(usable.sum())} usable scans of {len(ids)}); use a smaller --patch or a larger cohort"
        )
    cfg, clamped = clamp_counts(cfg, len(train_pool), len(val_pool))
    return _Run(cfg, Path(cohort_path), cohort, ids, [r.patient for r in records], shapes, usable, is_val, train_pool,
                val_pool, device, encoder, cohort.manifest_hash(), warnings + clamped)


def _neighbors(run: _Run, features: np.ndarray, plans: list[ClassPlan], boxes: dict[int, np.ndarray]):
    """Stage 4: each class's nearest training and validation scans and their crop boxes;
    returns (table, refs, (train_nn, train_d, val_nn, val_d), body boxes (N, 2, ndim))."""
    cfg, patch = run.cfg, run.patch
    refs = np.array([p.reference for p in plans])
    train_nn, train_d = nearest(features[refs], features[run.train_pool], cfg.neighbors, run.device)
    val_nn, val_d = nearest(features[refs], features[run.val_pool], cfg.val_neighbors, run.device)
    train_nn, val_nn = run.train_pool[train_nn], run.val_pool[val_nn]
    log.info("neighbours: %d training and %d validation scans per class found for %d classes",
             train_nn.shape[1], val_nn.shape[1], len(plans))
    needed = np.unique(np.concatenate([refs, train_nn.ravel(), val_nn.ravel()]))
    for i in progress([int(i) for i in needed if int(i) not in boxes], desc="body boxes", unit="scan"):
        boxes[i] = body_box(run.cohort.mask(run.ids[i]))
    box_array = np.zeros((len(run.ids), 2, len(patch)), dtype=np.int64)
    for i, b in boxes.items():
        box_array[i] = b
    table = CropTable.concat([
        class_crops(
            p, train_nn[c], train_d[c], val_nn[c], val_d[c], box_array, run.shapes, patch=patch, resolutions=cfg.resolutions,
            scale=cfg.multires_scale, shift=cfg.multires_shift, placement=cfg.placement, seed=cfg.seed,
        )
        for c, p in enumerate(plans)
    ])
    return table, refs, (train_nn, train_d, val_nn, val_d), box_array


def _write_neighbors(out: Path, run: _Run, plans: list[ClassPlan], nn, box_array: np.ndarray) -> None:
    ids = run.ids
    train_nn, train_d, val_nn, val_d = nn
    write_json(out / "neighbors.json", {
        "scans": ids,
        "validation_scans": [ids[i] for i in np.flatnonzero(run.is_val)],
        "left_out_scans": [ids[i] for i in np.flatnonzero(~run.usable)],
        "metric": "L2 distance between auto-encoder features (features.npy rows in the order of 'scans')",
        "classes": [
            {
                "class": c, "reference": ids[p.reference],
                "train": [ids[i] for i in train_nn[c]], "train_distances": train_d[c].round(6).tolist(),
                "validation": [ids[i] for i in val_nn[c]], "validation_distances": val_d[c].round(6).tolist(),
                "body_box": box_array[p.reference].tolist(),
            }
            for c, p in enumerate(plans)
        ],
    })


def _classes_doc(run: _Run, plans: list[ClassPlan], table: CropTable, nn, state: dict) -> dict:
    """The content of ``classes.json`` (written last: its presence means the set is complete)."""
    cfg, patch, ids = run.cfg, run.patch, run.ids
    train_nn, _, val_nn, _ = nn
    return {
        "identity": run.identity(),
        "num_classes": len(plans),
        "spatial_dims": len(patch),
        "patch_size": list(patch),
        "resolutions": cfg.resolutions,
        "placement": cfg.placement,
        "acceptance": AcceptanceRule(cfg.acceptance, cfg.lung_threshold, cfg.lung_max_dense, cfg.min_foreground, cfg.min_std).describe(),
        "axis_order": "XYZ"[: len(patch)],
        "orientation": "LPS",
        "cohort": str(run.cohort_path.resolve()),
        "scans": ids,
        "crops": {"train": int((~table.split).sum()), "validation": int(table.split.sum())},
        "materialized": "crops.npy" if cfg.materialize else None,
        "classes": [
            {
                **p.to_json(ids), "patient": run.patients[p.reference], "size": list(patch),
                "train_neighbors": len(train_nn[c]), "validation_neighbors": len(val_nn[c]),
            }
            for c, p in enumerate(plans)
        ],
        "rejected_references": state["rejected"],
        "warnings": run.warnings,
    }


def _complete(out: Path, run: _Run) -> DiscoveryResult:
    """A pattern set already complete for these options: materialise its crops if now asked."""
    log.info("%s already holds a complete pattern set for these options", out)
    info = read_json(out / "classes.json")
    if run.cfg.materialize and not info.get("materialized"):
        from semgen.discovery.dataset import PatternSet

        patterns = PatternSet(out, run.cohort_path)
        _materialize(out / "crops.npy", patterns.table, run.ids, run.cohort, run.patch)
        info = {**info, "materialized": "crops.npy"}
        write_json(out / "classes.json", info)
    return DiscoveryResult.from_classes(out, info)


def discover(cohort_path: str | Path, out: str | Path, config: DiscoveryConfig | None = None, *, overwrite: bool = False) -> DiscoveryResult:
    """Self-discovery of anatomical patterns (paper Sec. 2) from the cohort at ``cohort_path``
    into the folder ``out``; returns a :class:`DiscoveryResult`. See the module docstring for the
    stages and :class:`~semgen.discovery.config.DiscoveryConfig` for the options.

    Raises :class:`~semgen.discovery.planning.DiscoveryError` (a ``ValueError``) with an
    explanation when the cohort cannot give what is asked.
    """
    out = Path(out)
    run = _setup(cohort_path, config if config is not None else DiscoveryConfig())
    with claim_folder(out, stage="discover", identity=run.identity(), outputs=OUTPUTS, config=run.cfg,
                      overwrite=overwrite) as claim:
        if claim.resumed and (out / "classes.json").is_file():
            return _complete(out, run)
        if claim.resumed and (out / PROGRESS).is_file():
            log.info("continuing the self-discovery in %s", out)
            state = read_json(out / PROGRESS)
        else:
            state = {"classes": [], "rejected": [], "next_reference": 0}
        write_json(out / PROGRESS, state)
        features = _features(run.cfg, out, run.cohort, run.ids, run.is_val, run.encoder, run.device, run.cohort_hash)
        boxes: dict[int, np.ndarray] = {}
        plans = _plan(run.cfg, out, state, run.cohort, run.ids, run.train_pool, boxes)
        table, refs, nn, box_array = _neighbors(run, features, plans, boxes)
        write_manifest(out / "manifest.csv", table, run.ids, run.patients, refs.tolist())
        _write_neighbors(out, run, plans, nn, box_array)
        write_atlas(out, table, refs.tolist(), run.ids, run.cohort.image, run.cohort.mask)
        if run.cfg.materialize:
            _materialize(out / "crops.npy", table, run.ids, run.cohort, run.patch)
        info = _classes_doc(run, plans, table, nn, state)
        write_json(out / "classes.json", info)
        (out / PROGRESS).unlink(missing_ok=True)
    return DiscoveryResult.from_classes(out, info)
