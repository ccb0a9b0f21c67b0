"""What one pre-training run returns: :class:`PretrainResult`, the typed result of the
pre-training stage (:mod:`semgen.stage`); ``RUN/summary.json`` is derived from it
(:meth:`PretrainResult.to_json`), so the file and the object never disagree."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from semgen.training.checkpoint import STATE_FILE

# what summary.json lists under "files" (the run folder's outputs besides summary.json)
FILES = ("model.safetensors", "model.json", STATE_FILE, "metrics.csv", "curves.png", "triplets/", "config.yaml")


@dataclasses.dataclass(frozen=True)
class PretrainResult:
    """One finished pre-training run (paper Sec. 2-3).

    ``run``: the run folder; ``stopped``: ``"completed"`` or ``"early stopping"``; ``epochs``:
    epochs trained in all, of which ``warmup_epochs`` classification alone; ``best_epoch`` /
    ``best_loss``: the epoch whose weights are kept (validation loss of the joint phase, or of
    the warm-up if training ended there; ``None`` before any epoch); ``train_seconds``: time in
    the training loop (validation and writing excluded), summed over resumes; ``num_classes``:
    pattern classes (0 when the method does not classify), ``chance_accuracy`` = 1 / classes;
    ``final_accuracy``: pattern accuracy of the last epoch, of the split named by
    ``accuracy_of`` (``val_acc_cls`` or ``acc_cls``); ``first_loss_rec`` / ``last_loss_rec``:
    training restoration MSE of the first and last joint epoch (``None`` without restoration);
    ``final_collapse``: the last epoch's collapse indicator in [0, 1]; ``train_samples`` /
    ``validation_samples``: crops per epoch; ``patch`` (X, Y[, Z]), ``spatial_dims``,
    ``width``: the model's geometry; ``last``: the last row of ``metrics.csv``; ``backbone``: the
    ``--backbone`` (``semgen``: the published U-Net).
    """

    method: str
    schedule: str | None
    run: Path
    stopped: str
    epochs: int
    warmup_epochs: int
    best_epoch: int
    best_loss: float | None
    train_seconds: float
    world_size: int
    num_classes: int
    chance_accuracy: float | None
    final_accuracy: float | None
    accuracy_of: str
    first_loss_rec: float | None
    last_loss_rec: float | None
    final_collapse: float | None
    train_samples: int
    validation_samples: int
    patch: tuple[int, ...]
    spatial_dims: int
    width: int
    last: dict[str, Any] | None
    backbone: str = "semgen"

    @property
    def weights(self) -> Path:
        """The best weights (``model.safetensors``, with ``model.json``), a file for ``--init``."""
        return self.run / "model.safetensors"

    @property
    def state(self) -> Path:
        """The resumable state (``last.pt``)."""
        return self.run / STATE_FILE

    @property
    def joint_epochs(self) -> int:
        """Epochs after the warm-up (restoration and classification together)."""
        return self.epochs - self.warmup_epochs

    def to_json(self) -> dict[str, Any]:
        """The content of ``summary.json`` (keys and order as in every earlier release)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        last = values.pop("last")
        return {**values, "run": str(self.run), "patch": list(self.patch), "files": list(FILES), "last": last}
