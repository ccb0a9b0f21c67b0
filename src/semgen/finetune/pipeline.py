"""``semgen finetune`` as a function: find the task, bring the data to the checkpoint's
geometry, split by patient, run the trials, write the results folder.

RESULTS/ holds ``summary.json`` (task, recipe, initialisation and what it loaded, label
fraction, metric names, per-trial test metrics, mean and s.d.), ``split.json`` (the patient
split, the label-fraction subset and each split's image files; reusable with ``--split``), ``trials/trial_<i>.json``
(training curves, test metrics, seed, epochs run, best epoch, time) and ``config.yaml``.

The folder is claimed through the stage contract (:mod:`semgen.stage`): a folder made with
other options is refused without ``--overwrite``; one made with the same options continues at
trial granularity (a finished ``trial_<i>.json`` is kept, a half-finished trial is redone; the
weights of the trial chosen so far wait in ``trials/chosen.safetensors``), and the trials of an
earlier run with more trials are removed.
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

from semgen.card import write_card
from semgen.finetune.config import FinetuneConfig
from semgen.finetune.data import Geometry, Loaded, TaskData, TaskDataError, discover_task, load_samples
from semgen.finetune.geometry import check_init, pretraining_geometry, task_geometry
from semgen.finetune.result import ChosenModel, FinetuneResult, FinetuneSummary, SplitRecord
from semgen.finetune.splits import SplitError, label_subset, split_hash, split_patients
from semgen.finetune.stats import mean_sd, nan_to_none
from semgen.finetune.train import Arrays, TrainSettings, train_trial, validation_patches
from semgen.loggers import Logger, make_logger
from semgen.models.checkpoint import save_checkpoint
from semgen.stage import claim_folder
from semgen.utils.config import config_to_dict
from semgen.utils.device import resolve_device
from semgen.utils.io import atomic_path, read_json, write_json
from semgen.utils.seeding import derive_seed

log = logging.getLogger(__name__)

OUTPUTS = ("summary.json", "split.json", "trials", "model.safetensors", "model.json", "README.md", "tensorboard")
CHOSEN = "chosen.safetensors"


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
    from semgen.models.checkpoint import CheckpointError, resolve_checkpoint, sidecar_path, verify_checksum

    if init == "scratch":
        return Init("scratch", None, {}, name or "scratch")
    path = Path(init)
    try:
        weights = resolve_checkpoint(path)
        verify_checksum(weights)
    except CheckpointError as e:
        raise TaskDataError(f"--init {init}: {e} (use 'scratch', a run folder or a checkpoint file)") from None
    meta = read_json(sidecar_path(weights)) if weights.suffix == ".safetensors" and sidecar_path(weights).is_file() else {}
    default = path.name if path.is_dir() else (meta.get("method") or weights.stem)
    return Init("semgen" if meta else "published", weights, meta, name or default)


def _backbone_args(meta: dict[str, Any]) -> dict[str, Any]:
    arch = meta.get("architecture") or {}
    args = dict(arch.get("args") or {})
    return dict(args.get("unet_or_args", args))


def _segmentation_classes(loaded: list[Loaded], data: TaskData) -> dict[int, str]:
    """Foreground label values -> names (given by the recipe, or every value found)."""
    found = sorted({int(v) for item in loaded for v in np.unique(item.target) if v > 0})
    names = dict(data.label_names)
    extra = [v for v in found if v not in names]
    if extra and names:
        log.warning("label values %s are not named by the task; they count as background", ", ".join(map(str, extra)))
    return names or {v: f"class{v}" for v in found}


def task_outputs(data: TaskData, loaded: list[Loaded]) -> tuple[str, int, dict[int, str], np.ndarray | None, str, list[str]]:
    """What the model predicts and how it is scored: ``(kind, n_outputs, label_names, lut,
    primary metric, metric names)``. Classification: kind binary (1 logit) / multiclass /
    multilabel, AUC first. Segmentation: the label values found (or named by the task) map
    through ``lut`` to classes 1..K (0 background), IoU first."""
    if data.task == "classification":
        kind = "multilabel" if data.multilabel else ("binary" if len(data.class_names) == 2 else "multiclass")
        return kind, 1 if kind == "binary" else len(data.class_names), {}, None, "auc", ["auc", "accuracy"]
    values = _segmentation_classes(loaded, data)
    lut = np.zeros(max([0, *values, *(int(it.target.max()) for it in loaded)]) + 1, dtype=np.int64)
    for i, v in enumerate(sorted(values), start=1):
        lut[v] = i
    label_names = {i: values[v] for i, v in enumerate(sorted(values), start=1)}
    metric_names = ["iou_mean", "dice_mean", *[f"{m}_{n}" for n in label_names.values() for m in ("iou", "dice")]]
    return "segmentation", len(label_names) + 1, label_names, lut, "iou_mean", metric_names


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
    return split_patients(presets, seed=cfg.split_seed, validation=cfg.val_fraction, test=cfg.test_fraction, strata=strata)


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


def trial_model(task: str, n_outputs: int, geometry: Geometry, init: Init, width: int | None, device: torch.device, seed: int):
    """A fresh model for one trial, initialised from ``seed`` (torch's global generator is
    untouched), then filled from the checkpoint: returns ``(model, load report dict or None)``."""
    from semgen.models import build_model, load_pretrained
    from semgen.models.backbones import task_architecture

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
    if "backbone" in backbone:  # a framework network (semgen.models.backbones), rebuilt as recorded
        model = build_model(task_architecture(backbone, task, n_outputs), seed=seed)
    elif task == "classification":
        model = build_model({"name": "EncoderClassifier", "args": {"unet_or_args": args, "num_outputs": n_outputs}}, seed=seed)
    else:
        model = build_model({"name": "UNet", "args": {**args, "out_channels": n_outputs}}, seed=seed)
    report = None
    if init.weights is not None:
        report = load_pretrained(model, init.weights).to_dict()
    return model, report


@dataclass
class Job:
    """A fine-tuning job's resolved inputs: the task, the initialisation, the geometry, the
    device, the loaded samples and how targets map to outputs and metrics."""

    data: TaskData
    init: Init
    geometry: Geometry
    device: torch.device
    loaded: list[Loaded]
    skipped: list[dict[str, str]]
    kind: str
    n_outputs: int
    label_names: dict[int, str]
    label_values: list[int] | None
    primary: str
    lut: np.ndarray | None
    metric_names: list[str]


def _job(cfg: FinetuneConfig) -> Job:
    """Find the task, resolve the initialisation and geometry, read every sample."""
    data = discover_task(cfg.data, task=cfg.task, recipe=cfg.recipe)
    init = resolve_init(cfg.init, cfg.name)
    geometry = task_geometry(cfg, data)
    device = resolve_device(cfg.device)
    log.info("task %s (%s) from %s: %d samples, %d skipped; init %s; inputs %s (%s)",
             data.task, data.recipe or "generic layout", data.root, len(data.samples), len(data.skipped), init.name,
             geometry.describe(), "; ".join(f"{k} from {v}" for k, v in geometry.sources.items()))
    if line := check_init(geometry, init.metadata, init.name):
        log.info("%s", line)
    loaded, unreadable = load_samples(data.samples, data, geometry)
    if not loaded:
        raise TaskDataError(f"{data.root}: no sample could be read ({len(unreadable)} failed; first: {unreadable[0]['reason'] if unreadable else '-'})")
    kind, n_outputs, label_names, lut, primary, metric_names = task_outputs(data, loaded)
    label_values = None if lut is None else [0, *np.flatnonzero(lut).tolist()]  # class index -> label value in the task's label maps
    return Job(data, init, geometry, device, loaded, data.skipped + unreadable, kind, n_outputs, label_names,
               label_values, primary, lut, metric_names)


def _split(cfg: FinetuneConfig, job: Job) -> tuple[dict[str, list[Loaded]], dict[str, Any]]:
    """The samples of each split (training patients cut to the label fraction) and the
    ``split.json`` document."""
    assignment = make_split(cfg, job.data, job.loaded)
    train_patients = sorted(p for p, s in assignment.items() if s == "train")
    kept = set(label_subset(train_patients, cfg.label_fraction, seed=cfg.split_seed))
    by_split: dict[str, list[Loaded]] = {"train": [], "validation": [], "test": []}
    for item in job.loaded:
        s = assignment[item.sample.patient]
        if s != "train" or item.sample.patient in kept:
            by_split[s].append(item)
    for s, items in by_split.items():
        if not items:
            raise SplitError(f"the {s} split is empty ({len(assignment)} patients); add data or change --val-fraction/--test-fraction")
    log.info("split (seed %d): %s samples; %d of %d training patients at label fraction %g", cfg.split_seed,
             ", ".join(f"{s} {len(items)}" for s, items in by_split.items()), len(kept), len(train_patients), cfg.label_fraction)
    return by_split, {
        "split_seed": cfg.split_seed,
        "fractions": {"validation": cfg.val_fraction, "test": cfg.test_fraction},
        "hash": split_hash(assignment),
        "label_fraction": cfg.label_fraction,
        "patients": dict(sorted(assignment.items())),
        "train_patients_used": sorted(kept),
        "samples": {s: [it.sample.id for it in items] for s, items in by_split.items()},
        "images": {s: sorted({str(it.sample.image) for it in job.loaded if assignment[it.sample.patient] == s}) for s in by_split},
    }


def _chosen(out: Path) -> tuple[float, int, dict[str, torch.Tensor]] | None:
    """The trial chosen so far (validation score, trial, weights) from ``trials/chosen.safetensors``."""
    from safetensors.torch import load_file, safe_open

    path = out / "trials" / CHOSEN
    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    return float(meta["score"]), int(meta["trial"]), load_file(str(path))


def _keep_chosen(out: Path, score: float, trial: int, weights: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    with atomic_path(out / "trials" / CHOSEN) as tmp:
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp), metadata={"score": repr(score), "trial": str(trial)})


def _trial_row(trial: int, record: dict[str, Any], metric_names: list[str]) -> dict[str, Any]:
    test = record["test"]
    return {"trial": trial, "seed": record["seed"],
            **{m: math.nan if test.get(m) is None else test[m] for m in metric_names}}


def _run_trials(cfg: FinetuneConfig, job: Job, arrays: dict[str, Arrays], out: Path, resumed: bool, logger: Logger):
    """Every trial not finished yet (a finished ``trial_<i>.json`` is kept; each epoch's curves
    go to ``logger`` under ``trial_<i>/``); returns the trial rows, the initialisation's load
    report and the chosen trial (score, index, weights)."""
    settings = TrainSettings(cfg.epochs, cfg.patience, cfg.batch_size, cfg.lr, job.geometry.patch, cfg.patches_per_volume,
                             cfg.foreground_fraction, cfg.overlap, job.device)
    trials, init_report = [], None
    chosen = _chosen(out) if resumed else None
    keep = chosen is not None and chosen[1] < cfg.trials  # finished trials are kept only beside the chosen weights
    chosen = chosen if keep else None
    for i in range(cfg.trials):
        seed = derive_seed(cfg.seed, "trial", i)
        path = out / "trials" / f"trial_{i}.json"
        if keep and path.is_file():
            trials.append(_trial_row(i, read_json(path), job.metric_names))
            if i == 0:
                init_report = trial_model(job.data.task, job.n_outputs, job.geometry, job.init, cfg.width, job.device, seed)[1]
            continue
        model, report = trial_model(job.data.task, job.n_outputs, job.geometry, job.init, cfg.width, job.device, seed)
        if i == 0:
            init_report = report
            log.info("initialisation %s: %s", job.init.name, "random (scratch)" if report is None else
                     f"loaded {len(report['loaded'])} tensors from {report['source']} ({report['layout']}); "
                     f"{len(report['missing'])} missing, {len(report['unexpected'])} unexpected, {len(report['mismatched'])} mis-shaped")
        result = train_trial(model, arrays, task=job.data.task, kind=job.kind, label_names=job.label_names,
                             primary_metric=job.primary, settings=settings, seed=derive_seed(seed, "data"),
                             desc=f"trial {i + 1}/{cfg.trials}",
                             on_epoch=lambda epoch, values, i=i: logger.scalars(epoch, values, prefix=f"trial_{i}/"))
        score = result["curves"][f"val_{job.primary}"][result["best_epoch"] - 1]
        score = -math.inf if score is None or math.isnan(score) else float(score)
        if (i == cfg.trial) or (cfg.trial is None and (chosen is None or score > chosen[0])):
            chosen = (score, i, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            _keep_chosen(out, *chosen)
        record = {"trial": i, "seed": seed, **result}
        write_json(path, nan_to_none(record))
        log.info("trial %d: test %s = %.4f (best epoch %d of %d, %.1f s)", i, job.primary, result["test"][job.primary],
                 result["best_epoch"], result["epochs_run"], result["time_s"])
        trials.append(_trial_row(i, nan_to_none(record), job.metric_names))
    return trials, init_report, chosen


def _save_model(cfg: FinetuneConfig, job: Job, out: Path, chosen, trials: list[dict], counts: dict[str, int]) -> str:
    """The chosen trial's weights as ``out/model.safetensors`` (for ``semgen predict``); returns
    how it was chosen."""
    selected_by = "chosen with --trial" if cfg.trial is not None else f"best validation {job.primary}"
    model, _ = trial_model(job.data.task, job.n_outputs, job.geometry, job.init, cfg.width, job.device, 0)
    model.load_state_dict(chosen[2])
    data, geometry = job.data, job.geometry
    save_checkpoint(out / "model.safetensors", model, {
        "patch_size": list(geometry.patch),
        "spacing": list(geometry.spacing) if geometry.spacing else None,
        "intensity_window": geometry.window,
        "method": job.init.metadata.get("method") or job.init.kind,
        "manifest_hash": job.init.metadata.get("manifest_hash"),
        "extra": {
            "stage": "finetune", "task": data.task, "task_name": _task_name(cfg, data), "kind": job.kind,
            "modality": geometry.modality, "class_names": data.class_names if data.task == "classification" else None,
            "label_values": job.label_values,
            "label_names": {str(k): v for k, v in job.label_names.items()} if job.label_names else None,
            "overlap": cfg.overlap, "resample": bool(geometry.spacing), "init": job.init.name,
            "trial": chosen[1], "selected_by": selected_by, "validation_score": chosen[0],
            "epoch": read_json(out / "trials" / f"trial_{chosen[1]}.json")["best_epoch"],
            "test": next(t for t in trials if t["trial"] == chosen[1]),
            "samples": counts, "skipped": len(job.skipped),
            "datasets": list(dict.fromkeys([*((job.init.metadata.get("extra") or {}).get("datasets") or []), *cfg.dataset_name])),
        },
    })
    write_card(out / "model.safetensors")
    return selected_by


def _task_name(cfg: FinetuneConfig, data: TaskData) -> str:
    return data.recipe or f"{Path(cfg.data).name}-{data.task}"


def _summary(cfg: FinetuneConfig, job: Job, out: Path, trials, init_report, split_doc, counts, chosen, selected_by) -> FinetuneSummary:
    stats = {m: mean_sd([t[m] for t in trials]) for m in job.metric_names}
    data, init = job.data, job.init
    return FinetuneSummary(
        task=data.task,
        task_name=_task_name(cfg, data),
        recipe=data.recipe,
        data=str(data.root),
        init=cfg.init,
        init_name=init.name,
        init_kind=init.kind,
        init_report=init_report,
        init_metadata={k: init.metadata.get(k) for k in ("method", "patch_size", "spacing", "intensity_window", "manifest_hash")} if init.metadata else None,
        label_fraction=cfg.label_fraction,
        kind=job.kind,
        class_names=data.class_names if data.task == "classification" else job.label_names,
        metric_names=job.metric_names,
        primary_metric=job.primary,
        geometry=job.geometry,
        pretraining_geometry=pretraining_geometry(init.metadata),
        split=SplitRecord(cfg.split_seed, split_doc["hash"], counts),
        skipped=job.skipped,
        model=ChosenModel(out / "model.safetensors", chosen[1], selected_by),
        trials=trials,
        mean={m: s[0] for m, s in stats.items()},
        std={m: s[1] for m, s in stats.items()},
        config=config_to_dict(cfg),
    )


def _drop_extra_trials(out: Path, trials: int) -> None:
    """Remove ``trial_<i>.json`` of an earlier run with more trials (i >= ``trials``)."""
    for path in (out / "trials").glob("trial_*.json"):
        index = path.stem.removeprefix("trial_")
        if not index.isdigit() or int(index) >= trials:
            path.unlink()


def finetune(cfg: FinetuneConfig) -> FinetuneResult:
    """Run every trial of ``cfg`` and write the results folder (see the module docstring).

    With ``cfg.split_only`` it stops after writing ``split.json``: the ``images`` lists of
    that file let pre-training use the training patients only."""
    out = Path(cfg.out)
    job = _job(cfg)
    by_split, split_doc = _split(cfg, job)
    per_split = Counter(split_doc["patients"].values())
    result = FinetuneResult(out, cfg.split_only, cfg.split_seed, split_doc["hash"], {s: per_split[s] for s in by_split})
    with claim_folder(out, stage="finetune", identity=cfg.identity(), outputs=OUTPUTS, config=cfg,
                      overwrite=cfg.overwrite) as claim:
        write_json(out / "split.json", split_doc)
        if cfg.split_only:
            return result
        _drop_extra_trials(out, cfg.trials)
        arrays = {s: _arrays(items, job.data.task, job.lut) for s, items in by_split.items()}
        if job.data.task == "segmentation" and cfg.val_patches:  # cut once: every trial validates on the same patches
            arrays["validation"] = validation_patches(arrays["validation"], job.geometry.patch, cfg.val_patches,
                                                      cfg.foreground_fraction)
        logger = make_logger(cfg.log, out)
        try:
            trials, init_report, chosen = _run_trials(cfg, job, arrays, out, claim.resumed, logger)
        finally:
            logger.close()
        counts = {s: len(items) for s, items in by_split.items()}
        selected_by = _save_model(cfg, job, out, chosen, trials, counts)
        result.summary = _summary(cfg, job, out, trials, init_report, split_doc, counts, chosen, selected_by)
        write_json(out / "summary.json", nan_to_none(result.summary.to_json()))
    return result
