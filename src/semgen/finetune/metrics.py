"""Target-task metrics: ROC AUC and accuracy for classification, IoU and Dice per class
for segmentation (the metrics of the paper's Table 2: AUC for NCC/ECC, IoU for NCS/LCS/BMS).

All metrics are "higher is better" and returned as plain floats in [0, 1] (NaN when
undefined, e.g. an AUC on a test set holding a single class).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score


def classification_metrics(scores: np.ndarray, targets: np.ndarray, *, kind: str) -> dict[str, float]:
    """``{"auc", "accuracy"}`` for a classifier's probabilities.

    ``kind`` is ``"binary"`` (``scores`` (N,) probability of class 1, ``targets`` (N,) in
    {0, 1}, accuracy at threshold 0.5), ``"multiclass"`` (``scores`` (N, K) softmax
    probabilities, ``targets`` (N,) class indices; AUC one-vs-rest, macro) or
    ``"multilabel"`` (``scores`` (N, K) sigmoid probabilities, ``targets`` (N, K) in
    {0, 1}; AUC macro over labels that have both values, accuracy = exact-match
    (subset) accuracy at 0.5, as ``sklearn.metrics.accuracy_score``).
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if kind == "binary":
        pred = (scores >= 0.5).astype(int)
        auc = _safe_auc(targets, scores)
    elif kind == "multiclass":
        pred = scores.argmax(axis=1)
        present = np.unique(targets)
        if len(present) < 2:
            auc = math.nan
        else:
            # restrict to the classes present in the test set (renormalised), else sklearn refuses
            sub = scores[:, present] / np.clip(scores[:, present].sum(axis=1, keepdims=True), 1e-12, None)
            auc = (
                _safe_auc(targets == present[1], sub[:, 1])
                if len(present) == 2
                else float(roc_auc_score(targets, sub, multi_class="ovr", average="macro", labels=present))
            )
    elif kind == "multilabel":
        pred = (scores >= 0.5).astype(int)
        per_label = [_safe_auc(targets[:, k], scores[:, k]) for k in range(targets.shape[1])]
        valid = [a for a in per_label if not math.isnan(a)]
        auc = float(np.mean(valid)) if valid else math.nan
    else:
        raise ValueError(f"unknown classification kind {kind!r}")
    return {"auc": auc, "accuracy": float(accuracy_score(targets, pred))}


def _safe_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    if len(np.unique(targets)) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(roc_auc_score(targets, scores))


def overlap_per_class(pred: np.ndarray, target: np.ndarray, classes: list[int]) -> dict[int, tuple[float, float]]:
    """Per-class ``(iou, dice)`` of two integer label maps of one whole volume/image.

    IoU = |P ∩ G| / |P ∪ G|, Dice = 2 |P ∩ G| / (|P| + |G|). A class absent from both
    maps is undefined for this volume: (NaN, NaN), left out of the averages.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and label {target.shape} differ in shape")
    out = {}
    for c in classes:
        p, g = pred == c, target == c
        inter = int(np.count_nonzero(p & g))
        sp, sg = int(np.count_nonzero(p)), int(np.count_nonzero(g))
        if sp + sg == 0:
            out[c] = (math.nan, math.nan)
        else:
            out[c] = (inter / (sp + sg - inter), 2 * inter / (sp + sg))
    return out


def segmentation_metrics(
    preds: list[np.ndarray], targets: list[np.ndarray], class_names: dict[int, str]
) -> dict[str, float]:
    """Mean over test volumes of each foreground class's IoU and Dice, plus their mean over
    classes: keys ``iou_<name>``, ``dice_<name>``, ``iou_mean``, ``dice_mean``.

    ``preds``/``targets``: integer label maps, one pair per whole test volume;
    ``class_names``: foreground class value -> name (background 0 is not scored).
    """
    classes = sorted(class_names)
    per_volume = [overlap_per_class(p, t, classes) for p, t in zip(preds, targets, strict=True)]
    out: dict[str, float] = {}
    for c in classes:
        ious = [v[c][0] for v in per_volume if not math.isnan(v[c][0])]
        dices = [v[c][1] for v in per_volume if not math.isnan(v[c][1])]
        out[f"iou_{class_names[c]}"] = float(np.mean(ious)) if ious else math.nan
        out[f"dice_{class_names[c]}"] = float(np.mean(dices)) if dices else math.nan
    for m in ("iou", "dice"):
        vals = [out[f"{m}_{class_names[c]}"] for c in classes if not math.isnan(out[f"{m}_{class_names[c]}"])]
        out[f"{m}_mean"] = float(np.mean(vals)) if vals else math.nan
    return out
