"""``PATTERNS/atlas.png``: can a person see the same anatomy recur within each class?

Like the paper's Fig. 1a / Fig. 4: one row per class; the reference and its nearest
training neighbours side by side, each as the slice through the crop centre (axial
in 3D, shown radiologically: patient left on the image right, anterior up) with the
native crop outlined, followed by the crop itself. The panels are composed into one
mosaic array (nearest-neighbour resampling, aspect kept) and drawn as a single image,
so memory and time stay small for many classes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from semgen.discovery.planning import CropTable
from semgen.utils.io import atomic_path

PANEL = 112  # pixels per panel side
LABEL = 14  # pixels above each row for the scan names
GAP = 6  # pixels between one scan's (slice, crop) pair and the next


def _plane(volume: np.ndarray, start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The slice through the crop centre, (X, Y)."""
    if volume.ndim == 3:
        return np.asarray(volume[:, :, int(start[2] + size[2] // 2)], dtype=np.float32)
    return np.asarray(volume, dtype=np.float32)


def _fit(image_xy: np.ndarray) -> tuple[np.ndarray, float, tuple[int, int]]:
    """An (X, Y) image as a PANEL x PANEL display tile (rows = Y, columns = X), nearest
    neighbour, aspect kept, centred on white; returns (tile, scale, (row offset, column offset))."""
    h, w = image_xy.shape[1], image_xy.shape[0]
    scale = PANEL / max(h, w)
    rows, cols = max(1, round(h * scale)), max(1, round(w * scale))
    ri = np.minimum((np.arange(rows) / scale).astype(int), h - 1)
    ci = np.minimum((np.arange(cols) / scale).astype(int), w - 1)
    tile = np.ones((PANEL, PANEL), dtype=np.float32)
    r0, c0 = (PANEL - rows) // 2, (PANEL - cols) // 2
    tile[r0 : r0 + rows, c0 : c0 + cols] = image_xy.T[np.ix_(ri, ci)]
    return tile, scale, (r0, c0)


def draw_atlas(
    path: str | Path,
    table: CropTable,
    references: list[int],
    ids: list[str],
    image: Callable[[str], np.ndarray],
    neighbors_shown: int = 4,
) -> None:
    """Write the atlas for the classes of ``table`` (``references[c]`` = cohort index of the
    reference of class c; ``image(id)`` returns a cohort array in [0, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    native = (table.resolution == 1) & ~table.split
    row_height = PANEL + LABEL
    width = (neighbors_shown + 1) * (2 * PANEL + GAP) - GAP
    mosaic = np.ones((len(references) * row_height, width), dtype=np.float32)
    boxes, labels = [], []
    for c, ref in enumerate(references):
        rows = np.flatnonzero(native & (table.klass == c))
        shown = [r for r in rows if table.scan[r] == ref][:1] + [r for r in rows if table.scan[r] != ref][:neighbors_shown]
        top = c * row_height + LABEL
        for j, r in enumerate(shown):
            start, size = table.start[r], table.size[r]
            plane = _plane(image(ids[table.scan[r]]), start, size)
            tile, scale, (r0, c0) = _fit(plane)
            left = j * (2 * PANEL + GAP)
            mosaic[top : top + PANEL, left : left + PANEL] = tile
            crop = plane[start[0] : start[0] + size[0], start[1] : start[1] + size[1]]
            mosaic[top : top + PANEL, left + PANEL : left + 2 * PANEL] = _fit(crop)[0]
            boxes.append((left + c0 + start[0] * scale, top + r0 + start[1] * scale, size[0] * scale, size[1] * scale))
            labels.append((left + 2, top - 3, ("ref " if j == 0 else "") + ids[table.scan[r]], "magenta" if j == 0 else "black"))
        labels.append((width - 4, top - 3, f"class {c}", "blue"))
    rgb = np.repeat((np.clip(mosaic, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    for x, y, w, h in boxes:  # the crop outlines, burnt in as 1-pixel yellow lines
        x0, y0 = int(round(x)), int(round(y))
        x1, y1 = min(int(round(x + w)) - 1, rgb.shape[1] - 1), min(int(round(y + h)) - 1, rgb.shape[0] - 1)
        for rr, cc in ((slice(y0, y1 + 1), x0), (slice(y0, y1 + 1), x1), (y0, slice(x0, x1 + 1)), (y1, slice(x0, x1 + 1))):
            rgb[rr, cc] = (255, 220, 0)
    # the labels: drawn by matplotlib on a white canvas of the same size, copied into the
    # label bands (drawing the mosaic itself through matplotlib would cost ~100x its memory)
    dpi = 100
    height, width = rgb.shape[:2]
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    for x, y, text, colour in labels:
        right = text.startswith("class")
        fig.text(x / width, 1 - y / height, text, fontsize=7, color=colour, ha="right" if right else "left", va="bottom")
    fig.canvas.draw()
    canvas = np.asarray(fig.canvas.buffer_rgba())[:height, :width, :3]
    plt.close(fig)
    for c in range(len(references)):
        band = slice(c * row_height, c * row_height + LABEL)
        rgb[band, : canvas.shape[1]] = canvas[band]
    with atomic_path(path) as tmp:
        plt.imsave(tmp, rgb, format="png")
