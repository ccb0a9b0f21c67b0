"""curves.png and the restoration triplets: what is drawn, labelled and scaled."""

from __future__ import annotations

import numpy as np
import pytest

from semgen.viz.training import WARMUP_LABEL, plot_curves, plot_triplets, readable_log_axis


def _rows(epochs: int = 8, warmup: int = 3) -> list[dict]:
    rows = []
    for e in range(1, epochs + 1):
        warm = e <= warmup
        rows.append({
            "epoch": e, "phase": "warmup" if warm else "joint",
            "loss_rec": None if warm else 0.006 - 0.0002 * e, "val_loss_rec": None if warm else 0.0062 - 0.0002 * e,
            "loss_cls": 2.0 / e, "val_loss_cls": 2.1 / e, "acc_cls": 0.1 * e, "val_acc_cls": 0.09 * e,
            "lr": 1e-3 if e < 6 else 5e-4, "collapse": 0.5 / e,
        })
    return rows


def _visible_ticks(ax) -> list[float]:
    lo, hi = ax.get_ylim()
    return [t for t in ax.yaxis.get_majorticklocs() if lo <= t <= hi]


def test_curves_label_the_warmup_band_and_the_lr_line(tmp_path) -> None:
    fig = plot_curves(_rows(), tmp_path / "curves.png", title="semantic-genesis pre-training")
    assert (tmp_path / "curves.png").stat().st_size > 0
    rec, cls, acc, lr = fig.axes[:4]
    assert [a.get_title() for a in (rec, cls, acc, lr)] == [
        "restoration MSE", "classification CE", "pattern accuracy", "learning rate / collapse"]
    for ax in (rec, cls, acc, lr):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"{WARMUP_LABEL} (epochs 1-3)" in labels, labels
        # the shaded band covers epochs 1-3 exactly (x from 0.5 to 3.5, the whole height)
        spans = [(p.get_x(), p.get_width()) for p in ax.patches]
        assert (pytest.approx(0.5), pytest.approx(3.0)) in spans, spans
    lr_labels = [t.get_text() for t in lr.get_legend().get_texts()]
    assert any(t.startswith("learning rate") for t in lr_labels) and any(t.startswith("collapse") for t in lr_labels)
    assert acc.get_ylim() == (0, 1)
    for ax in (rec, cls, lr):
        assert ax.get_yscale() == "log"
        ticks = _visible_ticks(ax)
        assert len(ticks) >= 4, (ax.get_title(), ticks)
        assert all(ax.yaxis.get_major_formatter()(t, 0) for t in ticks)  # every tick is labelled
    # the restoration curve starts after the warm-up and falls
    x, y = rec.lines[0].get_data()
    assert list(x) == [4, 5, 6, 7, 8] and all(np.diff(y) < 0)


def test_log_axis_of_a_flat_line_still_has_labelled_ticks() -> None:
    from semgen.viz.figure import new_figure

    ax = new_figure(3, 3).subplots()
    ax.plot([1, 2, 3], [1e-3] * 3)
    readable_log_axis(ax, [1e-3] * 3)
    lo, hi = ax.get_ylim()
    assert lo < 1e-3 < hi and len(_visible_ticks(ax)) >= 4


def test_curves_of_a_restoration_only_method_say_what_was_not_trained() -> None:
    rows = [{"epoch": e, "phase": "train", "loss_rec": 0.01 / e, "lr": 1e-3} for e in (1, 2, 3)]
    fig = plot_curves(rows)
    cls = fig.axes[1]
    assert not cls.lines and "not trained by this method" in [t.get_text() for t in cls.texts]
    assert fig.axes[0].get_legend() is not None and not any(
        WARMUP_LABEL in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_triplets_name_class_and_corruption_per_row(tmp_path) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.random((2, 16, 16, 8)).astype(np.float32) for _ in range(3)]
    labels = ["class 3\nelastic +\nin-painting", "class 5\nelastic +\nlocal shuffle"]
    fig = plot_triplets(*arrays, tmp_path / "t.png", title="epoch 2", labels=labels)
    assert len(fig.axes) == 6 and [ax.get_title() for ax in fig.axes[:3]] == ["original", "corrupted", "restored"]
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == labels
    image = fig.axes[1].images[0]
    assert image.get_clim() == (0, 1) and image.get_array().shape == (16, 16)
    assert np.array_equal(image.get_array(), arrays[1][0][..., 4].T)  # the middle slice, X across
    with pytest.raises(ValueError, match="one label per triplet"):
        plot_triplets(*arrays, labels=["only one"])
    with pytest.raises(ValueError, match="same non-zero number"):
        plot_triplets(arrays[0], arrays[1][:1], arrays[2])
