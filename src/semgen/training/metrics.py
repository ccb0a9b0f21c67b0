"""Per-epoch metrics (``RUN/metrics.csv``) and the collapse indicator.

Collapse (MG issue #25: pre-training that converges to one constant output):

- with a restoration branch: ``collapse = 1 - mean_v std_b(restored) / mean_v std_b(target)``,
  the per-voxel standard deviation over the validation samples of the restored outputs
  relative to that of the targets, averaged over voxels; 0 when the outputs vary as much
  as the originals, 1 when every input gives the same output;
- classification only: ``collapse = 1 - distinct predicted classes / classes`` on the
  validation set (1 when every crop gets the same class).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import torch

from semgen.utils.io import atomic_write

COLUMNS = (
    "epoch",
    "phase",
    "loss",
    "loss_rec",
    "loss_cls",
    "acc_cls",
    "val_loss",
    "val_loss_rec",
    "val_loss_cls",
    "val_acc_cls",
    "lr",
    "cubes_per_s",
    "seconds",
    "collapse",
    "best",
)


def write_metrics(path: str | os.PathLike, rows: Sequence[dict]) -> None:
    """Rewrite ``metrics.csv`` atomically: one row per epoch, :data:`COLUMNS`; a missing or
    ``None`` value (a branch that did not train) is an empty cell."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    with atomic_write(path) as f:
        f.write(buf.getvalue())


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``metrics.csv`` with numbers as floats (``epoch`` as int) and empty cells as ``None``."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        parsed: dict = {}
        for k, v in row.items():
            if v in ("", None):
                parsed[k] = None
            elif k == "epoch":
                parsed[k] = int(v)
            elif k == "phase":
                parsed[k] = v
            else:
                parsed[k] = float(v)
        out.append(parsed)
    return out


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


class CollapseMeter:
    """Accumulates the statistics of the collapse indicator over validation batches.

    ``update(restored, target, logits)`` with ``restored``/``target`` (B, 1, *spatial) in
    [0, 1] (or ``None``) and ``logits`` (B, C) (or ``None``); sums are float64 so they can be
    all-reduced across ranks (:meth:`tensors` / :meth:`value`).
    """

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.n = 0
        self.sums: dict[str, torch.Tensor] = {}
        self.predicted = torch.zeros(max(num_classes, 1), dtype=torch.float64)

    def update(self, restored: torch.Tensor | None, target: torch.Tensor | None, logits: torch.Tensor | None) -> None:
        if restored is not None:
            r = restored.detach().double().flatten(1).cpu()
            t = target.detach().double().flatten(1).cpu()
            for key, value in (("r", r), ("r2", r * r), ("t", t), ("t2", t * t)):
                s = value.sum(0)
                self.sums[key] = self.sums[key] + s if key in self.sums else s
            self.n += r.shape[0]
        if logits is not None and self.num_classes:
            self.predicted += torch.bincount(logits.argmax(1).cpu(), minlength=self.num_classes).double()

    def tensors(self) -> list[torch.Tensor]:
        """The accumulated sums, for an all-reduce (in place)."""
        return [*(self.sums[k] for k in ("r", "r2", "t", "t2") if k in self.sums), self.predicted]

    def value(self, n_total: int | None = None) -> float | None:
        """The collapse indicator in [0, 1], or ``None`` with nothing to judge (fewer than 2 samples)."""
        n = self.n if n_total is None else n_total
        if self.sums and n >= 2:

            def spread(a, a2):
                return (a2 / n - (a / n) ** 2).clamp_min(0).sqrt().mean().item()

            target_spread = spread(self.sums["t"], self.sums["t2"])
            if target_spread > 0:
                return float(min(1.0, max(0.0, 1.0 - spread(self.sums["r"], self.sums["r2"]) / target_spread)))
        if self.num_classes and self.predicted.sum() > 0:
            return 1.0 - float((self.predicted > 0).sum().item()) / self.num_classes
        return None

