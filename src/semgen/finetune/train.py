"""Fine-tuning one trial: losses, patch sampling, sliding-window prediction, the loop with
early stopping, and test metrics.

Paper Sec. 2-3: "the encoder alone can be fine-tuned for target classification tasks;
while the encoder and decoder together can be fine-tuned for target segmentation tasks".
Heads return logits: the published fine-tuning example (``TargetNet``: Linear → ReLU →
sigmoid + BCELoss) has a ReLU before the sigmoid, which makes every prediction ≥ 0.5
(reference Sec. 2, fine-tuning examples); we use logits with ``BCEWithLogits`` (binary,
multi-label) or ``cross_entropy`` (multi-class), and cross-entropy + soft Dice (smooth 1, as
published) for segmentation. Optimiser: Adam lr 1e-3 with ReduceLROnPlateau (the
maintainer's recipe, reference Sec. 5); early stopping on the validation loss, the best
epoch's weights are tested.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semgen.finetune.metrics import classification_metrics, segmentation_metrics
from semgen.utils.progress import Pace, progress
from semgen.utils.seeding import numpy_rng

log = logging.getLogger(__name__)


@dataclass
class Arrays:
    """One split in memory. Classification: ``images`` (N, 1, *patch) float32 tensor,
    ``targets`` (N,) int64 or (N, K) float32. Segmentation: lists of whole images
    ``(1, *S)`` float32 and label maps ``(*S)`` int64 (class indices 0..K-1)."""

    images: torch.Tensor | list[torch.Tensor]
    targets: torch.Tensor | list[torch.Tensor]
    ids: list[str]


@dataclass
class TrainSettings:
    """Loop settings: see :class:`semgen.finetune.config.FinetuneConfig` for their meaning."""

    epochs: int
    patience: int
    batch_size: int
    lr: float
    patch: tuple[int, ...]
    patches_per_volume: int
    foreground_fraction: float
    overlap: float
    device: torch.device


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - mean over foreground classes of the soft Dice (2 Σ p g + s) / (Σ p + Σ g + s),
    summed over the batch and space (smooth s = 1 as published). ``logits`` (B, K, *S),
    ``target`` (B, *S) class indices; K = 1 is not allowed (use K = 2 for one structure)."""
    probs = torch.softmax(logits.float(), dim=1)
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, *range(2, logits.dim()))
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (denom + smooth)
    return 1 - dice[1:].mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + soft Dice (both on logits (B, K, *S) vs class indices (B, *S))."""
    return F.cross_entropy(logits.float(), target) + soft_dice_loss(logits, target)


def classification_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """BCE-with-logits for ``binary`` (logits (B, 1), targets (B,) in {0, 1}) and
    ``multilabel`` (both (B, K)); cross-entropy for ``multiclass`` (targets (B,) indices)."""
    logits = logits.float()
    if kind == "binary":
        return F.binary_cross_entropy_with_logits(logits[:, 0], target.float())
    if kind == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, target.float())
    return F.cross_entropy(logits, target)


def _scores(logits: torch.Tensor, kind: str) -> np.ndarray:
    logits = logits.float()
    if kind == "binary":
        return torch.sigmoid(logits[:, 0]).numpy()
    if kind == "multilabel":
        return torch.sigmoid(logits).numpy()
    return torch.softmax(logits, dim=1).numpy()


def pad_to(array: torch.Tensor, shape: Sequence[int], value: float = 0.0) -> torch.Tensor:
    """Pad the last ``len(shape)`` dims of ``array`` at their end up to at least ``shape``."""
    pads = []
    for size, target in zip(reversed(array.shape[-len(shape):]), reversed(tuple(shape))):
        pads += [0, max(0, target - size)]
    return F.pad(array, pads, value=value) if any(pads) else array


def _gaussian_map(patch: Sequence[int]) -> torch.Tensor:
    """Importance map for blending windows: a Gaussian with σ = patch / 8 (nnU-Net)."""
    axes = [torch.exp(-0.5 * ((torch.arange(p, dtype=torch.float32) - (p - 1) / 2) / (p / 8)) ** 2) for p in patch]
    g = axes[0]
    for a in axes[1:]:
        g = g[..., None] * a
    return (g / g.max()).clamp_min(1e-3)


def _starts(size: int, patch: int, step: int) -> list[int]:
    starts = list(range(0, max(size - patch, 0) + 1, step))
    if starts[-1] != max(size - patch, 0):
        starts.append(size - patch)
    return starts


@torch.no_grad()
def sliding_window(
    predict: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    patch: Sequence[int],
    *,
    overlap: float = 0.5,
    batch_size: int = 4,
    blend: str = "gaussian",
) -> torch.Tensor:
    """Whole-image logits from a patch model: windows of ``patch`` with the given
    ``overlap`` (0 <= overlap < 1) cover ``image`` (C, *S) (zero-padded to at least the
    patch), ``predict`` maps (B, C, *patch) to (B, K, *patch), window outputs are blended
    with Gaussian or uniform (``blend="mean"``) weights. Returns (K, *S) float32 on ``image``'s device."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    spatial = tuple(image.shape[1:])
    padded = pad_to(image, patch)
    full = tuple(padded.shape[1:])
    steps = [max(1, int(p * (1 - overlap))) for p in patch]
    grids = np.meshgrid(*[_starts(s, p, st) for s, p, st in zip(full, patch, steps)], indexing="ij")
    corners = np.stack([g.ravel() for g in grids], axis=1)
    weight = (_gaussian_map(patch) if blend == "gaussian" else torch.ones(tuple(patch))).to(image.device)
    out = None
    norm = torch.zeros(full, device=image.device)
    for i in range(0, len(corners), batch_size):
        chunk = corners[i : i + batch_size]
        windows = [tuple(slice(int(c), int(c) + p) for c, p in zip(corner, patch)) for corner in chunk]
        logits = predict(torch.stack([padded[(slice(None), *w)] for w in windows])).float()
        if out is None:
            out = torch.zeros((logits.shape[1], *full), device=image.device)
        for w, lg in zip(windows, logits):
            out[(slice(None), *w)] += lg * weight
            norm[w] += weight
    out = out / norm
    return out[(slice(None), *(slice(0, s) for s in spatial))]


class PatchSampler:
    """Random training patches from whole volumes/images (3D segmentation).

    A share ``foreground_fraction`` of patches is centred on a voxel of a foreground class
    drawn uniformly among the classes present (so small structures are seen); the rest are
    placed uniformly. Volumes smaller than the patch are zero-padded. Randomness only from
    the ``numpy.random.Generator`` passed to :meth:`sample`.
    """

    def __init__(self, images: list[torch.Tensor], labels: list[torch.Tensor], patch: Sequence[int], foreground_fraction: float) -> None:
        self.patch = tuple(patch)
        self.images = [pad_to(im, self.patch) for im in images]
        self.labels = [pad_to(lb, self.patch) for lb in labels]
        self.foreground_fraction = foreground_fraction
        self.by_class = []
        for lb in self.labels:
            flat = lb.reshape(-1).numpy()
            self.by_class.append({int(c): np.flatnonzero(flat == c) for c in np.unique(flat) if c > 0})

    def sample(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One (image (1, *patch), label (*patch)) patch of volume ``index``."""
        image, label = self.images[index], self.labels[index]
        shape = tuple(label.shape)
        classes = self.by_class[index]
        if classes and rng.random() < self.foreground_fraction:
            voxels = classes[sorted(classes)[rng.integers(len(classes))]]
            center = np.unravel_index(int(voxels[rng.integers(len(voxels))]), shape)
            start = [min(max(int(c) - p // 2, 0), s - p) for c, p, s in zip(center, self.patch, shape)]
        else:
            start = [int(rng.integers(0, s - p + 1)) for p, s in zip(self.patch, shape)]
        window = tuple(slice(a, a + p) for a, p in zip(start, self.patch))
        return image[(slice(None), *window)], label[window]


def validation_patches(data: Arrays, patch: Sequence[int], per_volume: int, foreground_fraction: float) -> Arrays:
    """``per_volume`` patches cut once from each validation volume with a fixed seed (the same
    for every trial and initialisation), placed as training patches are. Validating on them
    each epoch costs ``per_volume`` forward passes per volume instead of a sliding window over
    it, as nnU-Net validates during training; the test split is always predicted whole."""
    sampler = PatchSampler(data.images, data.targets, patch, foreground_fraction)
    rng = numpy_rng(0, "validation-patches")
    pairs = [(data.ids[i], *sampler.sample(i, rng)) for i in range(len(data.ids)) for _ in range(per_volume)]
    return Arrays([p[1] for p in pairs], [p[2] for p in pairs], [f"{p[0]}#{k % per_volume}" for k, p in enumerate(pairs)])


def _fast_context(settings: TrainSettings):
    """``semgen.models.fast_training_context`` (bf16 autocast where the hardware supports it
    and the patch is large enough for it)."""
    from semgen.models import fast_training_context

    return fast_training_context(settings.device, settings.patch)


class Evaluator:
    """Loss, scores and metrics of a model on one split (classification or segmentation)."""

    def __init__(self, task: str, kind: str, label_names: dict[int, str], settings: TrainSettings) -> None:
        self.task, self.kind, self.label_names, self.settings = task, kind, label_names, settings

    @torch.no_grad()
    def classify(self, model: nn.Module, data: Arrays) -> tuple[float, dict[str, float], np.ndarray]:
        """Classification: (mean loss, metrics, scores) with ``scores`` the probabilities,
        (N,) for binary, (N, K) otherwise; the model is left in eval mode."""
        model.eval()
        logits = []
        for i in range(0, len(data.ids), self.settings.batch_size):
            with _fast_context(self.settings):
                logits.append(model(data.images[i : i + self.settings.batch_size].to(self.settings.device)).float().cpu())
        all_logits = torch.cat(logits)
        loss = float(classification_loss(all_logits, data.targets, self.kind))
        scores = _scores(all_logits, self.kind)
        return loss, classification_metrics(scores, data.targets.numpy(), kind=self.kind), scores

    @torch.no_grad()
    def __call__(self, model: nn.Module, data: Arrays) -> tuple[float, dict[str, float]]:
        """(mean loss, metrics) of ``model`` on ``data``; the model is left in eval mode."""
        if self.task == "classification":
            return self.classify(model, data)[:2]
        model.eval()
        dev = self.settings.device

        def predict(x: torch.Tensor) -> torch.Tensor:
            with _fast_context(self.settings):
                return model(x)[0]

        patch = tuple(self.settings.patch)
        if all(tuple(im.shape[1:]) == patch for im in data.images):  # patches: batched, no window blending
            bs = self.settings.batch_size
            chunks = [predict(torch.stack(data.images[i : i + bs]).to(dev)).float().cpu() for i in range(0, len(data.ids), bs)]
            all_logits = list(torch.cat(chunks))
        else:
            all_logits = (sliding_window(predict, image.to(dev), patch, overlap=self.settings.overlap,
                                         batch_size=self.settings.batch_size).cpu() for image in data.images)
        losses, preds, targets = [], [], []
        for logits, label in zip(all_logits, data.targets):
            losses.append(float(segmentation_loss(logits[None], label[None])))
            preds.append(logits.argmax(0).numpy())
            targets.append(label.numpy())
        return float(np.mean(losses)), segmentation_metrics(preds, targets, self.label_names)


def train_trial(
    model: nn.Module,
    splits: dict[str, Arrays],
    *,
    task: str,
    kind: str,
    label_names: dict[int, str],
    primary_metric: str,
    settings: TrainSettings,
    seed: int,
    desc: str = "trial",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> dict:
    """Fine-tune ``model`` on ``splits["train"]`` with early stopping on
    ``splits["validation"]`` loss, then test the best epoch's weights on ``splits["test"]``.

    ``seed`` drives batch order and patch positions (a NumPy generator; model initialisation
    is the caller's). Returns ``{"curves": {epoch, train_loss, val_loss, val_<primary>, lr},
    "test": metrics, "test_predictions", "best_epoch", "epochs_run", "time_s", "skipped_steps"}``
    (optimiser steps skipped for a non-finite loss or gradient; ``test_predictions`` holds the
    test ``ids``, ``scores`` (probabilities) and ``targets`` for classification, None for
    segmentation); the model holds the best weights. ``on_epoch(epoch, values)`` (optional)
    receives each epoch's train_loss, val_loss, val_<primary> and lr (e.g. for a logger).
    """
    rng = np.random.default_rng(seed)
    model.to(settings.device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, settings.patience // 2), min_lr=1e-6)
    evaluate = Evaluator(task, kind, label_names, settings)
    train = splits["train"]
    sampler = PatchSampler(train.images, train.targets, settings.patch, settings.foreground_fraction) if task == "segmentation" else None
    curves: dict[str, list] = {"epoch": [], "train_loss": [], "val_loss": [], f"val_{primary_metric}": [], "lr": []}
    best = _BestEpoch(math.inf, -1, copy.deepcopy(model.state_dict()))
    skipped_steps = 0
    start = time.perf_counter()
    bar = progress(range(settings.epochs), desc=desc, unit="epoch", leave=False)
    pace = Pace(log, f"{desc} epoch", settings.epochs, start=start)
    for epoch in bar:
        values, skipped, samples_per_s = _epoch(model, opt, sched, splits, sampler, evaluate, kind, primary_metric, settings, rng)
        skipped_steps += skipped
        for key, value in {"epoch": epoch + 1, **values}.items():
            curves[key].append(value)
        bar.set_postfix(train=f"{values['train_loss']:.3f}", val=f"{values['val_loss']:.3f}")
        pace.step(epoch + 1, _epoch_line(values, primary_metric, samples_per_s))
        if on_epoch is not None:
            on_epoch(epoch + 1, values)
        if best.patience_spent(epoch + 1, values["val_loss"], model, settings.patience):
            break
    if skipped_steps:
        log.warning("%s: skipped %d optimiser step(s) with a non-finite loss or gradient "
                    "(SEMGEN_FAST=0 turns the bf16 fast path off)", desc, skipped_steps)
    model.load_state_dict(best.state)
    test_metrics, predictions = _test(model, evaluate, splits["test"], task)
    return {"curves": curves, "test": test_metrics, "test_predictions": predictions, "best_epoch": best.epoch,
            "epochs_run": len(curves["epoch"]), "time_s": round(time.perf_counter() - start, 2), "skipped_steps": skipped_steps}


@dataclass
class _BestEpoch:
    """Early stopping on the validation loss: the best epoch so far (-1: the initial weights),
    its loss and a copy of its weights."""

    loss: float
    epoch: int
    state: dict[str, torch.Tensor]

    def patience_spent(self, epoch: int, val_loss: float, model: nn.Module, patience: int) -> bool:
        """Keep ``model``'s weights when ``val_loss`` is the lowest so far; otherwise whether
        ``patience`` epochs have passed since the best one."""
        if val_loss < self.loss:
            self.loss, self.epoch, self.state = val_loss, epoch, copy.deepcopy(model.state_dict())
            return False
        return epoch - self.epoch >= patience


def _epoch(model: nn.Module, opt, sched, splits: dict[str, Arrays], sampler: PatchSampler | None, evaluate: Evaluator,
           kind: str, primary_metric: str, settings: TrainSettings, rng: np.random.Generator) -> tuple[dict[str, float], int, float]:
    """One epoch: train (:func:`_train_epoch`), validate, step the learning-rate schedule on the
    validation loss; returns the curve values (train_loss, val_loss, val_<primary>, lr), the
    optimiser steps skipped and the training samples per second."""
    epoch_start = time.perf_counter()
    losses, skipped, n_samples = _train_epoch(model, opt, splits["train"], sampler, kind, settings, rng)
    val_loss, val_metrics = evaluate(model, splits["validation"])
    sched.step(val_loss)
    values = {"train_loss": float(np.mean(losses)) if losses else math.nan, "val_loss": val_loss,
              f"val_{primary_metric}": val_metrics[primary_metric], "lr": opt.param_groups[0]["lr"]}
    return values, skipped, n_samples / (time.perf_counter() - epoch_start)


def _epoch_line(values: dict[str, float], primary_metric: str, samples_per_s: float) -> str:
    """One epoch's curve values in words, for the progress log."""
    return (f"train loss {values['train_loss']:.4f}, val loss {values['val_loss']:.4f}, val {primary_metric} "
            f"{values[f'val_{primary_metric}']:.4f}, lr {values['lr']:.2g}, {samples_per_s:.3g} samples/s")


def _train_epoch(model: nn.Module, opt, train: Arrays, sampler: PatchSampler | None, kind: str, settings: TrainSettings,
                 rng: np.random.Generator) -> tuple[list[float], int, int]:
    """One epoch over ``train`` (whole images, or ``patches_per_volume`` patches per volume from
    ``sampler``) in an order drawn from ``rng``; returns the step losses, the steps skipped
    for a non-finite loss or gradient, and the samples drawn."""
    dev = settings.device
    model.train()
    if sampler is not None:
        order = np.repeat(np.arange(len(train.ids)), settings.patches_per_volume)
        order = order[rng.permutation(len(order))]
    else:
        order = rng.permutation(len(train.ids))
    losses, skipped = [], 0
    for i in range(0, len(order), settings.batch_size):
        idx = order[i : i + settings.batch_size]
        if len(idx) < 2 and len(order) > 1:
            continue  # batch norm needs two samples: a single leftover sample sits this epoch out
        if sampler is not None:
            pairs = [sampler.sample(int(j), rng) for j in idx]
            x, y = torch.stack([p[0] for p in pairs]).to(dev), torch.stack([p[1] for p in pairs]).to(dev)
            with _fast_context(settings):
                loss = segmentation_loss(model(x)[0], y)
        else:
            x, y = train.images[idx].to(dev), train.targets[idx].to(dev)
            with _fast_context(settings):
                loss = classification_loss(model(x), y, kind)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf)
        if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
            skipped += 1  # as AMP's GradScaler does: never apply a non-finite update
            continue
        opt.step()
        losses.append(float(loss.detach()))
    return losses, skipped, len(order)


def _test(model: nn.Module, evaluate: Evaluator, test: Arrays, task: str) -> tuple[dict, dict | None]:
    """Test metrics of ``model``, and for classification the test predictions (ids, scores, targets)."""
    if task == "classification":
        _, metrics, scores = evaluate.classify(model, test)
        return metrics, {"ids": test.ids, "scores": scores.tolist(), "targets": test.targets.tolist()}
    _, metrics = evaluate(model, test)
    return metrics, None
