"""Every picture: drawn with the Figure API (the process's matplotlib backend is left alone),
returned, saved where asked; the phantom montage's panels and legend."""

from __future__ import annotations

import numpy as np

from semgen.phantoms.anatomy import LABELS


def _panel(pid: str) -> dict:
    rng = np.random.default_rng(0)
    return {
        "id": pid, "type_name": "average", "spacing": (1.5, 1.5, 3.0),
        "axial": rng.uniform(-1000, 400, (40, 32)), "coronal": rng.uniform(-1000, 400, (40, 20)),
        "coronal_labels": rng.integers(0, len(LABELS), (40, 20)), "z": 10, "y": 16,
    }


def test_montage_has_four_views_per_patient_and_an_organ_legend(tmp_path) -> None:
    from semgen.viz.montage import draw_montage

    fig = draw_montage([_panel("p0"), _panel("p1")], tmp_path / "montage.png", label_names=LABELS)
    assert (tmp_path / "montage.png").stat().st_size > 0
    assert len(fig.axes) == 2 * 4
    assert fig.axes[4].get_title().startswith("p1 (average)")
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [LABELS[k] for k in LABELS if k > 0]
    # the axial view spans the patient in millimetres: 40 x 1.5 mm across, 32 x 1.5 mm down
    assert fig.axes[0].images[0].get_extent() == [0, 60.0, 48.0, 0]


def _draw_everything(tmp_path) -> None:
    """Every picture semgen draws, at tiny sizes."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_viz_atlas import _table, _volumes
    from test_viz_results import _report
    from test_viz_training import _rows

    from semgen.discovery.atlas import atlas_data
    from semgen.transforms.gallery import corrupt_columns
    from semgen.viz.atlas import draw_atlas
    from semgen.viz.gallery import draw_gallery
    from semgen.viz.montage import draw_montage
    from semgen.viz.results import plot_bars, plot_label_efficiency
    from semgen.viz.training import plot_curves, plot_triplets

    images, masks = _volumes()
    draw_atlas(atlas_data(_table([(10, 10, 4)]), [0], sorted(images), images.__getitem__, masks.__getitem__), tmp_path / "a.png")
    draw_gallery(corrupt_columns([np.full((32, 32, 16), 0.5, dtype=np.float32)]), tmp_path / "g.png")
    draw_montage([_panel("p0")], tmp_path / "m.png", label_names=LABELS)
    report = _report(tmp_path / "results")
    plot_bars(report["groups"], tmp_path / "b.png")
    plot_label_efficiency(report["label_efficiency"], tmp_path / "e.png")
    plot_curves(_rows(), tmp_path / "c.png")
    cube = np.zeros((1, 16, 16, 8), dtype=np.float32)
    plot_triplets(cube, cube, cube, tmp_path / "t.png", labels=["class 0"])
    assert len(list(tmp_path.glob("*.png"))) == 7


def test_drawing_every_picture_leaves_the_backend_alone(tmp_path) -> None:
    import matplotlib

    import semgen  # noqa: F401

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # not the Agg a module might force: a switch would show
    try:
        import semgen.cli  # noqa: F401

        _draw_everything(tmp_path)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)


def test_no_module_switches_the_backend_or_uses_pyplot() -> None:
    import re
    from pathlib import Path

    import semgen

    state = re.compile(r"matplotlib\.use\(|import matplotlib\.pyplot|from matplotlib import pyplot")
    offenders = [str(p) for p in Path(semgen.__file__).parent.rglob("*.py") if state.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
