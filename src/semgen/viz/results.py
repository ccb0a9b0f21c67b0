"""Result charts for ``semgen compare``: bars of mean ± s.d. per initialisation with
significance marks against the best (the style of Fig. 2 of the paper), and
label-efficiency curves (primary metric vs fraction of labelled training patients).

Inputs are the ``groups`` and ``label_efficiency`` lists of
:func:`semgen.finetune.compare.compare`; values are plotted in percent. Every metric semgen
reports (AUC, accuracy, Dice, IoU ...) lies in [0, 1], so the axes, the error bars and the
± s.d. bands are clipped to 0-100 %; the number of trials n is written under each bar and
in each curve's legend entry.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from semgen.viz.figure import new_figure, save_figure

LOW, HIGH = 0.0, 100.0  # the metric's range in percent


def _pct(value: float) -> float:
    return 100 * value if not math.isnan(value) else math.nan


def clipped_band(mean: float, sd: float) -> tuple[float, float]:
    """``(below, above)``: the ± s.d. error bar of ``mean`` (percent) cut at 0 and 100 %."""
    sd = 0.0 if math.isnan(sd) else sd
    return max(0.0, min(sd, mean - LOW)), max(0.0, min(sd, HIGH - mean))


def _n_text(ns: Sequence[int]) -> str:
    return f"n={min(ns)}" if min(ns) == max(ns) else f"n={min(ns)}-{max(ns)}"


def plot_bars(groups: Sequence[dict], path: str | os.PathLike | None = None):
    """One panel per task and label fraction: a bar per initialisation (mean of the primary
    metric, error bar = s.d. clipped to 0-100 %), the best (paired groups: the reference)
    hatched, and each other bar marked with its test result against it (``*``, ``**``,
    ``***`` or ``n.s.``; paired groups: the Holm-adjusted paired t-test); n under each bar.
    Returns the figure; written as PNG to ``path`` when given."""
    from matplotlib import colormaps

    widest = max((len(g["rows"]) for g in groups), default=1)
    fig = new_figure(max(3.0, 0.9 * widest + 1.5) * max(1, len(groups)), 4.4)
    axes = fig.subplots(1, max(1, len(groups)), squeeze=False)[0]
    cmap = colormaps["tab10"]
    for ax, g in zip(axes, groups):
        m = g["primary_metric"]
        means = [_pct(r["mean"][m]) for r in g["rows"]]
        heights = [0.0 if math.isnan(mu) else mu for mu in means]
        bands = [clipped_band(h, _pct(r["std"][m])) for h, r in zip(heights, g["rows"])]
        yerr = [[b[0] for b in bands], [b[1] for b in bands]]
        bars = ax.bar(range(len(means)), heights, yerr=yerr, capsize=4, color=[cmap(i % 10) for i in range(len(means))])
        ref, ref_label = (g["reference"], "ref") if g.get("paired") else (g["best"][m], "best")
        for bar, r, h, (_, above) in zip(bars, g["rows"], heights, bands):
            if r["init"] == ref:
                bar.set_hatch("//")
                label = ref_label
            else:
                label = r["mark"][m]
            y = min(h + above + 1.0, HIGH - 1.0)
            ax.text(bar.get_x() + bar.get_width() / 2, y, label, ha="center", va="bottom" if y < HIGH - 1.0 else "top",
                    fontsize=9, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
        names = [f"{r['init']}\nn={r['n']}" + ("" if not math.isnan(mu) else "\n(no value)") for r, mu in zip(g["rows"], means)]
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"{m} (%)")
        ax.set_ylim(LOW, HIGH)
        ax.set_title(f"{g['task_name']}\nlabel fraction {g['label_fraction']:g}, mean ± s.d.", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return fig


def plot_label_efficiency(curves: Sequence[dict], path: str | os.PathLike | None = None):
    """One panel per task: the primary metric (mean, shaded ± s.d. clipped to 0-100 %)
    against the label fraction (%) for each initialisation, n trials per point in the
    legend. Returns the figure; written as PNG to ``path`` when given."""
    fig = new_figure(4.5 * max(1, len(curves)), 3.8)
    axes = fig.subplots(1, max(1, len(curves)), squeeze=False)[0]
    for ax, c in zip(axes, curves):
        for name, s in c["series"].items():
            order = sorted(range(len(s["label_fraction"])), key=lambda i: s["label_fraction"][i])
            x = [100 * s["label_fraction"][i] for i in order]
            mu = [_pct(s["mean"][i]) for i in order]
            bands = [clipped_band(m, _pct(s["std"][i])) for m, i in zip(mu, order)]
            ns = s.get("n")
            label = f"{name} ({_n_text(ns)})" if ns else name
            (line,) = ax.plot(x, mu, marker="o", label=label)
            low = [m - b[0] for m, b in zip(mu, bands)]
            high = [m + b[1] for m, b in zip(mu, bands)]
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
        ax.set_xlabel("labelled training patients (%)")
        ax.set_ylabel(f"{c['primary_metric']} (%)")
        ax.set_ylim(LOW, HIGH)
        ax.set_title(f"{c['task_name']}: mean ± s.d.", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return fig
