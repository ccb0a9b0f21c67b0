"""Pre-training pictures: ``curves.png`` (losses, accuracy, learning rate, collapse per epoch)
and restoration triplets (original / corrupted / restored, paper Sec. 2 self-restoration)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from semgen.utils.io import atomic_path


def _figure(width: float, height: float):
    # the object API without pyplot: no global figure registry, no backend switching
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _series(rows: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_curves(rows: Sequence[dict], path: str | os.PathLike, title: str = "pre-training") -> None:
    """Four panels from metrics rows (``semgen.training.metrics.COLUMNS``): restoration loss,
    classification loss, classification accuracy (train and validation), and learning rate
    with the collapse indicator.
    Warm-up epochs are shaded. Writes a PNG atomically."""
    fig = _figure(16, 3.6)
    axes = fig.subplots(1, 4)
    panels = (
        ("loss_rec", "restoration MSE", True),
        ("loss_cls", "classification CE", True),
        ("acc_cls", "pattern accuracy", False),
    )
    warm = [r["epoch"] for r in rows if r.get("phase") == "warmup"]
    for ax, (key, label, log) in zip(axes, panels):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            x, y = _series(rows, prefix + key)
            if x:
                ax.plot(x, y, style, ms=3, label="validation" if prefix else "train")
        ax.set_title(label)
        if log and any(_series(rows, key)[1]):
            ax.set_yscale("log")
        if ax.lines:
            ax.legend(fontsize=8)
    ax = axes[3]
    x, y = _series(rows, "lr")
    ax.plot(x, y, "-", color="k", label="learning rate")
    ax.set_yscale("log")
    ax.set_title("learning rate / collapse")
    x, y = _series(rows, "collapse")
    if x:
        twin = ax.twinx()
        twin.plot(x, y, ":", color="tab:red", label="collapse (0 healthy, 1 constant)")
        twin.set_ylim(-0.05, 1.05)
        twin.legend(fontsize=8, loc="lower right")
    for a in axes:
        a.set_xlabel("epoch")
        if warm:
            a.axvspan(min(warm) - 0.5, max(warm) + 0.5, color="0.9", zorder=0)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.06, right=0.96, bottom=0.14, top=0.84, wspace=0.4)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)


def mid_slice(volume: np.ndarray) -> np.ndarray:
    """The middle slice along the last (Z, cranio-caudal) axis of an (X, Y, Z) volume, shown
    with X across and Y down; a 2D (X, Y) image is returned as is (transposed the same way)."""
    image = volume[..., volume.shape[-1] // 2] if volume.ndim == 3 else volume
    return image.T


def plot_triplets(
    originals: np.ndarray,
    corrupted: np.ndarray,
    restored: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
) -> None:
    """One row per sample: original, corrupted input, restored output (middle axial slice),
    all on the same [0, 1] grey scale. Arrays are (N, X, Y[, Z]) in [0, 1]. Writes a PNG atomically."""
    if not (len(originals) == len(corrupted) == len(restored)) or len(originals) == 0:
        counts = f"{len(originals)}, {len(corrupted)}, {len(restored)}"
        raise ValueError(f"need the same non-zero number of originals, corrupted and restored samples, got {counts}")
    n = len(originals)
    fig = _figure(6.6, 2.2 * n + 0.7)
    axes = fig.subplots(n, 3, squeeze=False)
    for i in range(n):
        for j, (name, arr) in enumerate((("original", originals), ("corrupted", corrupted), ("restored", restored))):
            ax = axes[i, j]
            ax.imshow(mid_slice(np.asarray(arr[i], dtype=np.float32)), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.7 / (2.2 * n + 0.7), wspace=0.05, hspace=0.08)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
