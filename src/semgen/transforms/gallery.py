"""The corruption gallery (like Fig. 5 of the paper): one row per example patch, the
original then each corruption, the middle slice of 3-D patches.

Rows are patches chosen from a volume by :func:`pick_patches`; columns are schedules
(:data:`GALLERY_COLUMNS`), each applied to all rows at once with its own seeded generator.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from semgen.transforms.schedules import Schedule, Step, get_schedule
from semgen.utils.io import atomic_path
from semgen.utils.progress import progress
from semgen.utils.seeding import numpy_rng, torch_generator

GALLERY_COLUMNS: tuple[tuple[str, Schedule], ...] = (
    ("elastic", Schedule(name="elastic", steps=(Step("elastic"),), description="elastic deformation alone")),
    ("non-linear", get_schedule("nonlinear")),
    ("local shuffle", get_schedule("local-shuffle")),
    ("in-painting", get_schedule("inpainting")),
    ("out-painting", get_schedule("outpaint")),
    ("context restoration", get_schedule("context-restoration")),
    ("Models Genesis", get_schedule("models-genesis")),
    ("Semantic Genesis", get_schedule("semantic-genesis")),
)


def pick_patches(
    volume: np.ndarray, patch: Sequence[int], count: int, seed: int, candidates: int = 64
) -> list[np.ndarray]:
    """``count`` patches of size ``patch`` from ``volume`` (X, Y[, Z]) in [0, 1]: among
    ``candidates`` random positions, the ones with the most intensity variation (anatomy
    rather than air). Axes shorter than the patch are taken whole."""
    size = [min(int(p), n) for p, n in zip(patch, volume.shape)]
    rng = numpy_rng(seed, "gallery", "patches")
    starts = np.stack([rng.integers(0, n - s + 1, size=candidates) for n, s in zip(volume.shape, size)], axis=1)
    crops = [volume[tuple(slice(a, a + s) for a, s in zip(start, size))] for start in starts]
    order = np.argsort([-float(np.std(c)) for c in crops], kind="stable")
    # prefer patches that overlap the ones already chosen by less than half on some axis
    chosen: list[int] = []
    for i in order:
        if all(np.any(np.abs(starts[i] - starts[j]) * 2 >= size) for j in chosen):
            chosen.append(i)
    chosen += [i for i in order if i not in chosen]
    return [np.ascontiguousarray(crops[i], dtype=np.float32) for i in chosen[:count]]


def render_gallery(
    patches: Sequence[np.ndarray],
    out: str | os.PathLike,
    seed: int = 0,
    columns: Sequence[tuple[str, Schedule]] = GALLERY_COLUMNS,
) -> Path:
    """Draw the gallery of ``patches`` (same shape, (X, Y) or (X, Y, Z), values in [0, 1])
    and write it atomically to ``out`` (PNG). Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not patches:
        raise ValueError("the gallery needs at least one patch")
    x = torch.from_numpy(np.stack(patches)).float()[:, None]
    shown = [("original", x)]
    for j, (title, schedule) in enumerate(progress(columns, desc="corruptions", unit="column")):
        inputs, _ = schedule(x, torch_generator(seed, "gallery", j))
        shown.append((title, inputs))
    rows, cols = x.shape[0], len(shown)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows + 0.3), squeeze=False)
    for j, (title, images) in enumerate(shown):
        for i in range(rows):
            image = images[i, 0]
            if image.ndim == 3:
                image = image[..., image.shape[-1] // 2]
            ax = axes[i][j]
            # rows y (anterior at the top), columns x (patient left on the right): radiological view
            ax.imshow(image.T.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out
