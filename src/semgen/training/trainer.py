"""The pre-training loop: one loop for every method (paper Sec. 2-3), exact resume, DDP, autocast.

Per epoch: read crops (workers only read), corrupt the whole batch on the device with
the trainer's own generator, run the objective (classification alone during the
warm-up epochs, then the method's branches), step Adam; then validate under *fixed*
corruptions (a generator re-seeded from ``(seed, "val", rank)`` every epoch, so the
validation inputs are identical from epoch to epoch and early stopping sees a
deterministic signal), step the learning-rate schedule, keep the best weights
(``model.safetensors`` + ``model.json``) and the resumable state (``last.pt``), and
rewrite ``metrics.csv``; every ``pictures_every`` epochs and after the last, redraw
``curves.png`` and ``triplets/epoch_XXX.png``. Only rank 0 writes.

Early stopping and "best" restart when the warm-up ends: the published code trains the
two stages as two runs, each with its own early stopping.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from semgen.loggers import Logger, make_logger
from semgen.tasks import BranchNet, Objective, get_method
from semgen.training.checkpoint import STATE_FILE, save_state
from semgen.training.config import PretrainConfig
from semgen.training.data import make_loader
from semgen.training.distributed import DistInfo, all_reduce_sum, barrier, gather_object
from semgen.training.metrics import CollapseMeter, write_metrics
from semgen.training.result import PretrainResult
from semgen.utils.config import config_to_dict
from semgen.utils.io import write_json
from semgen.utils.progress import Pace, progress
from semgen.utils.seeding import derive_seed, torch_generator

log = logging.getLogger(__name__)

class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step, the batch and the last good checkpoint."""


@dataclass
class TrainingData:
    """What the loop trains on.

    ``train``/``validation`` yield ``(crop: FloatTensor (1, *patch) in [0, 1], label: int)``
    (label -1 without classes). ``metadata`` goes into the checkpoint JSON (spacing,
    intensity window, orientation, manifest hash, ...).
    """

    train: Dataset
    validation: Dataset | None
    spatial_dims: int
    patch: tuple[int, ...]
    num_classes: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


def pretraining_model(cfg: PretrainConfig, data: TrainingData, with_head: bool) -> nn.Module:
    """The ``--backbone`` network (default: the U-Net of ``semgen.models``; ``--width``,
    ``--norm``, ``--encoder`` apply to it, ``--width`` also sets a framework backbone's default
    widths), initialised from ``derive_seed(seed, "init")`` (global RNG untouched)."""
    from semgen.models import backbone_architecture, build_model

    arch = backbone_architecture(cfg.backbone, cfg.backbone_args, spatial_dims=data.spatial_dims,
                                 num_classes=data.num_classes if with_head else 0, width=cfg.width,
                                 norm=cfg.norm, encoder=cfg.encoder)
    return build_model(arch, seed=derive_seed(cfg.seed, "init"))


def _precision(cfg: PretrainConfig, model: nn.Module, device: torch.device, patch_size: tuple[int, ...]):
    """(model, autocast context factory, GradScaler or None) for ``cfg.precision``."""
    if cfg.precision == "fp32":
        return model, contextlib.nullcontext, None
    if cfg.precision == "auto":
        from semgen.models import fast_training_context, prepare_model_for_speed

        model = prepare_model_for_speed(model, device, patch_size)
        return model, lambda: fast_training_context(device, patch_size), None
    if cfg.precision == "fp16" and device.type != "cuda":
        raise ValueError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    if cfg.precision == "bf16" and device.type == "cpu":
        from semgen.models.speed import cpu_bf16_native

        if not cpu_bf16_native():
            log.warning("--precision bf16: this CPU has no bf16 instructions (AVX512-BF16 or AMX), so bf16 is "
                        "emulated and training runs about 9x slower than fp32; use --precision auto or fp32")
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
    return model, lambda: torch.autocast(device.type, dtype=dtype), scaler


class Trainer:
    """One pre-training run in ``run_dir`` (see the module docstring); :meth:`run` returns its :class:`~semgen.training.result.PretrainResult`.

    ``state`` (from :func:`~semgen.training.pipeline.claim_run`) continues a run exactly; ``on_step(epoch,
    global_step)`` is called after every optimiser step (progress hooks, tests).
    """

    def __init__(
        self,
        cfg: PretrainConfig,
        data: TrainingData,
        run_dir: str | Path,
        info: DistInfo | None = None,
        *,
        state: dict[str, Any] | None = None,
        on_step: Callable[[int, int], None] | None = None,
    ):
        self.cfg = cfg
        self.data = data
        self.run_dir = Path(run_dir)
        self.info = info or DistInfo()
        self.device = self.info.device
        self.on_step = on_step
        self.logger = Logger(self.run_dir)  # the --log logger on rank 0 while run() trains
        self.method = get_method(cfg.method)
        if self.method.classification and data.num_classes < 2:
            raise ValueError(
                f"method {cfg.method} classifies patterns but the data has {data.num_classes} class(es); need at least 2"
            )
        self.objective = Objective(self.method, lambda_rec=cfg.lambda_rec, lambda_cls=cfg.lambda_cls, schedule=cfg.schedule)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model = pretraining_model(cfg, data, self.method.classification)
        model, self.autocast, self.scaler = _precision(cfg, model, self.device, tuple(data.patch))
        self.model = model.to(self.device)
        self.net = BranchNet(self.model)
        self.train_net: nn.Module = self.net
        self._ddp_unused: bool | None = None
        # fused: one kernel over all parameters instead of a Python loop per tensor (CPU and CUDA)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, fused=self.device.type in ("cpu", "cuda"))
        if cfg.lr_schedule == "step":
            self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
        elif cfg.lr_schedule == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=cfg.lr_gamma, patience=cfg.plateau_patience, min_lr=cfg.min_lr
            )
        else:
            self.scheduler = None
        self.generator = torch_generator(cfg.seed, "corrupt", self.info.rank, device=self.device)
        self.epoch = 0
        self.step = 0
        self.best = math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.rows: list[dict[str, Any]] = []
        self.seconds = 0.0
        if state is not None:
            self._restore(state)

    # ---- state -------------------------------------------------------------------------

    def rng_state(self) -> dict[str, torch.Tensor]:
        """This process's random streams: the corruption generator and torch's default
        generators (CPU, and this process's CUDA device). The data order and the workers'
        streams need no state: they are functions of (seed, epoch, rank)."""
        streams = {"generator": self.generator.get_state(), "torch_rng": torch.get_rng_state()}
        if self.device.type == "cuda":
            streams["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return streams

    def state(self, ranks: list[dict[str, torch.Tensor]] | None = None) -> dict[str, Any]:
        """Everything needed to continue exactly after the current epoch; ``ranks``: every
        rank's :meth:`rng_state` in rank order (default: this process's only)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "ranks": ranks if ranks is not None else [self.rng_state()],
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "rows": self.rows,
            "seconds": self.seconds,
            "world_size": self.info.world_size,
            "threads": torch.get_num_threads(),
            "config": config_to_dict(self.cfg),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        ranks = state.get("ranks") or [{"generator": state["generator"], "torch_rng": state["torch_rng"]}]  # older files
        if len(ranks) == self.info.world_size:
            mine = ranks[self.info.rank]
            self.generator.set_state(mine["generator"])
            torch.set_rng_state(mine["torch_rng"])
            if "cuda_rng" in mine and self.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda_rng"], self.device)
        else:
            log.warning(
                "resuming on %d process(es), the run used %d: corruptions will differ", self.info.world_size, len(ranks)
            )
        if state.get("threads", torch.get_num_threads()) != torch.get_num_threads():
            log.warning("resuming with %d torch threads, the run used %d: the weights will differ slightly from an "
                        "uninterrupted run (pass --threads %d to continue exactly)",
                        torch.get_num_threads(), state["threads"], state["threads"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]
        self.rows, self.seconds = list(state["rows"]), state["seconds"]

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> PretrainResult:
        """Train until ``cfg.epochs`` or early stopping; returns the run's result (its
        :meth:`~PretrainResult.to_json` is ``summary.json``)."""
        cfg = self.cfg
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.logger = make_logger(cfg.log, self.run_dir)
            atlas = Path(self.data.metadata.get("patterns") or self.run_dir / "-") / "atlas.png"
            if atlas.is_file() and self.epoch == 0:
                self.logger.image_file("atlas", atlas, 0)
        try:
            result = self._train()
        finally:
            self.logger.close()
        if self.info.is_main:
            write_json(self.run_dir / "summary.json", result.to_json())
        barrier(self.info)
        return result

    def _train(self) -> PretrainResult:
        cfg = self.cfg
        stopped = "early stopping" if self._patience_spent() else "completed"
        self._pace = Pace(log, "epoch", cfg.epochs, initial=self.epoch)
        while self.epoch < cfg.epochs and stopped == "completed":
            warmup = self.epoch < cfg.warmup_epochs
            if self.epoch == cfg.warmup_epochs and cfg.warmup_epochs > 0:
                # joint training starts: a new objective, so best and patience restart
                self.best, self.bad_epochs = math.inf, 0
            t0 = time.perf_counter()
            train_metrics = self._train_epoch(warmup)
            train_seconds = time.perf_counter() - t0
            val_metrics, collapse, triplets = self._validate(warmup)
            row = self._row(warmup, train_metrics, val_metrics, collapse, train_seconds)
            self._end_epoch(row, triplets)
            if self._patience_spent():
                stopped = "early stopping"
        return self._summary(stopped)

    def _patience_spent(self) -> bool:
        # the warm-up is a fixed number of epochs (paper Sec. 3); early stopping watches the rest
        return self.bad_epochs >= self.cfg.patience and self.epoch >= self.cfg.warmup_epochs

    def _wrap_ddp(self, warmup: bool) -> None:
        """(Re)wrap the model in DDP for this phase: unused parameters (the decoder during the
        warm-up, or always for self-classification) need ``find_unused_parameters``."""
        from torch.nn.parallel import DistributedDataParallel

        unused = self.method.classification and (warmup or not self.method.restoration)
        if unused != self._ddp_unused:
            self.train_net = DistributedDataParallel(
                self.net,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=unused,
            )
            self._ddp_unused = unused

    def _train_epoch(self, warmup: bool) -> dict[str, float | None]:
        cfg, info = self.cfg, self.info
        if info.distributed:
            self._wrap_ddp(warmup)
        loader = make_loader(
            self.data.train,
            batch_size=cfg.batch_size,
            rank=info.rank,
            world_size=info.world_size,
            seed=cfg.seed,
            epoch=self.epoch,
            shuffle=True,
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.net.train()
        sums = torch.zeros(5, dtype=torch.float64)  # loss*n, rec*n, cls*n, correct, n
        quiet = {} if info.is_main else {"disable": True}
        bar = progress(loader, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False, **quiet)
        for batch_index, (indices, crops, labels) in enumerate(bar):
            crops = crops.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            with torch.no_grad():
                inputs, targets = self.objective.corrupt(crops, self.generator)
            with self.autocast():
                out = self.objective(self.train_net, {"input": inputs, "target": targets, "label": labels}, warmup=warmup)
            self._check_finite(out["loss"], batch_index, indices)
            self.optimize(out["loss"])
            self.step += 1
            self._accumulate(sums, out, crops.shape[0])
            if info.is_main:
                bar.set_postfix(loss=f"{out['loss'].item():.4f}")
            if self.on_step is not None:
                self.on_step(self.epoch, self.step)
        return self._means(sums)

    def optimize(self, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss``: gradients cleared, back-propagated (through the
        GradScaler where fp16 needs one) and applied."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()

    def _check_finite(self, loss: torch.Tensor, batch_index: int, indices: torch.Tensor) -> None:
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).item() else 1.0])
        all_reduce_sum(bad, self.info)
        if bad.item() == 0:
            return
        last = self.run_dir / STATE_FILE
        where = (
            f"{last} (end of epoch {self.epoch}; continue with --resume {self.run_dir})"
            if last.exists()
            else "none (no epoch finished yet)"
        )
        value = loss.item()
        what = f"the loss became {value}" if not math.isfinite(value) else "the loss became non-finite on another rank"
        raise TrainingDiverged(
            f"{what} at epoch {self.epoch + 1}, step {self.step + 1} (batch {batch_index} of the epoch, "
            f"samples {indices.tolist()} on rank {self.info.rank}); the run stopped. Last good checkpoint: {where}"
        )

    @staticmethod
    def _accumulate(sums: torch.Tensor, out: dict[str, Any], n: int) -> None:
        values = [out["loss"].detach()] + [out[k] for k in ("loss_rec", "loss_cls")]
        for i, v in enumerate(values):
            if v is not None:
                sums[i] += float(v) * n
        if out["acc"] is not None:
            sums[3] += float(out["acc"]) * n
        sums[4] += n

    def _means(self, sums: torch.Tensor) -> dict[str, float | None]:
        all_reduce_sum(sums, self.info)
        n = sums[4].item()
        cls, rec = self.objective.branches(self.epoch < self.cfg.warmup_epochs)
        if n == 0:
            return {"loss": None, "loss_rec": None, "loss_cls": None, "acc_cls": None, "n": 0}
        return {
            "loss": sums[0].item() / n,
            "loss_rec": sums[1].item() / n if rec else None,
            "loss_cls": sums[2].item() / n if cls else None,
            "acc_cls": sums[3].item() / n if cls else None,
            "n": n,
        }

    @torch.no_grad()
    def _validate(self, warmup: bool):
        cfg, info = self.cfg, self.info
        if self.data.validation is None or len(self.data.validation) == 0:
            return None, None, None
        loader = make_loader(
            self.data.validation,
            batch_size=cfg.batch_size,
            rank=info.rank,
            world_size=info.world_size,
            seed=cfg.seed,
            epoch=0,
            shuffle=False,
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        generator = torch_generator(cfg.seed, "val", info.rank, device=self.device)
        self.net.eval()
        sums = torch.zeros(5, dtype=torch.float64)
        meter = CollapseMeter(self.data.num_classes if self.method.classification else 0)
        shown: tuple[list[np.ndarray], ...] = ([], [], [])  # originals, corrupted, restored
        shown_labels: list[str] = []
        shown_classes: set[int] = set()
        for _, crops, labels in loader:
            crops = crops.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            inputs, targets, params = self.objective.corrupt_with_params(crops, generator)
            with self.autocast():
                out = self.objective(self.net, {"input": inputs, "target": targets, "label": labels}, warmup=warmup)
            self._accumulate(sums, out, crops.shape[0])
            meter.update(out["restored"], targets if out["restored"] is not None else None, out["logits"])
            missing = cfg.triplets - sum(len(a) for a in shown[0])
            if info.is_main and out["restored"] is not None and missing > 0:
                picked = _one_per_class(labels, shown_classes, missing, self.data.num_classes > 1)
                for kept, t in zip(shown, (targets, inputs, out["restored"])):
                    kept.append(t[picked, 0].float().cpu().numpy())
                shown_labels += _triplet_labels(self.objective.schedule.applied(params), labels, picked, self.method.classification)
        metrics = self._means(sums)
        n_rec = torch.tensor([float(meter.n)], dtype=torch.float64)
        all_reduce_sum(n_rec, info)
        for t in meter.tensors():
            all_reduce_sum(t, info)
        collapse = meter.value(int(n_rec.item()))
        triplets = (*(np.concatenate(kept) for kept in shown), shown_labels) if shown[0] else None
        return metrics, collapse, triplets

    def _row(self, warmup, train, val, collapse, seconds) -> dict[str, Any]:
        self.seconds += seconds
        row = {
            "epoch": self.epoch + 1,
            "phase": "warmup" if warmup else "joint" if self.method.joint else "train",
            "loss": train["loss"],
            "loss_rec": train["loss_rec"],
            "loss_cls": train["loss_cls"],
            "acc_cls": train["acc_cls"],
            "lr": self.optimizer.param_groups[0]["lr"],
            "cubes_per_s": train["n"] / seconds if seconds > 0 else None,
            "seconds": seconds,
            "collapse": collapse,
        }
        if val is not None:
            row.update({f"val_{k}": v for k, v in val.items() if k != "n"})
        return row

    def _end_epoch(self, row: dict[str, Any], triplets) -> None:
        cfg = self.cfg
        monitored = row.get("val_loss")
        if monitored is None:
            monitored = row["loss"]
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored)
        elif self.scheduler is not None:
            self.scheduler.step()
        improved = monitored < self.best - cfg.min_delta
        if improved:
            self.best, self.best_epoch, self.bad_epochs = monitored, self.epoch + 1, 0
        else:
            self.bad_epochs += 1
        row["best"] = int(improved)
        self.rows.append(row)
        self.epoch += 1
        ranks = gather_object(self.rng_state(), self.info)  # every rank takes part; rank 0 saves them all
        if self.info.is_main:
            self._pace.step(self.epoch, epoch_line(row))
            if improved:
                self._save_model(self.run_dir, self.best)
            if cfg.keep_every and self.epoch % cfg.keep_every == 0:
                self._save_model(self.run_dir / "epochs" / f"epoch_{self.epoch:03d}", monitored)
            save_state(self.run_dir / STATE_FILE, self.state(ranks))
            write_metrics(self.run_dir / "metrics.csv", self.rows)
            self.logger.scalars(self.epoch, {k: v for k, v in row.items() if k != "epoch"})
            last = self.epoch >= cfg.epochs or self._patience_spent()
            if last or self.epoch % cfg.pictures_every == 0:
                self._draw_pictures(triplets)
        barrier(self.info)

    def _draw_pictures(self, triplets) -> None:
        """``curves.png`` (all epochs so far) and ``triplets/epoch_XXX.png`` of this epoch's
        validation crops (when the method restores); about 0.5 s together, hence only every
        ``pictures_every`` epochs and after the last."""
        from semgen.viz.training import plot_curves, plot_triplets

        plot_curves(self.rows, self.run_dir / "curves.png", title=f"{self.cfg.method} pre-training")
        if triplets is not None:
            *arrays, labels = triplets
            picture = self.run_dir / "triplets" / f"epoch_{self.epoch:03d}.png"
            plot_triplets(
                *arrays, picture,
                title=f"epoch {self.epoch}: validation crops, schedule {self.method.schedule}", labels=labels,
            )
            self.logger.image_file("triplets", picture, self.epoch)

    def _save_model(self, folder: Path, val_loss: float) -> None:
        """``folder/model.safetensors`` + ``model.json`` + ``README.md``: the run folder's best
        weights, or an epoch's weights kept by ``keep_every`` (a run folder ``--init`` reads)."""
        from semgen.card import write_card
        from semgen.models import save_checkpoint

        cfg = self.cfg
        metadata = {
            **self.data.metadata,
            "method": cfg.method,
            "patch_size": list(self.data.patch),
            "spatial_dims": self.data.spatial_dims,
            "num_classes": self.data.num_classes if self.method.classification else 0,
            "epoch": self.epoch,
            "val_loss": val_loss,
            "val_metrics": {k[4:]: v for k, v in self.rows[-1].items() if k.startswith("val_") and k != "val_loss"},
            "seed": cfg.seed,
            "datasets": list(cfg.dataset_name),
            "pretrain_config": config_to_dict(cfg),
        }
        save_checkpoint(folder / "model.safetensors", self.model, metadata)
        write_card(folder / "model.safetensors")

    def _summary(self, stopped: str) -> PretrainResult:
        rows = self.rows
        joint = [r for r in rows if r["phase"] != "warmup"]
        rec = [r["loss_rec"] for r in joint if r.get("loss_rec") is not None]
        acc_key = "val_acc_cls" if rows and rows[-1].get("val_acc_cls") is not None else "acc_cls"
        return PretrainResult(
            method=self.cfg.method,
            schedule=self.cfg.schedule,
            run=self.run_dir,
            stopped=stopped,
            epochs=len(rows),
            warmup_epochs=self.cfg.warmup_epochs,
            best_epoch=self.best_epoch,
            best_loss=self.best if math.isfinite(self.best) else None,
            train_seconds=self.seconds,
            world_size=self.info.world_size,
            num_classes=self.data.num_classes if self.method.classification else 0,
            chance_accuracy=1.0 / self.data.num_classes if self.method.classification else None,
            final_accuracy=rows[-1].get(acc_key) if rows else None,
            accuracy_of=acc_key,
            first_loss_rec=rec[0] if rec else None,
            last_loss_rec=rec[-1] if rec else None,
            final_collapse=rows[-1].get("collapse") if rows else None,
            train_samples=len(self.data.train),
            validation_samples=len(self.data.validation) if self.data.validation is not None else 0,
            patch=tuple(self.data.patch),
            spatial_dims=self.data.spatial_dims,
            width=self.cfg.width,
            backbone=self.cfg.backbone,
            last=rows[-1] if rows else None,
        )


def _triplet_labels(corruptions: list[str], labels: torch.Tensor, picked: list[int], by_class: bool) -> list[str]:
    """One row label per picked sample: its pattern class (when the method classifies) and
    the corruptions applied to it."""
    classes = labels.tolist()
    return [
        "\n".join(
            ([f"class {classes[i]}"] if by_class else [])
            + ([corruptions[i].replace("_", " ").replace(" + ", " +\n")] if corruptions else ["no corruption"])
        )
        for i in picked
    ]


def _one_per_class(labels: torch.Tensor, seen: set[int], limit: int, by_class: bool) -> list[int]:
    """Indices of up to ``limit`` samples to draw as restoration triplets: the first sample of
    each class not shown yet (updating ``seen``), so the pictures cover several patterns;
    the first samples when there are no pattern classes."""
    if not by_class:
        return list(range(min(limit, len(labels))))
    picked = []
    for i, c in enumerate(labels.tolist()):
        if len(picked) == limit:
            break
        if c not in seen:
            seen.add(c)
            picked.append(i)
    return picked


def epoch_line(row: dict[str, Any]) -> str:
    """The metrics of one row of ``metrics.csv`` in words, for the per-epoch log line."""

    def num(key: str, fmt: str = ".4f") -> str | None:
        value = row.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)

    parts = [row["phase"]]
    for prefix, label in (("", "train"), ("val_", "val")):
        terms = [f"loss {num(prefix + 'loss')}"] if num(prefix + "loss") else []
        if num(prefix + "loss_rec"):
            terms.append(f"restoration {num(prefix + 'loss_rec')}")
        if num(prefix + "loss_cls"):
            terms.append(f"classification {num(prefix + 'loss_cls')}")
        if num(prefix + "acc_cls"):
            terms.append(f"accuracy {num(prefix + 'acc_cls', '.1%')}")
        if terms:
            parts.append(f"{label} " + ", ".join(terms))
    if num("collapse"):
        parts.append(f"collapse {num('collapse', '.2f')}")
    parts.append(f"lr {row['lr']:.2g}")
    if num("cubes_per_s"):
        parts.append(f"{num('cubes_per_s', '.3g')} crops/s")
    if row.get("best"):
        parts.append("best so far")
    return "; ".join(parts)
