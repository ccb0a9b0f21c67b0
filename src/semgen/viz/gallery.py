"""The corruption gallery (like Fig. 5 of the paper): one row per example patch, the original
then each corruption, the middle slice of 3-D patches, all on one [0, 1] grey scale.
The columns are computed by :func:`semgen.transforms.gallery.corrupt_columns`."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence

import numpy as np

from semgen.viz.figure import new_figure, save_figure

CELL = 1.8  # inches per panel
TITLE = 0.3  # inches above the first row for the column titles (wrapped to two lines)


def draw_gallery(columns: Sequence[tuple[str, np.ndarray]], path: str | os.PathLike | None = None):
    """``columns``: ``(title, images (N, X, Y[, Z]) in [0, 1])`` per column, the same N in
    each. Returns the figure (N rows x len(columns) panels, radiological view: X across with
    patient left on the right, anterior up); saved as PNG to ``path`` when given."""
    if not columns or len({len(images) for _, images in columns}) != 1 or len(columns[0][1]) == 0:
        raise ValueError("the gallery needs columns with the same, non-zero number of patches")
    rows, cols = len(columns[0][1]), len(columns)
    fig = new_figure(CELL * cols, CELL * rows + TITLE)
    axes = fig.subplots(rows, cols, squeeze=False)
    for j, (title, images) in enumerate(columns):
        for i in range(rows):
            image = np.asarray(images[i], dtype=np.float32)
            if image.ndim == 3:
                image = image[..., image.shape[-1] // 2]
            ax = axes[i][j]
            ax.imshow(image.T, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(textwrap.fill(title, 30), fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    return fig
