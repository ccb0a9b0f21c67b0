"""``semgen finetune`` as a function: find the task, bring the data to the checkpoint's
geometry, split by patient, run the trials, write the results folder.

RESULTS/ holds ``summary.json`` (task, recipe, initialisation and what it loaded, label
fraction, metric names, per-trial test metrics, mean and s.d.), ``split.json`` (the patient
split, the label-fraction subset and each split's image files; reusable with ``--split``), ``trials/trial_<i>.json``
(training curves, test metrics, seed, epochs run, best epoch, time) and ``config.yaml``.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semgen.finetune.config import FinetuneConfig
from semgen.finetune.data import RECIPES, Geometry, Loaded, TaskData, TaskDataError, discover_task, load_samples
from semgen.finetune.splits import SplitError, label_subset, split_hash, split_patients
from semgen.finetune.stats import mean_sd, nan_to_none
from semgen.finetune.train import Arrays, TrainSettings, train_trial, validation_patches
from semgen.models.checkpoint import save_checkpoint
from semgen.utils.config import config_to_dict, save_config
from semgen.utils.io import read_json, write_json
from semgen.utils.seeding import derive_seed

log = logging.getLogger(__name__)

WINDOW_MODALITY = {"ct": "CT", "mr": "MR", "xr": "XR", "minmax": "OT"}
DIVISOR = 8


@dataclass
class Init:
    """The initialisation: ``kind`` (scratch / semgen / published), the weights file, the
    checkpoint metadata (empty when there is none) and the name used in reports."""

    kind: str
    weights: Path | None
    metadata: dict[str, Any]
    name: str


def resolve_init(init: str, name: str | None = None) -> Init:
    """``scratch``, a run folder (``model.safetensors`` + ``model.json``), a ``.safetensors``
    checkpoint (metadata from the ``.json`` beside it) or a published ``.pt``/``.pth`` file.
    The report name: ``name``, else ``scratch``, the run folder's name, or the checkpoint's
    ``method`` (its file stem when it has none)."""
    from semgen.models.checkpoint import CheckpointError, resolve_checkpoint, sidecar_path

    if init == "scratch":
        return Init("scratch", None, {}, name or "scratch")
    path = Path(init)
    try:
        weights = resolve_checkpoint(path)
    except CheckpointError as e:
        raise TaskDataError(f"--init {init}: {e} (use 'scratch', a run folder or a checkpoint file)") from None
    meta = read_json(sidecar_path(weights)) if weights.suffix == ".safetensors" and sidecar_path(weights).is_file() else {}
    default = path.name if path.is_dir() else (meta.get("method") or weights.stem)
    return Init("semgen" if meta else "published", weights, meta, name or default)


def _backbone_args(meta: dict[str, Any]) -> dict[str, Any]:
    arch = meta.get("architecture") or {}
    args = dict(arch.get("args") or {})
    return dict(args.get("unet_or_args", args))


def resolve_geometry(cfg: FinetuneConfig, data: TaskData, init: Init, spatial_dims: int) -> Geometry:
    """Patch, spacing, modality and window: ``--patch/--spacing/--modality`` first, then the
    checkpoint metadata (the geometry it was pre-trained with), then the recipe, then
    64x64 (2D) / 64x64x32 (3D)."""
    meta = init.metadata
    recipe = RECIPES.get(data.recipe or "")
    patch = cfg.patch or meta.get("patch_size") or (recipe.patch if recipe and recipe.spatial_dims == spatial_dims else None)
    patch = tuple(int(p) for p in (patch or ((64, 64) if spatial_dims == 2 else (64, 64, 32))))
    if len(patch) != spatial_dims or any(p % DIVISOR for p in patch):
        raise TaskDataError(f"patch {patch}: need {spatial_dims} sizes, each divisible by {DIVISOR}")
    if cfg.patch and meta.get("patch_size") and tuple(meta["patch_size"]) != patch:
        log.warning("--patch %s differs from the pre-training patch %s", patch, tuple(meta["patch_size"]))
    spacing = None
    if spatial_dims == 3 and cfg.resample:
        spacing = cfg.spacing or meta.get("spacing")
        spacing = tuple(float(s) for s in spacing) if spacing else None
    window = meta.get("intensity_window") if isinstance(meta.get("intensity_window"), dict) else None
    modality = cfg.modality or data.modality or (WINDOW_MODALITY.get(window.get("kind")) if window else None)
    # only fixed HU windows and MR percentiles transfer; X-rays are min-max per image
    if window is None or window.get("kind") not in ("ct", "mr") or WINDOW_MODALITY[window["kind"]] != modality:
        window = None
    return Geometry(spatial_dims, patch, spacing, modality, window)


def _spatial_dims(cfg: FinetuneConfig, data: TaskData, init: Init) -> int:
    from semgen.io import read_scan

    meta_dims = init.metadata.get("spatial_dims")
    recipe = RECIPES.get(data.recipe or "")
    if meta_dims:
        return int(meta_dims)
    if cfg.patch:
        return len(cfg.patch)
    if recipe:
        return recipe.spatial_dims
    for s in data.samples[:5]:
        try:
            return read_scan(s.image, modality=cfg.modality or data.modality).ndim
        except ValueError:
            continue
    raise TaskDataError(f"{data.root}: none of the first files could be read to tell 2D from 3D")


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _segmentation_classes(loaded: list[Loaded], data: TaskData) -> dict[int, str]:
    """Foreground label values -> names (given by the recipe, or every value found)."""
    found = sorted({int(v) for item in loaded for v in np.unique(item.target) if v > 0})
    names = dict(data.label_names)
    extra = [v for v in found if v not in names]
    if extra and names:
        log.warning("label values %s are not named by the task; they count as background", extra)
    return names or {v: f"class{v}" for v in found}


def make_split(cfg: FinetuneConfig, data: TaskData, loaded: list[Loaded]) -> dict[str, str]:
    """Patient -> split: from ``cfg.split`` (a saved split.json) or drawn with ``cfg.split_seed``
    (stratified by the patients' majority class for classification). Raises
    :class:`SplitError` when one patient is preset to two splits."""
    patients: dict[str, set[str]] = {}
    for item in loaded:
        patients.setdefault(item.sample.patient, set()).add(item.sample.split or "")
    if cfg.split:
        doc = read_json(cfg.split)
        if not isinstance(doc, dict) or not isinstance(doc.get("patients"), dict):
            raise SplitError(f"--split {cfg.split}: not a split.json written by semgen finetune (no 'patients')")
        saved = doc["patients"]
        unknown = sorted(set(patients) - set(saved))
        if unknown:
            raise SplitError(f"{cfg.split}: {len(unknown)} patient(s) of this data are not in the saved split (e.g. {unknown[0]})")
        return {p: saved[p] for p in patients}
    presets: dict[str, str | None] = {}
    for p, splits in patients.items():
        named = splits - {""}
        if len(named) > 1:
            raise SplitError(f"patient {p} is listed in several splits ({', '.join(sorted(named))})")
        presets[p] = next(iter(named), None)
    strata = None
    if data.task == "classification" and not data.multilabel:
        votes: dict[str, Counter] = {}
        for item in loaded:
            votes.setdefault(item.sample.patient, Counter())[int(item.target)] += 1
        strata = {p: str(v.most_common(1)[0][0]) for p, v in votes.items()}
    return split_patients(presets, seed=cfg.split_seed, validation=cfg.validation, test=cfg.test, strata=strata)


def _arrays(items: list[Loaded], task: str, lut: np.ndarray | None) -> Arrays:
    ids = [it.sample.id for it in items]
    if task == "classification":
        images = torch.from_numpy(np.stack([it.image for it in items])[:, None])
        t0 = items[0].target
        targets = torch.from_numpy(np.stack([it.target for it in items]).astype(np.float32)) if isinstance(t0, np.ndarray) \
            else torch.tensor([int(it.target) for it in items], dtype=torch.int64)
        return Arrays(images, targets, ids)
    return Arrays(
        [torch.from_numpy(it.image)[None] for it in items],
        [torch.from_numpy(lut[np.clip(it.target, 0, len(lut) - 1)]) for it in items],
        ids,
    )


def build_model(task: str, n_outputs: int, geometry: Geometry, init: Init, width: int | None, device: torch.device, seed: int):
    """A fresh model for one trial, initialised from ``seed`` (torch's global generator is
    forked and seeded, so the caller's stream is untouched), then filled from the
    checkpoint: returns ``(model, load report dict or None)``."""
    from semgen.models import EncoderClassifier, UNet, load_pretrained

    backbone = _backbone_args(init.metadata)
    if width is not None and backbone.get("width") not in (None, width):
        raise TaskDataError(f"--width {width} differs from the checkpoint's width {backbone['width']}")
    args = {
        "spatial_dims": geometry.spatial_dims,
        "in_channels": int(backbone.get("in_channels", 1)),
        "width": int(width or backbone.get("width") or (32 if device.type == "cuda" or init.kind == "published" else 8)),
        "norm": backbone.get("norm", "batch"),
        "encoder": backbone.get("encoder", "unet"),
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if task == "classification":
            model = EncoderClassifier(args, n_outputs)
        else:
            model = UNet(out_channels=n_outputs, **args)
    report = None
    if init.weights is not None:
        report = load_pretrained(model, init.weights).to_dict()
    return model, report


def finetune(cfg: FinetuneConfig) -> dict[str, Any]:
    """Run every trial of ``cfg`` and write the results folder; returns the summary dict.

    With ``cfg.split_only`` it stops after writing ``split.json`` and returns
    ``{"split_only": True, "split_seed", "hash", "patients": {split: count}}``: the
    ``images`` lists of that file let pre-training use the training patients only."""
    out = Path(cfg.out)
    data = discover_task(cfg.data, task=cfg.task, recipe=cfg.recipe)
    init = resolve_init(cfg.init, cfg.name)
    spatial_dims = _spatial_dims(cfg, data, init)
    geometry = resolve_geometry(cfg, data, init, spatial_dims)
    device = _device(cfg.device)
    log.info("task %s (%s) from %s: %d samples, %d skipped; init %s; geometry %s",
             data.task, data.recipe or "generic layout", data.root, len(data.samples), len(data.skipped), init.name, geometry)
    loaded, unreadable = load_samples(data.samples, data, geometry)
    skipped = data.skipped + unreadable
    if not loaded:
        raise TaskDataError(f"{data.root}: no sample could be read ({len(unreadable)} failed; first: {unreadable[0]['reason'] if unreadable else '-'})")

    if data.task == "classification":
        kind = "multilabel" if data.multilabel else ("binary" if len(data.class_names) == 2 else "multiclass")
        n_outputs = 1 if kind == "binary" else len(data.class_names)
        label_names: dict[int, str] = {}
        label_values = None
        primary, lut = "auc", None
        metric_names = ["auc", "accuracy"]
    else:
        kind = "segmentation"
        values = _segmentation_classes(loaded, data)
        lut = np.zeros(max([0, *values, *(int(it.target.max()) for it in loaded)]) + 1, dtype=np.int64)
        for i, v in enumerate(sorted(values), start=1):
            lut[v] = i
        label_names = {i: values[v] for i, v in enumerate(sorted(values), start=1)}
        label_values = [0, *sorted(values)]  # class index -> label value in the task's label maps
        n_outputs = len(label_names) + 1
        primary = "iou_mean"
        metric_names = ["iou_mean", "dice_mean", *[f"{m}_{n}" for n in label_names.values() for m in ("iou", "dice")]]

    assignment = make_split(cfg, data, loaded)
    train_patients = sorted(p for p, s in assignment.items() if s == "train")
    kept = set(label_subset(train_patients, cfg.label_fraction, seed=cfg.split_seed))
    by_split: dict[str, list[Loaded]] = {"train": [], "validation": [], "test": []}
    for item in loaded:
        s = assignment[item.sample.patient]
        if s != "train" or item.sample.patient in kept:
            by_split[s].append(item)
    for s, items in by_split.items():
        if not items:
            raise SplitError(f"the {s} split is empty ({len(assignment)} patients); add data or change --validation/--test")
    split_doc = {
        "split_seed": cfg.split_seed,
        "fractions": {"validation": cfg.validation, "test": cfg.test},
        "hash": split_hash(assignment),
        "label_fraction": cfg.label_fraction,
        "patients": dict(sorted(assignment.items())),
        "train_patients_used": sorted(kept),
        "samples": {s: [it.sample.id for it in items] for s, items in by_split.items()},
        "images": {s: sorted({str(it.sample.image) for it in loaded if assignment[it.sample.patient] == s}) for s in by_split},
    }
    write_json(out / "split.json", split_doc)
    if cfg.split_only:
        per_split = Counter(assignment.values())
        return {"split_only": True, "split_seed": cfg.split_seed, "hash": split_doc["hash"],
                "patients": {s: per_split[s] for s in by_split}}
    arrays = {s: _arrays(items, data.task, lut) for s, items in by_split.items()}
    if data.task == "segmentation" and cfg.val_patches:  # cut once: every trial validates on the same patches
        arrays["validation"] = validation_patches(arrays["validation"], geometry.patch, cfg.val_patches, cfg.foreground_fraction)
    counts = {s: len(items) for s, items in by_split.items()}
    log.info("split (seed %d): %s samples; %d of %d training patients at label fraction %g",
             cfg.split_seed, counts, len(kept), len(train_patients), cfg.label_fraction)

    settings = TrainSettings(cfg.epochs, cfg.patience, cfg.batch_size, cfg.lr, geometry.patch, cfg.patches_per_volume,
                             cfg.foreground_fraction, cfg.overlap, device)
    trials, init_report = [], None
    chosen: tuple[float, int, dict[str, torch.Tensor]] | None = None  # (validation score, trial, weights)
    for i in range(cfg.trials):
        seed = derive_seed(cfg.seed, "trial", i)
        model, report = build_model(data.task, n_outputs, geometry, init, cfg.width, device, seed)
        if i == 0:
            init_report = report
            log.info("initialisation %s: %s", init.name, "random (scratch)" if report is None else
                     f"loaded {len(report['loaded'])} tensors from {report['source']} ({report['layout']}); "
                     f"{len(report['missing'])} missing, {len(report['unexpected'])} unexpected, {len(report['mismatched'])} mis-shaped")
        result = train_trial(model, arrays, task=data.task, kind=kind, label_names=label_names, primary_metric=primary,
                             settings=settings, seed=derive_seed(seed, "data"), desc=f"trial {i + 1}/{cfg.trials}")
        record = {"trial": i, "seed": seed, **result}
        write_json(out / "trials" / f"trial_{i}.json", nan_to_none(record))
        log.info("trial %d: test %s = %.4f (best epoch %d of %d, %.1f s)", i, primary, result["test"][primary],
                 result["best_epoch"], result["epochs_run"], result["time_s"])
        trials.append({"trial": i, "seed": seed, **{m: result["test"].get(m, math.nan) for m in metric_names}})
        score = result["curves"][f"val_{primary}"][result["best_epoch"] - 1]
        score = -math.inf if score is None or math.isnan(score) else float(score)
        if (i == cfg.trial) or (cfg.trial is None and (chosen is None or score > chosen[0])):
            chosen = (score, i, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})

    stats = {m: mean_sd([t[m] for t in trials]) for m in metric_names}
    task_name = data.recipe or f"{Path(cfg.data).name}-{data.task}"
    selected_by = "chosen with --trial" if cfg.trial is not None else f"best validation {primary}"
    model.load_state_dict(chosen[2])
    save_checkpoint(out / "model.safetensors", model, {
        "patch_size": list(geometry.patch),
        "spacing": list(geometry.spacing) if geometry.spacing else None,
        "intensity_window": geometry.window,
        "method": init.metadata.get("method") or init.kind,
        "manifest_hash": init.metadata.get("manifest_hash"),
        "extra": {
            "stage": "finetune", "task": data.task, "task_name": task_name, "kind": kind, "modality": geometry.modality,
            "class_names": data.class_names if data.task == "classification" else None,
            "label_values": label_values,
            "label_names": {str(k): v for k, v in label_names.items()} if label_names else None,
            "overlap": cfg.overlap, "resample": bool(geometry.spacing), "init": init.name,
            "trial": chosen[1], "selected_by": selected_by, "validation_score": chosen[0],
            "test": next(t for t in trials if t["trial"] == chosen[1]),
            "samples": counts, "skipped": len(skipped),
        },
    })
    summary = {
        "task": data.task,
        "task_name": task_name,
        "recipe": data.recipe,
        "data": str(data.root),
        "init": cfg.init,
        "init_name": init.name,
        "init_kind": init.kind,
        "init_report": init_report,
        "init_metadata": {k: init.metadata.get(k) for k in ("method", "patch_size", "spacing", "intensity_window", "manifest_hash")} if init.metadata else None,
        "label_fraction": cfg.label_fraction,
        "kind": kind,
        "class_names": data.class_names if data.task == "classification" else label_names,
        "metric_names": metric_names,
        "primary_metric": primary,
        "geometry": {"spatial_dims": geometry.spatial_dims, "patch": list(geometry.patch),
                     "spacing": list(geometry.spacing) if geometry.spacing else None,
                     "modality": geometry.modality, "window": geometry.window},
        "split": {"seed": cfg.split_seed, "hash": split_doc["hash"], "samples": counts},
        "skipped": skipped,
        "model": {"path": str(out / "model.safetensors"), "trial": chosen[1], "selected_by": selected_by},
        "trials": trials,
        "mean": {m: s[0] for m, s in stats.items()},
        "std": {m: s[1] for m, s in stats.items()},
        "config": config_to_dict(cfg),
    }
    write_json(out / "summary.json", nan_to_none(summary))
    save_config(cfg, out / "config.yaml")
    return summary
