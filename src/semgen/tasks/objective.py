"""The objective: corruption, forward through the branches a method uses, and the loss (paper Sec. 2).

Loss (Sec. 2, "Formally ...") ``L = lambda_rec * MSE(sigmoid(restoration_logits), original)
+ lambda_cls * CE(class_logits, pattern_class)``, published weights 1 and 0.01. The model
returns logits; the sigmoid and the softmax live here, in the losses, computed in float32
even under autocast. The weights apply to the joint loss; when one branch trains alone
(the classification-only warm-up, as in the published first stage ``--exp en``, or a
single-branch method) the loss is that branch's plain loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from semgen.tasks.methods import Method


class BranchNet(nn.Module):
    """Runs only the branches a training step needs, through one ``forward`` (so DDP sees it).

    Wraps a pre-training model of the ``semgen.models`` contract (the U-Net or a framework
    :class:`~semgen.models.Backbone`), whose ``branches(x, classification, restoration)`` runs
    the encoder and only those branches. ``forward(x, classification, restoration)`` returns
    ``(restoration logits (B, 1, *spatial) or None, class logits (B, C) or None)``.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, classification: bool = True, restoration: bool = True):
        return self.net.branches(x, classification=classification, restoration=restoration)


class Objective:
    """The loss of one :class:`Method`, and the corruption that makes its inputs.

    ``corrupt(crops, generator)`` applies the method's schedule from ``semgen.transforms``
    to a whole batch ``(B, 1, *spatial)`` in [0, 1] on its device and returns
    ``(corrupted input, restoration target)``; ``schedule`` names another schedule to use instead.
    ``objective(model, batch, warmup=...)``
    takes ``batch = {"input", "target", "label"}`` (label: LongTensor (B,), ignored
    without a classification branch) and a :class:`BranchNet` (possibly inside DDP) and returns
    ``{"loss", "loss_rec", "loss_cls", "acc", "restored", "logits"}``: ``loss`` carries the
    graph, the rest are detached (``None`` for a branch that did not run); ``restored`` is
    ``sigmoid`` of the restoration logits, in [0, 1].
    """

    def __init__(self, method: Method, *, lambda_rec: float = 1.0, lambda_cls: float = 0.01, schedule: str | None = None):
        from semgen.transforms import get_schedule

        if lambda_rec < 0 or lambda_cls < 0:
            raise ValueError(f"loss weights must be non-negative, got lambda_rec={lambda_rec}, lambda_cls={lambda_cls}")
        self.method = method
        self.lambda_rec = float(lambda_rec)
        self.lambda_cls = float(lambda_cls)
        self.schedule = get_schedule(schedule or method.schedule)

    def corrupt(self, crops: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(corrupted input, restoration target)`` for a batch of crops, drawn from ``generator``."""
        return self.schedule(crops, generator)

    def corrupt_with_params(self, crops: torch.Tensor, generator: torch.Generator):
        """As :meth:`corrupt` (the same draws from ``generator``, the same output), plus the
        drawn parameters: ``(input, target, params)``; ``self.schedule.applied(params)`` names
        each sample's corruptions."""
        params = self.schedule.sample(crops.shape, generator, crops.device)
        inputs, targets = self.schedule.apply(crops, params)
        return inputs, targets, params

    def branches(self, warmup: bool) -> tuple[bool, bool]:
        """``(classification, restoration)``: which branches train in this phase."""
        if warmup and self.method.classification:
            return True, False
        return self.method.classification, self.method.restoration

    def __call__(self, model: nn.Module, batch: dict[str, Any], *, warmup: bool = False) -> dict[str, Any]:
        classification, restoration = self.branches(warmup)
        seg, logits = model(batch["input"], classification=classification, restoration=restoration)
        out: dict[str, Any] = {"loss_rec": None, "loss_cls": None, "acc": None, "restored": None, "logits": None}
        terms = []
        if restoration:
            restored = torch.sigmoid(seg.float())
            loss_rec = F.mse_loss(restored, batch["target"].float())
            terms.append(self.lambda_rec * loss_rec if classification else loss_rec)
            out["loss_rec"] = loss_rec.detach()
            out["restored"] = restored.detach()
        if classification:
            logits = logits.float()
            label = batch["label"]
            loss_cls = F.cross_entropy(logits, label)
            terms.append(self.lambda_cls * loss_cls if restoration else loss_cls)
            out["loss_cls"] = loss_cls.detach()
            out["acc"] = (logits.detach().argmax(1) == label).float().mean()
            out["logits"] = logits.detach()
        out["loss"] = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        return out
