"""``PATTERNS/atlas.png``: can a person see the same anatomy recur within each class?

One row per class (data: :func:`semgen.discovery.atlas.atlas_data`): for the reference and
each shown neighbour, the slice through the crop centre (shown radiologically: patient left
on the image right, anterior up) with the native crop outlined in yellow, followed by the
crop itself. A legend band on top says what is shown; a flagged class (mostly outside the
body, near-duplicate of another class) has its flags written in red on its row.

The panels are composed into one mosaic array (nearest-neighbour resampling, aspect kept)
and placed pixel for pixel on the figure (``figimage``, no resampling), so memory and time
stay small for many classes.
"""

from __future__ import annotations

import os
import textwrap
from typing import TYPE_CHECKING

import numpy as np

from semgen.viz.figure import new_figure, save_figure

if TYPE_CHECKING:  # the data comes from the discovery stage; viz never imports a stage at run time
    from semgen.discovery.atlas import Atlas

PANEL = 112  # pixels per panel side
LABEL = 14  # pixels above each row for the scan names and the class line
GAP = 6  # pixels between one scan's (slice, crop) pair and the next
LEGEND = 46  # pixels of the legend band on top
INFO = 250  # pixels of the column on the right with each class's number, body fraction and flags
DPI = 100
REFERENCE_COLOUR = "magenta"
BOX_COLOUR = (255, 220, 0)
FLAG_COLOUR = "red"


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


def _mosaic(atlas: Atlas, columns: int) -> tuple[np.ndarray, list]:
    """The (H, W, 3) uint8 mosaic below the legend band and the crop outlines burnt into it."""
    row_height = PANEL + LABEL
    width = columns * (2 * PANEL + GAP) - GAP
    mosaic = np.ones((len(atlas.classes) * row_height, width), dtype=np.float32)
    boxes = []
    for c, entry in enumerate(atlas.classes):
        top = c * row_height + LABEL
        for j, p in enumerate(entry.panels):
            tile, scale, (r0, c0) = _fit(p.plane)
            left = j * (2 * PANEL + GAP)
            mosaic[top : top + PANEL, left : left + PANEL] = tile
            crop = p.plane[p.start[0] : p.start[0] + p.size[0], p.start[1] : p.start[1] + p.size[1]]
            mosaic[top : top + PANEL, left + PANEL : left + 2 * PANEL] = _fit(crop)[0]
            boxes.append((left + c0 + p.start[0] * scale, top + r0 + p.start[1] * scale, p.size[0] * scale, p.size[1] * scale))
    rgb = np.repeat((np.clip(mosaic, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    for x, y, w, h in boxes:  # the crop outlines, 1-pixel yellow lines
        x0, y0 = int(round(x)), int(round(y))
        x1, y1 = min(int(round(x + w)) - 1, rgb.shape[1] - 1), min(int(round(y + h)) - 1, rgb.shape[0] - 1)
        for rr, cc in ((slice(y0, y1 + 1), x0), (slice(y0, y1 + 1), x1), (y0, slice(x0, x1 + 1)), (y1, slice(x0, x1 + 1))):
            rgb[rr, cc] = BOX_COLOUR
    return rgb, boxes


def legend_lines(atlas: Atlas) -> list[tuple[str, str]]:
    """The legend band's lines as ``(text, colour)``."""
    patch = "x".join(str(s) for s in atlas.patch)
    slice_kind = "axial slice through the crop centre (z given)" if len(atlas.patch) == 3 else "the image"
    flagged = sum(bool(c.flags) for c in atlas.classes)
    return [
        (f"One row per pattern class. Each pair: left = {slice_kind}, radiological view (patient left on the right, "
         f"anterior up), yellow box = the native crop ({patch} voxels, resolution 1 of {atlas.resolutions}); right = that crop.",
         "black"),
        (f"First pair, name in {REFERENCE_COLOUR} = the class's reference scan; the others = its nearest training "
         "neighbours (black names).", REFERENCE_COLOUR),
        (f"{flagged} of {len(atlas.classes)} classes flagged in red: mostly outside the body (< "
         f"{100 * atlas.min_body_fraction:.0f} % of crop voxels in the body mask) or near-duplicate of another class "
         f"(mean crops correlate, r > {atlas.duplicate_correlation:g}).", FLAG_COLOUR if flagged else "black"),
    ]


def draw_atlas(atlas: Atlas, path: str | os.PathLike | None = None, neighbors_shown: int = 4):
    """Draw ``atlas`` (see the module docstring). Returns the figure (pixel size = mosaic +
    legend band, at :data:`DPI`); saved as PNG to ``path`` when given."""
    columns = max([neighbors_shown + 1] + [len(c.panels) for c in atlas.classes])
    rgb, _ = _mosaic(atlas, columns)
    height, width = rgb.shape[0] + LEGEND, rgb.shape[1] + INFO
    fig = new_figure(width / DPI, height / DPI, dpi=DPI)
    if len(rgb):
        fig.figimage(rgb, xo=0, yo=0, origin="upper")

    def text(x: float, y: float, s: str, colour: str, ha: str = "left", size: float = 7) -> None:
        # (x, y) in pixels from the top-left corner, y at the text's baseline
        fig.text(x / width, 1 - y / height, s, fontsize=size, color=colour, ha=ha, va="bottom")

    for i, (line, colour) in enumerate(legend_lines(atlas)):
        text(4, 14 * (i + 1), line, colour, size=6.5)
    if not atlas.classes:
        text(4, LEGEND - 2, "no classes", "black")
    row_height = PANEL + LABEL
    for c, entry in enumerate(atlas.classes):
        top = LEGEND + c * row_height + LABEL
        for j, p in enumerate(entry.panels):
            name = ("ref " if p.reference else "") + p.scan + ("" if p.slice_index is None else f"  z={p.slice_index}")
            text(j * (2 * PANEL + GAP) + 2, top - 3, name, REFERENCE_COLOUR if p.reference else "black")
        text(rgb.shape[1] + 8, top + 12, f"class {entry.klass}", FLAG_COLOUR if entry.flags else "blue", size=9)
        text(rgb.shape[1] + 8, top + 26, f"crops {100 * entry.body_fraction:.0f} % inside the body", "black")
        lines = [w for flag in entry.flags for w in textwrap.wrap(flag, 44)]
        for k, line in enumerate(lines[:6]):
            text(rgb.shape[1] + 8, top + 42 + 12 * k, line, FLAG_COLOUR)
    save_figure(fig, path, dpi=DPI)
    return fig
