"""``semgen evaluate`` as a function: does pre-training help on this data, by how much, at
which label budget, and how certain?

One patient split, one set of nested label subsets and one list of trial seeds are drawn
once; every initialisation runs on exactly those, so its trial i pairs with the reference's
trial i (same training patients, same test set, same seed for initialisation and batch
order). The grid is label fraction x mode x initialisation x trial, with modes

- ``finetune``: the fine-tuning of ``semgen finetune`` (:func:`semgen.finetune.train.train_trial`);
- ``probe``: the pre-trained encoder frozen (weights and batch-norm statistics):
  classification trains only the linear head on the pooled bottleneck features,
  segmentation only the decoder (:class:`Probe`);
- ``converged`` (the control, run once per fraction when ``converged_epochs`` > 0):
  scratch fine-tuned with a budget large enough to converge (default 4x the epochs, 4x the
  patience), which answers "scratch trained longer catches up".

Each pre-training is compared with scratch at the same budget and mode and with converged
scratch by the paired statistics of :func:`semgen.finetune.stats.paired_comparison`, with
Holm's correction across the comparisons of one table (one label fraction x mode).

OUT/ holds ``trials/<mode>/<init>/fraction_<f>/trial_<i>.json`` (written when a trial ends,
so an interrupted run resumes: finished trials are kept, an unfinished one is redone; and
so ``jobs`` processes can share the grid),
``report.md``, ``report.json``, ``efficiency.png``, ``stage.json`` and ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from semgen.finetune.config import FinetuneConfig
from semgen.finetune.data import Loaded, TaskData, TaskDataError
from semgen.finetune.geometry import check_init
from semgen.finetune.evaluation_report import CONVERGED, SCRATCH, EvaluateResult, build_report, write_report
from semgen.finetune.metrics import classification_metrics
from semgen.finetune.pipeline import Init, Job, _arrays, _job, make_split, resolve_init, trial_model
from semgen.finetune.splits import label_subset, split_hash
from semgen.finetune.stats import nan_to_none
from semgen.finetune.train import Arrays, TrainSettings, train_trial, validation_patches
from semgen.stage import StageConfig, check_at_least, claim_folder, require
from semgen.utils.io import read_json, write_json
from semgen.utils.progress import progress
from semgen.utils.seeding import derive_seed

log = logging.getLogger(__name__)

MODES = ("finetune", "probe")
OUTPUTS = ("trials", "report.md", "report.json", "efficiency.png")


@dataclass
class EvaluateConfig(StageConfig):
    """Configuration of ``semgen evaluate`` (fine-tuning options as in
    :class:`semgen.finetune.config.FinetuneConfig`)."""

    IDENTITY: ClassVar[tuple[str, ...]] = (
        "data", "task", "recipe", "inits", "label_fractions", "trials", "modes", "converged_epochs",
        "converged_patience", "seed", "split_seed", "split", "val_fraction", "test_fraction", "epochs", "patience",
        "batch_size", "lr", "width", "patch", "spacing", "resample", "modality", "ct_window", "patches_per_volume",
        "foreground_fraction", "overlap", "val_patches",
    )
    RENAMED: ClassVar[dict[str, str]] = {"validation": "val_fraction", "test": "test_fraction"}

    data: str = ""
    out: str = ""
    inits: tuple[str, ...] = (SCRATCH,)  # scratch | run folder | .safetensors checkpoint | published .pt
    task: str | None = None
    recipe: str | None = None
    label_fractions: tuple[float, ...] = (0.02, 0.05, 0.1, 0.25, 1.0)
    trials: int = 5
    modes: tuple[str, ...] = ("finetune",)
    converged_epochs: int | None = None  # the converged-scratch control's epoch budget (default 4x epochs; 0: none)
    converged_patience: int | None = None  # its early-stopping patience (default 4x patience)
    reference: str = SCRATCH  # report only: the initialisation every other is compared with
    seed: int = 0
    split_seed: int = 0
    split: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    epochs: int = 30
    patience: int = 6
    batch_size: int = 8
    lr: float = 1e-3
    width: int | None = None
    patch: tuple[int, ...] | None = None
    spacing: tuple[float, ...] | None = None
    resample: bool = True
    modality: str | None = None
    ct_window: tuple[float, ...] | None = None
    patches_per_volume: int = 2
    foreground_fraction: float = 0.67
    overlap: float = 0.5
    val_patches: int = 0
    device: str = "auto"
    overwrite: bool = False
    jobs: int = 1  # processes that share the grid's trials, each with 1/jobs of the threads (not in the identity)

    def validate(self) -> None:
        check_at_least(self, ("trials", "epochs", "patience", "batch_size", "patches_per_volume", "jobs"), 1)
        check_at_least(self, ("converged_epochs", "converged_patience", "val_patches"), 0)
        require(bool(self.inits), "--init: give at least one initialisation")
        require(bool(self.label_fractions) and all(0 < f <= 1 for f in self.label_fractions),
                f"--label-fractions must be in (0, 1], got {','.join(f'{f:g}' for f in self.label_fractions)}")
        require(len(set(self.label_fractions)) == len(self.label_fractions), "--label-fractions: a fraction is listed twice")
        unknown = [m for m in self.modes if m not in MODES]
        require(bool(self.modes) and not unknown, f"--modes: unknown mode(s) {','.join(unknown)}; known: {','.join(MODES)}")
        require(self.lr > 0, f"--lr must be > 0, got {self.lr}")

    @property
    def converged_budget(self) -> tuple[int, int]:
        """(epochs, patience) of the converged-scratch control; epochs 0 means no control."""
        epochs = 4 * self.epochs if self.converged_epochs is None else self.converged_epochs
        return epochs, 4 * self.patience if self.converged_patience is None else self.converged_patience


def _finetune_config(cfg: EvaluateConfig, init: str) -> FinetuneConfig:
    """The FinetuneConfig with evaluate's shared options and ``init`` (for the task, the
    geometry, the samples and the split)."""
    names = {f.name for f in dataclasses.fields(FinetuneConfig)} - {"init", "trials"}
    return FinetuneConfig(**{k: v for k, v in dataclasses.asdict(cfg).items() if k in names}, init=init)


class Probe(nn.Module):
    """A model whose encoder is frozen: its parameters get no gradient and its batch-norm
    layers stay in eval mode (running statistics untouched) when the probe is trained, so
    every encoder tensor keeps its pre-trained value. Classification (``EncoderClassifier``):
    only the linear head ``fc`` on the pooled bottleneck trains; segmentation (``UNet``):
    only the decoder. ``forward`` is the wrapped model's."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.frozen = tuple(model.part_names()["encoder"])
        for name in self.frozen:
            model.get_submodule(name).requires_grad_(False)

    def train(self, mode: bool = True) -> Probe:
        super().train(mode)
        for name in self.frozen:
            self.model.get_submodule(name).train(False)
        return self

    def forward(self, x: torch.Tensor):
        return self.model(x)


@dataclass
class Arm:
    """One row of the grid: a mode (finetune / probe / converged) and an initialisation."""

    mode: str
    init: Init

    @property
    def key(self) -> tuple[str, str]:
        return self.mode, self.init.name


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name) or "_"


def trial_path(out: Path, mode: str, init: str, fraction: float, trial: int) -> Path:
    """Where one finished trial is kept: ``OUT/trials/<mode>/<init>/fraction_<f>/trial_<i>.json``."""
    return out / "trials" / mode / _safe(init) / f"fraction_{fraction:g}" / f"trial_{trial}.json"


def _unique_names(inits: list[Init]) -> list[Init]:
    seen: dict[str, int] = {}
    out = []
    for init in inits:
        seen[init.name] = seen.get(init.name, 0) + 1
        out.append(init if seen[init.name] == 1 else dataclasses.replace(init, name=f"{init.name}-{seen[init.name]}"))
    return out


def _backbone_of(model: nn.Module) -> dict[str, Any]:
    args = dict(model.architecture["args"])
    return dict(args.get("unet_or_args", args))


def _load_finished(path: Path, expected: dict[str, Any]) -> dict | None:
    """A finished trial's record, or None when absent, unreadable (e.g. cut short) or made
    for another cell of the grid (then it is redone)."""
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (ValueError, OSError):
        log.warning("%s: unreadable, the trial is redone", path)
        return None
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in expected.items()) or "test" not in record:
        log.warning("%s: not this grid cell's trial, it is redone", path)
        return None
    return record


def trivial_baselines(data: TaskData, test: list[Loaded], kind: str) -> dict[str, dict[str, Any]]:
    """The test AUC of each of ``data.baselines`` used alone as the score (e.g. LIDC's
    ``diameter_mm``: larger = malignant), on the test samples that have a value: the number
    a model has to beat to be useful. ``{name: {"auc", "samples", "patients"}}``; empty
    unless the task is binary classification."""
    if kind != "binary":
        return {}
    out = {}
    for name, values in data.baselines.items():
        items = [it for it in test if it.sample.id in values]
        if not items:
            continue
        scores = np.array([values[it.sample.id] for it in items], dtype=np.float64)
        targets = np.array([int(it.target) for it in items])
        out[name] = {"auc": classification_metrics(scores, targets, kind="binary")["auc"], "samples": len(items),
                     "patients": len({it.sample.patient for it in items})}
    return out


def _resolve_inits(cfg: EvaluateConfig) -> list[Init]:
    """The initialisations with unique names, scratch first when it was not given."""
    inits = [resolve_init(i) for i in cfg.inits]
    if not any(i.kind == SCRATCH for i in inits):
        log.info("adding scratch: every initialisation is compared with it")
        inits.insert(0, resolve_init(SCRATCH))
    inits = _unique_names(inits)
    names = [i.name for i in inits]
    require(cfg.reference in names, f"--reference {cfg.reference}: not one of the initialisations ({', '.join(names)})")
    return inits


@dataclass
class Design:
    """What is drawn once and shared by every initialisation: the patient split, the nested
    label subsets (label fraction -> training patients kept), the trial seeds."""

    assignment: dict[str, str]
    by_split: dict[str, list[Loaded]]
    subsets: dict[float, list[str]]
    seeds: list[int]
    split_id: str
    subset_ids: dict[float, str]


def _design(cfg: EvaluateConfig, ft: FinetuneConfig, job: Job) -> Design:
    assignment = make_split(ft, job.data, job.loaded)
    train_patients = sorted(p for p, s in assignment.items() if s == "train")
    subsets = {f: label_subset(train_patients, f, seed=cfg.split_seed) for f in sorted(cfg.label_fractions)}
    by_split: dict[str, list[Loaded]] = {"train": [], "validation": [], "test": []}
    for item in job.loaded:
        by_split[assignment[item.sample.patient]].append(item)
    for s, items in by_split.items():
        if not items:
            raise TaskDataError(f"the {s} split is empty ({len(assignment)} patients); add data or change --val-fraction/--test-fraction")
    return Design(assignment, by_split, subsets, [derive_seed(cfg.seed, "trial", i) for i in range(cfg.trials)],
                  split_hash(assignment), {f: split_hash({p: "train" for p in kept}) for f, kept in subsets.items()})


def _run_trial(job: Job, arm: Arm, arrays: dict[str, Arrays], settings: TrainSettings, width: int | None,
               expected: dict[str, Any]) -> dict[str, Any]:
    """Train and test one trial of one arm; returns its record (``expected`` + the result)."""
    model, _ = trial_model(job.data.task, job.n_outputs, job.geometry, arm.init, width, job.device, expected["seed"])
    if arm.mode == "probe":
        model = Probe(model)
    result = train_trial(model, arrays, task=job.data.task, kind=job.kind, label_names=job.label_names,
                         primary_metric=job.primary, settings=settings, seed=derive_seed(expected["seed"], "data"),
                         desc=f"{arm.mode} {arm.init.name} @ {expected['label_fraction']:g}, trial {expected['trial'] + 1}")
    return {**expected, "init_source": str(arm.init.weights or SCRATCH), "epochs": settings.epochs,
            "patience": settings.patience, **result}


@dataclass
class _Prepared:
    """What every process of one evaluation computes alike from its configuration: the
    initialisations, the task, the design (split, subsets, seeds), the arms and the fixed
    validation and test arrays."""

    inits: list[Init]
    pretraining: dict[str, str | None]
    job: Job
    design: Design
    arms: list[Arm]
    fixed: dict[str, Arrays]


def _prepare(cfg: EvaluateConfig) -> _Prepared:
    inits = _resolve_inits(cfg)
    pretrained = [i for i in inits if i.kind != SCRATCH]
    # the inputs (patch, spacing, normalisation) are the task's (semgen.finetune.geometry), the same for every initialisation
    ft = _finetune_config(cfg, str(pretrained[0].weights) if pretrained else SCRATCH)
    job = _job(ft)
    pretraining = {i.name: check_init(job.geometry, i.metadata, i.name) for i in pretrained}
    design = _design(cfg, ft, job)
    inits = _like_for_like_scratch(cfg, job, inits, pretrained)
    fixed = {s: _arrays(design.by_split[s], job.data.task, job.lut) for s in ("validation", "test")}
    if job.data.task == "segmentation" and cfg.val_patches:
        fixed["validation"] = validation_patches(fixed["validation"], job.geometry.patch, cfg.val_patches, cfg.foreground_fraction)
    return _Prepared(inits, pretraining, job, design, _arms(cfg, inits), fixed)


def evaluate(cfg: EvaluateConfig) -> EvaluateResult:
    """Run the whole grid of ``cfg`` (resuming finished trials; with ``cfg.jobs`` > 1 shared
    among that many processes, see :func:`_run_shared`) and write the report; returns the
    typed result (:class:`semgen.finetune.evaluation_report.EvaluateResult`), from which
    ``report.json`` is derived."""
    out = Path(cfg.out)
    prep = _prepare(cfg)
    for line in list(prep.pretraining.values())[1:]:
        if line:
            log.info("%s", line)
    design, job = prep.design, prep.job
    identity = {**cfg.identity(), "split_hash": design.split_id, "samples": len(job.loaded),
                "subsets": {f"{f:g}": design.subset_ids[f] for f in sorted(cfg.label_fractions)}}
    with claim_folder(out, stage="evaluate", identity=identity, outputs=OUTPUTS, config=cfg, overwrite=cfg.overwrite) as claim:
        if claim.resumed:
            log.info("%s: continuing an earlier run of this evaluation (finished trials are kept)", out)
        if cfg.jobs > 1:
            _run_shared(cfg, prep, out)
        records = _run_grid(cfg, prep, out)
        context = _context(cfg, job, design, prep.inits, prep.pretraining)
        return write_report(out, build_report(context, records, seed=cfg.seed))


def _run_shared(cfg: EvaluateConfig, prep: _Prepared, out: Path) -> None:
    """Run the grid's unfinished trials in ``cfg.jobs`` processes: this one takes every
    jobs-th trial of the grid order from the first, each of ``jobs - 1`` spawned workers the
    same stride from its own offset (:func:`_shared_worker`), all with ``threads // jobs``
    threads. A trial's result depends on its cell (split, subset, seed) and the thread count,
    not on the process that runs it. A worker that fails is reported; the caller's full pass
    then runs whatever trial it left."""
    threads = torch.get_num_threads()
    each = max(1, threads // cfg.jobs)
    log.info("%d processes share the trials, %d thread(s) each", cfg.jobs, each)
    ctx = multiprocessing.get_context("spawn")
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(each)  # read by the workers' torch when it loads
    workers = [ctx.Process(target=_shared_worker, args=(cfg, k, each), name=f"semgen-evaluate-{k + 1}")
               for k in range(1, cfg.jobs)]
    try:
        for w in workers:
            w.start()
        torch.set_num_threads(each)
        _run_grid(cfg, prep, out, share=(0, cfg.jobs))
        for w in workers:
            w.join()
            if w.exitcode:
                log.warning("evaluation process %s ended with exit code %s; its unfinished trials are run here",
                            w.name, w.exitcode)
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
                w.join()
        torch.set_num_threads(threads)
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def _shared_worker(cfg: EvaluateConfig, index: int, threads: int) -> None:
    """A spawned process of :func:`_run_shared`: every ``cfg.jobs``-th trial from ``index``."""
    os.environ["SEMGEN_NO_PROGRESS"] = "1"  # one bar, the first process's; every process logs its trials
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format=f"[process {index + 1}/{cfg.jobs}] %(message)s")
    _run_grid(cfg, _prepare(cfg), Path(cfg.out), share=(index, cfg.jobs))


def _like_for_like_scratch(cfg: EvaluateConfig, job: Job, inits: list[Init], pretrained: list[Init]) -> list[Init]:
    """``inits`` with scratch given the pre-trained models' architecture (width, encoder, norm):
    a like-for-like control."""
    if not pretrained:
        return inits
    model, _ = trial_model(job.data.task, job.n_outputs, job.geometry, pretrained[0], cfg.width, job.device, 0)
    scratch_meta = {"architecture": {"args": _backbone_of(model)}}
    return [dataclasses.replace(i, metadata=scratch_meta) if i.kind == SCRATCH else i for i in inits]


def _arms(cfg: EvaluateConfig, inits: list[Init]) -> list[Arm]:
    """Every mode with every initialisation, then the converged-scratch control when it has a budget."""
    arms = [Arm(mode, init) for mode in cfg.modes for init in inits]
    if cfg.converged_budget[0]:
        arms.append(Arm(CONVERGED, next(i for i in inits if i.kind == SCRATCH)))
    return arms


def _run_grid(cfg: EvaluateConfig, prep: _Prepared, out: Path,
              share: tuple[int, int] = (0, 1)) -> dict[tuple[float, str, str], list[dict]]:
    """Every trial of every arm at every label fraction, a finished trial file kept; returns the
    records by (label fraction, mode, initialisation). ``share=(k, n)``: only the trials at
    positions k, k + n, k + 2n, ... of that order (one process of :func:`_run_shared`)."""
    job, design, arms, fixed = prep.job, prep.design, prep.arms, prep.fixed
    fractions = sorted(cfg.label_fractions)
    conv_epochs, conv_patience = cfg.converged_budget
    total = len(range(share[0], len(fractions) * len(arms) * cfg.trials, share[1]))
    records: dict[tuple[float, str, str], list[dict]] = {}
    bar, done = progress(total=total, desc="evaluate", unit="trial"), 0
    position = -1
    for f in fractions:
        kept = set(design.subsets[f])
        train = _arrays([it for it in design.by_split["train"] if it.sample.patient in kept], job.data.task, job.lut)
        for arm in arms:
            epochs, patience = (conv_epochs, conv_patience) if arm.mode == CONVERGED else (cfg.epochs, cfg.patience)
            settings = TrainSettings(epochs, patience, cfg.batch_size, cfg.lr, job.geometry.patch,
                                     cfg.patches_per_volume, cfg.foreground_fraction, cfg.overlap, job.device)
            for i, seed in enumerate(design.seeds):
                position += 1
                if position % share[1] != share[0]:
                    continue
                path = trial_path(out, arm.mode, arm.init.name, f, i)
                expected = {"label_fraction": f, "mode": arm.mode, "init": arm.init.name, "trial": i, "seed": seed,
                            "split_hash": design.split_id, "subset_hash": design.subset_ids[f]}
                record = _load_finished(path, expected)
                if record is None:
                    record = _run_trial(job, arm, {"train": train, **fixed}, settings, cfg.width, expected)
                    write_json(path, nan_to_none(record))
                    log.info("[%d/%d] %s %s, label fraction %g, trial %d: test %s = %.4f (best epoch %d of %d, %.1f s)",
                             done + 1, total, arm.mode, arm.init.name, f, i, job.primary, record["test"][job.primary],
                             record["best_epoch"], record["epochs_run"], record["time_s"])
                records.setdefault((f, *arm.key), []).append(record)
                done += 1
                bar.update()
    bar.close()
    return records


def _context(cfg: EvaluateConfig, job: Job, design: Design, inits: list[Init], pretraining: dict[str, str | None]) -> dict[str, Any]:
    """What the report says about the design: task, initialisations, geometry, budgets, split,
    label subsets and the trivial baselines."""
    fractions = sorted(cfg.label_fractions)
    conv_epochs, conv_patience = cfg.converged_budget
    by_split, assignment = design.by_split, design.assignment
    return {
        "task": job.data.task, "task_name": job.data.recipe or f"{Path(cfg.data).name}-{job.data.task}",
        "kind": job.kind, "data": str(job.data.root), "primary_metric": job.primary,
        "inits": [{"name": i.name, "source": str(i.weights or SCRATCH), "kind": i.kind,
                   "pretraining": pretraining.get(i.name)} for i in inits],
        "geometry": job.geometry.to_dict(),
        "reference": cfg.reference, "label_fractions": fractions, "modes": list(cfg.modes), "trials": cfg.trials,
        "seed": cfg.seed, "seeds": design.seeds, "budget": {"epochs": cfg.epochs, "patience": cfg.patience},
        "converged": {"epochs": conv_epochs, "patience": conv_patience} if conv_epochs else None,
        "split": {"seed": cfg.split_seed, "hash": design.split_id, "samples": {s: len(v) for s, v in by_split.items()},
                  "patients": {s: sum(v == s for v in assignment.values()) for s in by_split}},
        "subsets": {f"{f:g}": {"patients": len(design.subsets[f]), "hash": design.subset_ids[f]} for f in fractions},
        "skipped": len(job.skipped),
        "baselines": trivial_baselines(job.data, by_split["test"], job.kind),
    }
