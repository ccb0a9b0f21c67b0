"""Pre-training pictures: ``curves.png`` (losses, accuracy, learning rate, collapse per epoch)
and restoration triplets (original / corrupted / restored, paper Sec. 2 self-restoration)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from semgen.viz.figure import new_figure, save_figure

WARMUP_LABEL = "classification-only warm-up"


def _series(rows: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _tick_label(value: float, _pos: int | None = None) -> str:
    return f"{value:.3g}"


def readable_log_axis(ax, values: Sequence[float]) -> None:
    """Put ``ax``'s y axis on a log scale with at least four labelled ticks: 1-2-5 steps when
    the values span more than about a decade, evenly spaced "nice" values otherwise (a
    plain log axis labels only powers of ten, often two or none in a loss curve)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    positive = [v for v in values if v > 0 and math.isfinite(v)]
    ax.set_yscale("log")
    if not positive:
        return
    lo, hi = min(positive), max(positive)
    if hi == lo:  # a flat line: a window of +-20 % around it
        lo, hi = lo / 1.2, hi * 1.2
    ax.set_ylim(lo / 1.05, hi * 1.05)
    if hi / lo > 20:
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], min_n_ticks=4))
    ax.yaxis.set_major_formatter(FuncFormatter(_tick_label))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_curves(rows: Sequence[dict], path: str | os.PathLike | None = None, title: str = "pre-training"):
    """Four panels from metrics rows (``semgen.training.metrics.COLUMNS``): restoration loss,
    classification loss (log axes with readable ticks), classification accuracy (train and
    validation, on 0-1), and the learning rate (log) with the collapse indicator (0-1, right
    axis). The warm-up epochs are a shaded band labelled in each panel's legend. Returns the
    figure; written as PNG to ``path`` when given."""
    from matplotlib.patches import Patch

    fig = new_figure(16, 4.6)
    axes = fig.subplots(1, 4)
    panels = (
        ("loss_rec", "restoration MSE", "log"),
        ("loss_cls", "classification CE", "log"),
        ("acc_cls", "pattern accuracy", "unit"),
    )
    warm = [r["epoch"] for r in rows if r.get("phase") == "warmup"]
    band = Patch(color="0.88", label=f"{WARMUP_LABEL} (epochs {min(warm)}-{max(warm)})") if warm else None
    for ax, (key, label, scale) in zip(axes, panels):
        values = []
        for prefix, style in (("", "-o"), ("val_", "--s")):
            x, y = _series(rows, prefix + key)
            if x:
                ax.plot(x, y, style, ms=3, label="validation" if prefix else "train")
                values += y
        ax.set_title(label)
        if not values:
            ax.text(0.5, 0.5, "not trained by this method", ha="center", va="center", transform=ax.transAxes, color="0.4")
        elif scale == "log":
            readable_log_axis(ax, values)
        else:
            ax.set_ylim(0, 1)
    ax = axes[3]
    x, y = _series(rows, "lr")
    ax.plot(x, y, "-", color="k", label="learning rate (left, log)")
    readable_log_axis(ax, y)
    ax.set_ylabel("learning rate")
    ax.set_title("learning rate / collapse")
    handles = list(ax.get_lines())
    x, y = _series(rows, "collapse")
    if x:
        twin = ax.twinx()
        handles += twin.plot(x, y, ":", color="tab:red", label="collapse (right; 0 healthy, 1 constant)")
        twin.set_ylim(-0.05, 1.05)
        twin.set_ylabel("collapse", color="tab:red")
    for a in axes:
        a.set_xlabel("epoch")
        if warm:
            a.axvspan(min(warm) - 0.5, max(warm) + 0.5, color="0.88", zorder=0)
        if rows:
            from matplotlib.ticker import MaxNLocator

            a.xaxis.set_major_locator(MaxNLocator(integer=True))
    below = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2), "fontsize": 7, "frameon": False}
    for a in axes[:3]:
        if a.lines or band:
            a.legend(handles=[*a.lines, *([band] if band else [])], **below)
    axes[3].legend(handles=[*handles, *([band] if band else [])], **below)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.05, right=0.95, bottom=0.34, top=0.87, wspace=0.45)
    save_figure(fig, path, dpi=90)
    return fig


def mid_slice(volume: np.ndarray) -> np.ndarray:
    """The middle slice along the last (Z, cranio-caudal) axis of an (X, Y, Z) volume, shown
    with X across and Y down; a 2D (X, Y) image is returned as is (transposed the same way)."""
    image = volume[..., volume.shape[-1] // 2] if volume.ndim == 3 else volume
    return image.T


def plot_triplets(
    originals: np.ndarray,
    corrupted: np.ndarray,
    restored: np.ndarray,
    path: str | os.PathLike | None = None,
    title: str = "",
    labels: Sequence[str] = (),
):
    """One row per sample: original, corrupted input, restored output (middle axial slice),
    all on the same [0, 1] grey scale. Arrays are (N, X, Y[, Z]) in [0, 1]; ``labels`` (one
    per row, e.g. ``"class 3: elastic + in-painting"``) name each row's pattern class and
    corruption beside it. Returns the figure; written as PNG to ``path`` when given."""
    if not (len(originals) == len(corrupted) == len(restored)) or len(originals) == 0:
        counts = f"{len(originals)}, {len(corrupted)}, {len(restored)}"
        raise ValueError(f"need the same non-zero number of originals, corrupted and restored samples, got {counts}")
    if labels and len(labels) != len(originals):
        raise ValueError(f"need one label per triplet, got {len(labels)} for {len(originals)}")
    n = len(originals)
    fig = new_figure(6.6, 2.2 * n + 0.7)
    axes = fig.subplots(n, 3, squeeze=False)
    for i in range(n):
        for j, (name, arr) in enumerate((("original", originals), ("corrupted", corrupted), ("restored", restored))):
            ax = axes[i, j]
            ax.imshow(mid_slice(np.asarray(arr[i], dtype=np.float32)), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name)
        if labels:
            axes[i, 0].set_ylabel(labels[i], fontsize=8)
    if title:
        fig.suptitle(title)
    left = 0.1 if labels else 0.02
    fig.subplots_adjust(left=left, right=0.98, bottom=0.02, top=1 - 0.7 / (2.2 * n + 0.7), wspace=0.05, hspace=0.12)
    save_figure(fig, path, dpi=80)
    return fig
