"""The phantom cohort's montage: mid-axial and coronal slices of a few patients, so a person
can see at a glance what was generated."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from semgen.viz.figure import new_figure, save_figure

LUNG_WINDOW = (-1350.0, 150.0)  # level -600 HU, width 1500 HU
MEDIASTINAL_WINDOW = (-160.0, 240.0)  # level 40 HU, width 400 HU


def draw_montage(panels: Sequence[dict[str, Any]], path: str | os.PathLike | None = None, *,
                 label_names: Mapping[int, str]):
    """Draw one row per patient: mid-axial slice in the lung and the mediastinal window,
    coronal slice in the lung window, and the coronal organ labels over it.

    Each panel holds ``id``, ``type_name``, ``spacing`` (mm), ``axial`` HU (X, Y),
    ``coronal`` HU (X, Z), ``coronal_labels`` (X, Z) and the slice indices ``z`` and ``y``;
    ``label_names`` maps each organ label value (0 = background) to its name (the phantoms' ``label_names``).
    Axial slices are shown radiologically (patient's right on the viewer's left, anterior
    up); coronal slices with superior up. Returns the figure; written atomically as PNG to
    ``path`` when given. (Which patients and slices: :mod:`semgen.phantoms.writer`.)
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    colors = ["none", "#3b8bd6", "#d62728", "#8c564b", "#f2f2f2", "#ff7f0e", "#2ca02c", "#9467bd"]
    label_cmap = ListedColormap(colors[: len(label_names)])
    fig = new_figure(13, 3.3 * len(panels))
    axes = fig.subplots(len(panels), 4, squeeze=False)
    for row, p in zip(axes, panels):
        sx, sy, sz = p["spacing"]
        ax_extent = (0, p["axial"].shape[0] * sx, p["axial"].shape[1] * sy, 0)
        co_extent = (0, p["coronal"].shape[0] * sx, 0, p["coronal"].shape[1] * sz)
        views = [
            (p["axial"], LUNG_WINDOW, ax_extent, f"{p['id']} ({p['type_name']})\naxial z={p['z']}, lung window"),
            (p["axial"], MEDIASTINAL_WINDOW, ax_extent, f"axial z={p['z']}, mediastinal window"),
            (p["coronal"], LUNG_WINDOW, co_extent, f"coronal y={p['y']}, lung window"),
            (p["coronal"], MEDIASTINAL_WINDOW, co_extent, "coronal organ labels"),
        ]
        for ax, (img, (lo, hi), extent, title) in zip(row, views):
            origin = "upper" if extent is ax_extent else "lower"
            ax.imshow(img.T, cmap="gray", vmin=lo, vmax=hi, extent=extent, origin=origin, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
        labels = np.ma.masked_equal(p["coronal_labels"].T, 0)
        row[3].imshow(
            labels, cmap=label_cmap, vmin=-0.5, vmax=len(label_names) - 0.5, alpha=0.55, extent=co_extent,
            origin="lower", interpolation="nearest",
        )
    handles = [Rectangle((0, 0), 1, 1, color=colors[k]) for k in label_names if k > 0]
    fig.legend(handles, [label_names[k] for k in label_names if k > 0], loc="lower center", ncol=len(label_names) - 1, fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, path, dpi=90)
    return fig
