"""``efficiency.png`` of ``semgen evaluate``: the primary metric against the share of
labelled training patients, one line per initialisation with its 95 % confidence band of
the mean over trials, one panel per mode; converged scratch dashed in every panel."""

from __future__ import annotations

import math
import os

from semgen.viz.figure import new_figure, save_figure

CONVERGED_MODE = "converged"  # the converged-scratch control (semgen.finetune.evaluation_report.CONVERGED)


def share(fraction: float) -> str:
    """A label fraction in percent, to 3 significant digits: ``0.05`` -> ``"5"``,
    ``0.00295858`` -> ``"0.296"``."""
    return f"{100 * fraction:.3g}"


def exact_count(report: dict, fraction: float) -> int | None:
    """The number of labelled patients of ``fraction`` (from the report's ``subsets``) when
    the fraction was chosen to cut an exact number: given to more than 3 significant digits,
    e.g. (k - 0.5) / n. None for a round share such as 0.05."""
    return None if f"{100 * fraction:g}" == share(fraction) else report["subsets"][f"{fraction:g}"]["patients"]


def _tick(report: dict, fraction: float) -> str:
    """The x tick of one label fraction: its :func:`share`, and under it the
    :func:`exact_count` in brackets where there is one."""
    n = exact_count(report, fraction)
    return share(fraction) + ("" if n is None else f"\n({n})")


def plot_efficiency(report: dict, path: str | os.PathLike | None = None):
    """Draw the label-efficiency curves of an evaluate ``report`` (its ``results``: per
    fraction, mode and initialisation ``mean`` and ``ci95_mean`` in [0, 1]) in percent, the
    y axis clipped to the metric's range [0, 100]; the x axis (label fraction, %) is
    logarithmic. Returns the figure; written as PNG to ``path`` when given."""
    fractions = report["label_fractions"]
    modes = report["modes"]
    fig = new_figure(4.8 * len(modes), 3.8)
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    names = [i["name"] for i in report["inits"]]
    colors = {n: f"C{k % 10}" for k, n in enumerate(names)}
    series = [(mode, n, "-", colors[n], n) for mode in modes for n in names]
    if report.get("converged"):
        series += [(CONVERGED_MODE, "scratch", "--", "0.35", "scratch, converged")]
    counted = any(exact_count(report, f) is not None for f in fractions)
    low, high = 100.0, 0.0
    for ax, mode in zip(axes, modes):
        for m, name, style, color, label in series:
            if m not in (mode, CONVERGED_MODE):
                continue
            pts = []
            for f in fractions:
                row = report["results"][f"{f:g}"].get(m, {}).get(name)
                if row and row["mean"] is not None and not math.isnan(row["mean"]):
                    lo, hi = (math.nan if v is None else v for v in row["ci95_mean"])
                    pts.append((100 * f, 100 * row["mean"], 100 * (row["mean"] if math.isnan(lo) else lo),
                                100 * (row["mean"] if math.isnan(hi) else hi)))
            if not pts:
                continue
            x, mu, lo, hi = (list(v) for v in zip(*pts))
            lo, hi = [max(0.0, v) for v in lo], [min(100.0, v) for v in hi]
            low, high = min(low, *lo), max(high, *hi)
            ax.plot(x, mu, style, marker="o", color=color, label=label)
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, linewidth=0)
        ax.set_xscale("log")
        ax.set_xticks([100 * f for f in fractions], [_tick(report, f) for f in fractions])
        ax.set_xlabel("labelled training patients (%" + ("; number in brackets)" if counted else ")"))
        ax.set_ylabel(f"{report['primary_metric']} (%)")
        ax.set_title(f"{report['task_name']}: {mode}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    pad = max(2.0, 0.08 * (high - low)) if high >= low else 5.0
    for ax in axes:
        ax.set_ylim(max(0.0, low - pad) if high >= low else 0.0, min(100.0, high + pad) if high >= low else 100.0)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return fig

