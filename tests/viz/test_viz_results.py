"""semgen compare's charts: clipped to the metric's range, n shown, marks right; no raw warnings."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from semgen.finetune.compare import compare, render_markdown, write_report
from semgen.viz.results import clipped_band, plot_bars, plot_label_efficiency


def _summary(folder: Path, init: str, values: list[float], fraction: float = 1.0) -> dict:
    folder.mkdir(parents=True)
    summary = {
        "task": "classification", "task_name": "toy", "init_name": init, "label_fraction": fraction,
        "primary_metric": "auc", "metric_names": ["auc"], "split": {"hash": "abc"},
        "trials": [{"trial": i, "auc": v} for i, v in enumerate(values)],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return summary | {"_path": str(folder)}


def _report(tmp_path: Path) -> dict:
    # scratch near 0 and a near-perfect init: their ± s.d. would run below 0 % and above 100 %
    summaries = [
        _summary(tmp_path / "a", "scratch", [0.02, 0.10, 0.01]),
        _summary(tmp_path / "b", "sg", [0.99, 0.90, 1.00, 0.97]),
        _summary(tmp_path / "c", "scratch", [0.30, 0.20, 0.05], 0.5),
        _summary(tmp_path / "d", "sg", [0.95, 0.80, 1.00], 0.5),
    ]
    return compare(summaries)


def _bars(ax):
    from matplotlib.container import BarContainer

    return next(c for c in ax.containers if isinstance(c, BarContainer))


def test_clipped_band_stays_inside_0_to_100() -> None:
    assert clipped_band(95.0, 10.0) == (10.0, 5.0)
    assert clipped_band(3.0, 10.0) == (3.0, 10.0)
    assert clipped_band(50.0, float("nan")) == (0.0, 0.0)


def test_bars_are_clipped_show_n_and_marks(tmp_path) -> None:
    report = _report(tmp_path)
    fig = plot_bars(report["groups"], tmp_path / "bars.png")
    assert len(fig.axes) == 2  # one panel per task and label fraction
    for ax, g in zip(fig.axes, report["groups"]):
        assert ax.get_ylim() == (0.0, 100.0)
        bars = _bars(ax)
        heights = [b.get_height() for b in bars]
        assert heights == pytest.approx([100 * r["mean"]["auc"] for r in g["rows"]])
        segments = bars.errorbar.lines[2][0].get_segments()
        for seg in segments:
            assert 0.0 <= seg[:, 1].min() and seg[:, 1].max() <= 100.0
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == [f"{r['init']}\nn={r['n']}" for r in g["rows"]]
        marks = {t.get_text() for t in ax.texts}
        assert "best" in marks and {r["mark"]["auc"] for r in g["rows"] if r["init"] != g["best"]["auc"]} <= marks
    full = next(g for g in report["groups"] if g["label_fraction"] == 1.0)
    ax = fig.axes[report["groups"].index(full)]
    top = max(seg[:, 1].max() for seg in _bars(ax).errorbar.lines[2][0].get_segments())
    assert top == pytest.approx(100.0)  # sg's + s.d. was cut at 100 %


def test_label_efficiency_band_is_clipped_and_legend_has_n(tmp_path) -> None:
    report = _report(tmp_path)
    (curve,) = report["label_efficiency"]
    assert curve["series"]["sg"]["n"] == [3, 4] and curve["series"]["scratch"]["n"] == [3, 3]
    fig = plot_label_efficiency(report["label_efficiency"], tmp_path / "eff.png")
    (ax,) = fig.axes
    assert ax.get_ylim() == (0.0, 100.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["scratch (n=3)", "sg (n=3-4)"]
    for band in ax.collections:
        y = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert y.min() >= 0.0 and y.max() <= 100.0
    for line in ax.lines:
        assert list(line.get_xdata()) == [50.0, 100.0]


def test_compare_turns_scipy_precision_warnings_into_a_note(tmp_path, capsys) -> None:
    from semgen.cli import main

    _summary(tmp_path / "r" / "a", "scratch", [0.7, 0.7, 0.7000000000000001])
    _summary(tmp_path / "r" / "b", "sg", [0.7, 0.7, 0.7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning reaching the user fails the test
        assert main(["compare", str(tmp_path / "r"), "--out", str(tmp_path / "report")]) == 0
        report = write_report([tmp_path / "r"], tmp_path / "report2")
    (group,) = report.groups
    assert len(group["notes"]) == 1 and "unreliable" in group["notes"][0]
    assert "**Note:** values nearly identical" in render_markdown(report.to_json())
    assert "p-values SciPy called unreliable" in capsys.readouterr().out
