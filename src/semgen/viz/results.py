"""Result charts for ``semgen compare``: bars of mean ± s.d. per initialisation with
significance marks against the best (the style of Fig. 2 of the paper), and
label-efficiency curves (primary metric vs fraction of labelled training patients).

Inputs are the ``groups`` and ``label_efficiency`` lists of
:func:`semgen.finetune.compare.compare`; values are plotted in percent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from semgen.utils.io import atomic_path


def _figure(ncols: int, width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return plt, fig, axes[0]


def plot_bars(groups: Sequence[dict], path: str | os.PathLike) -> None:
    """One panel per task and label fraction: a bar per initialisation (mean of the primary
    metric, error bar = s.d.), the best (paired groups: the reference) hatched, and each other
    bar marked with its test result against it (``*``, ``**``, ``***`` or ``n.s.``; paired
    groups: the Holm-adjusted paired t-test). Writes a PNG."""
    plt, fig, axes = _figure(max(1, len(groups)), max(3.0, 0.9 * max((len(g["rows"]) for g in groups), default=1) + 1.5), 4.0)
    cmap = plt.get_cmap("tab10")
    for ax, g in zip(axes, groups):
        m = g["primary_metric"]
        names = [r["init"] for r in g["rows"]]
        means = [100 * r["mean"][m] if not math.isnan(r["mean"][m]) else 0.0 for r in g["rows"]]
        sds = [100 * r["std"][m] if not math.isnan(r["std"][m]) else 0.0 for r in g["rows"]]
        bars = ax.bar(range(len(names)), means, yerr=sds, capsize=4, color=[cmap(i % 10) for i in range(len(names))])
        top = max((mu + sd for mu, sd in zip(means, sds)), default=1.0)
        ref, ref_label = (g["reference"], "ref") if g.get("paired") else (g["best"][m], "best")
        for bar, r, mu, sd in zip(bars, g["rows"], means, sds):
            if r["init"] == ref:
                bar.set_hatch("//")
                label = ref_label
            else:
                label = r["mark"][m]
            ax.text(bar.get_x() + bar.get_width() / 2, mu + sd + 0.02 * top, label, ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylabel(f"{m} (%)")
        ax.set_ylim(0, min(110.0, top * 1.15 + 1))
        ax.set_title(f"{g['task_name']}\nlabel fraction {g['label_fraction']:g}", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_label_efficiency(curves: Sequence[dict], path: str | os.PathLike) -> None:
    """One panel per task: the primary metric (mean, shaded ± s.d.) against the label
    fraction (%) for each initialisation. Writes a PNG."""
    plt, fig, axes = _figure(max(1, len(curves)), 4.5, 3.6)
    for ax, c in zip(axes, curves):
        for name, s in c["series"].items():
            order = sorted(range(len(s["label_fraction"])), key=lambda i: s["label_fraction"][i])
            x = [100 * s["label_fraction"][i] for i in order]
            mu = [100 * s["mean"][i] for i in order]
            sd = [0.0 if math.isnan(s["std"][i]) else 100 * s["std"][i] for i in order]
            (line,) = ax.plot(x, mu, marker="o", label=name)
            ax.fill_between(x, [a - b for a, b in zip(mu, sd)], [a + b for a, b in zip(mu, sd)], color=line.get_color(), alpha=0.2)
        ax.set_xlabel("labelled training patients (%)")
        ax.set_ylabel(f"{c['primary_metric']} (%)")
        ax.set_title(c["task_name"], fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
