"""Figures without pyplot: every picture is a :class:`matplotlib.figure.Figure` built with the
object API (no global figure registry, no backend switch, so a notebook's backend is left
alone), returned to the caller and saved atomically when a path is given."""

from __future__ import annotations

import os

from semgen.utils.io import atomic_path


def new_figure(width: float, height: float, dpi: float = 100):
    """A blank :class:`~matplotlib.figure.Figure` of ``width`` x ``height`` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi)


def save_figure(fig, path: str | os.PathLike | None, dpi: float) -> None:
    """Write ``fig`` as PNG to ``path`` atomically (nothing half-written); no-op for ``None``."""
    if path is None:
        return
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
