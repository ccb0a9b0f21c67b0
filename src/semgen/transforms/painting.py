"""In-painting and out-painting (Models Genesis; Semantic Genesis Sec. 2 (3), Appendix B),
and the context-encoder in-painting baseline (Pathak et al. 2016) built from the same parts.

In-painting fills boxes with per-voxel U(0, 1) noise; out-painting fills the whole patch
with U(0, 1) noise except the kept boxes, which keep the original. Published numbers
(PyTorch code; the Keras loader differs and fills with one constant, which we do not
follow):

- box sizes per axis: in-painting U{axis//6 .. axis//3} (10-21 x 10-21 x 5-10 for
  64x64x32); out-painting axis - U{3*axis//7 .. 4*axis//7} (28-37 x 28-37 x 14-19);
- box corners U{3 .. axis - size - 3} (``margin`` 3);
- number of boxes: Semantic Genesis exactly 1 for both; Models Genesis in-painting
  0-5 boxes (another box while U(0, 1) < 0.95, at most 5), out-painting 1-5 boxes.

The noise is drawn at apply time from a generator seeded by the parameters' ``seed``, so
the parameters stay small and the same parameters give the same output on one device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from semgen.transforms.core import (
    CorruptionError,
    Params,
    active_mask,
    apply_to_active,
    batch_shape,
    box_mask,
    check_batch,
    check_params,
    check_prob,
    draw_seed,
    randint_between,
    seeded_generator,
    uniform,
)


@dataclass(frozen=True, eq=False)
class PaintParams(Params):
    """``corners``, ``sizes``: (B, K, D) int64 boxes; ``box_on``: (B, K) bool, which of the
    K boxes exist for each sample; ``seed``: seeds the U(0, 1) noise drawn at apply time."""

    corners: Tensor
    sizes: Tensor
    box_on: Tensor
    seed: int


def _sample_boxes(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None,
    what: str,
    size_range: list[tuple[int, int]],
    prob: float,
    min_boxes: int,
    max_boxes: int,
    continue_prob: float,
    margin: int,
) -> PaintParams:
    b, spatial = batch_shape(shape, what)
    check_prob(prob, "prob", what)
    check_prob(continue_prob, "continue_prob", what)
    if not 0 <= min_boxes <= max_boxes:
        raise CorruptionError(f"{what}: need 0 <= min_boxes <= max_boxes, got {min_boxes} and {max_boxes}")
    if margin < 0:
        raise CorruptionError(f"{what}: margin must be >= 0, got {margin}")
    if len(size_range) != len(spatial):
        raise CorruptionError(f"{what}: size_range needs one (low, high) pair per axis of {spatial}")
    for (lo, hi), length in zip(size_range, spatial):
        if lo < 1 or hi < lo or length - hi - 2 * margin < 0:
            raise CorruptionError(
                f"{what}: a patch {spatial} is too small for boxes of {lo}..{hi} voxels with a margin of "
                f"{margin} on an axis of {length} voxels"
            )
    gdev = generator.device
    active = active_mask(generator, b, prob)
    extra = (uniform(generator, b, max_boxes - min_boxes) < continue_prob).cumprod(dim=1).sum(dim=1)
    box_on = torch.arange(max_boxes, device=gdev) < (min_boxes + extra)[:, None]
    lo = torch.tensor([r[0] for r in size_range], device=gdev).expand(b, max_boxes, -1)
    hi = torch.tensor([r[1] for r in size_range], device=gdev).expand(b, max_boxes, -1)
    sizes = randint_between(generator, lo, hi)
    corners = randint_between(
        generator, torch.full_like(sizes, margin), torch.tensor(spatial, device=gdev) - sizes - margin
    )
    seed = draw_seed(generator)
    device = device or gdev
    return PaintParams(active.to(device), spatial, corners.to(device), sizes.to(device), box_on.to(device), seed)


def _ranges(spatial_shape: Sequence[int], size_range: Sequence[Sequence[int]] | None, default) -> list[tuple[int, int]]:
    if size_range is None:
        return [default(length) for length in spatial_shape]
    return [(int(lo), int(hi)) for lo, hi in size_range]


def sample_inpaint_params(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
    *,
    prob: float = 1.0,
    min_boxes: int = 1,
    max_boxes: int = 1,
    continue_prob: float = 0.95,
    size_range: Sequence[Sequence[int]] | None = None,
    margin: int = 3,
) -> PaintParams:
    """Draw in-painting boxes. Defaults: Semantic Genesis (one box, sizes axis//6..axis//3);
    Models Genesis: ``min_boxes=0, max_boxes=5``. ``size_range``: (low, high) per axis, inclusive."""
    ranges = _ranges(shape[2:], size_range, lambda n: (n // 6, n // 3))
    return _sample_boxes(
        shape, generator, device, "in-painting", ranges, prob, min_boxes, max_boxes, continue_prob, margin
    )


def sample_outpaint_params(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
    *,
    prob: float = 1.0,
    min_boxes: int = 1,
    max_boxes: int = 1,
    continue_prob: float = 0.95,
    size_range: Sequence[Sequence[int]] | None = None,
    margin: int = 3,
) -> PaintParams:
    """Draw the kept boxes of out-painting. Defaults: Semantic Genesis (one box of
    axis - U{3*axis//7..4*axis//7}); Models Genesis: ``max_boxes=5``."""
    ranges = _ranges(shape[2:], size_range, lambda n: (n - 4 * n // 7, n - 3 * n // 7))
    return _sample_boxes(
        shape, generator, device, "out-painting", ranges, prob, min_boxes, max_boxes, continue_prob, margin
    )


def _noise_and_mask(x: Tensor, params: PaintParams) -> tuple[Tensor, Tensor]:
    g = seeded_generator(params.seed, x.device)
    noise = torch.rand(x.shape, generator=g, device=x.device).to(x.dtype)
    mask = box_mask(params.corners, params.sizes, params.box_on, tuple(x.shape[2:]))
    return noise, mask[:, None]


def _inpaint_kernel(x: Tensor, params: PaintParams) -> Tensor:
    noise, mask = _noise_and_mask(x, params)
    return torch.where(mask, noise, x)


def _outpaint_kernel(x: Tensor, params: PaintParams) -> Tensor:
    noise, mask = _noise_and_mask(x, params)
    return torch.where(mask, x, noise)


def inpaint(x: Tensor, params: PaintParams, *, validate: bool = True) -> Tensor:
    """Replace the boxes with U(0, 1) noise; (B, C, X, Y[, Z]) in [0, 1], same shape and dtype out."""
    if validate:
        check_batch(x, "in-painting")
        check_params(x, params, "in-painting")
    return apply_to_active(x, params, _inpaint_kernel)


def outpaint(x: Tensor, params: PaintParams, *, validate: bool = True) -> Tensor:
    """Replace everything outside the boxes with U(0, 1) noise; same shape and dtype out."""
    if validate:
        check_batch(x, "out-painting")
        check_params(x, params, "out-painting")
    return apply_to_active(x, params, _outpaint_kernel)
