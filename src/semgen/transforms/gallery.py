"""The corruption gallery (like Fig. 5 of the paper): one row per example patch, the
original then each corruption, the middle slice of 3-D patches.

Rows are patches chosen from a volume by :func:`pick_patches`; columns are schedules
(:data:`GALLERY_COLUMNS`), each applied to all rows at once with its own seeded generator
(:func:`corrupt_columns`). The local-shuffle column is the Models Genesis version (10,000
blocks); Semantic Genesis itself shuffles 5 blocks (its column shows it when drawn).
The drawing is :func:`semgen.viz.gallery.draw_gallery`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from semgen.transforms.schedules import Schedule, Step, get_schedule
from semgen.utils.progress import progress
from semgen.utils.seeding import numpy_rng, torch_generator

GALLERY_COLUMNS: tuple[tuple[str, Schedule], ...] = (
    ("elastic", Schedule(name="elastic", steps=(Step("elastic"),), description="elastic deformation alone")),
    ("non-linear", get_schedule("nonlinear")),
    ("local shuffle (Models Genesis, 10,000 blocks)", get_schedule("local-shuffle")),
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


def corrupt_columns(
    patches: Sequence[np.ndarray],
    seed: int = 0,
    columns: Sequence[tuple[str, Schedule]] = GALLERY_COLUMNS,
) -> list[tuple[str, np.ndarray]]:
    """The gallery's data: ``[("original", (N, X, Y[, Z])), (title, corrupted), ...]`` for
    ``patches`` (same shape, (X, Y) or (X, Y, Z), values in [0, 1]); each column is its
    schedule applied to all patches at once with its own seeded generator. Drawn by
    :func:`semgen.viz.gallery.draw_gallery`."""
    if not patches:
        raise ValueError("the gallery needs at least one patch")
    x = torch.from_numpy(np.stack(patches)).float()[:, None]
    shown = [("original", x[:, 0].numpy())]
    for j, (title, schedule) in enumerate(progress(columns, desc="corruptions", unit="column")):
        inputs, _ = schedule(x, torch_generator(seed, "gallery", j))
        shown.append((title, inputs[:, 0].numpy()))
    return shown
