"""Elastic deformation (Semantic Genesis loader) and flips (Models Genesis).

Elastic deformation, as the published Semantic Genesis PyTorch loader does it (the paper
does not mention it; we follow the code, whose released weights and numbers used it):
displacement fields dx, dy are U(-1, 1) noise smoothed by a Gaussian of ``sigma`` = 8
voxels (``scipy.ndimage.gaussian_filter``, mode constant) over all spatial axes and
multiplied by ``alpha`` = 991; the cube is resampled at (x + dx, y + dy, z) with linear
interpolation and mode "reflect". There is no z displacement. Measured in the reference:
mean |dx| about 2.5 voxels, max about 10. It applies to the input only: the
restoration target stays undeformed.

Batched: the Gaussian is separable and the boundary is zero, so along each axis it is a
banded matrix (exactly scipy's truncated, normalised kernel). With ``grid_stride`` s > 1
the noise is drawn on a grid s times coarser (U(-1, 1) scaled by s**(D/2), the same
variance per unit volume), smoothed with the kernel sampled every s voxels and linearly
upsampled: the same displacement statistics for a fraction of the cost (``grid_stride=1``
is the published filter exactly). Because z is never displaced, resampling is a 2-D
bilinear ``grid_sample`` per slice (exactly the published trilinear lookup at integer z),
with ``align_corners=False`` and reflection padding, which reproduces scipy's
"reflect" (half-sample symmetric) boundary. In 2-D both axes are displaced, and the
default ``alpha`` is 186 so that the 2-D field has the 3-D field's statistics.

Flips (Models Genesis, ``flip_rate`` 0.4): up to 3 times, while U(0, 1) < 0.4, flip an
axis drawn uniformly from (channel, X, Y); the channel draw is a no-op in the published
code and Z is never flipped. Flips apply to the input and the target together.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from semgen.transforms.core import (
    CorruptionError,
    Params,
    active_mask,
    apply_to_active,
    batch_shape,
    check_batch,
    check_params,
    check_prob,
    float_work,
    uniform,
)

PUBLISHED_ALPHA = 991.0
PUBLISHED_SIGMA = 8.0
# the 2-D alpha giving the 3-D field's displacement spread: a D-dimensional Gaussian
# smoothing of white noise scales its std by (4 pi sigma^2) ** (-D / 4)
ALPHA_2D = round(PUBLISHED_ALPHA * (4 * math.pi * PUBLISHED_SIGMA**2) ** -0.25)


@dataclass(frozen=True, eq=False)
class ElasticParams(Params):
    """``noise``: (B, 2, *coarse) U(-1, 1) fields for the X and Y displacement, on the grid
    ``grid_stride`` times coarser than the patch (coarse = ceil(axis / grid_stride));
    ``alpha``, ``sigma``: the published scale and smoothing (voxels).
    :func:`displacement_field` turns them into displacements in voxels."""

    noise: Tensor
    alpha: float
    sigma: float
    grid_stride: int


@functools.lru_cache(maxsize=32)
def _axis_operator(length: int, stride: int, sigma: float, truncate: float, device: str) -> Tensor:
    """(length, coarse) matrix: Gaussian smoothing on the coarse grid, then linear upsampling."""
    coarse = math.ceil(length / stride)
    radius = int(truncate * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (k / sigma) ** 2)
    kernel /= kernel.sum()
    lag = (torch.arange(coarse)[:, None] - torch.arange(coarse)[None, :]).abs() * stride
    smooth = torch.where(lag <= radius, kernel[(radius + lag).clamp(max=2 * radius)], 0.0)
    if stride == 1:
        return smooth.float().to(device)
    up = F.interpolate(torch.eye(coarse, dtype=torch.float64)[None], size=length, mode="linear", align_corners=False)
    return (up[0].T @ smooth).float().to(device)


def smooth_noise(noise: Tensor, spatial: tuple[int, ...], sigma: float, stride: int, truncate: float = 4.0) -> Tensor:
    """Gaussian-smooth (mode constant) and upsample noise (B, K, *coarse) to (B, K, *spatial).

    With ``stride`` 1 this equals ``scipy.ndimage.gaussian_filter(noise[b, k], sigma,
    mode="constant", truncate=truncate)``.
    """
    out = noise
    for d, length in enumerate(spatial):
        op = _axis_operator(length, stride, float(sigma), float(truncate), str(noise.device))
        out = torch.movedim(torch.movedim(out, 2 + d, -1) @ op.T, -1, 2 + d)
    return out


def _noise_scale(params: ElasticParams) -> float:
    """U(-1, 1) on a grid s times coarser, times s ** (D / 2): the fine noise's variance per volume."""
    return params.alpha * params.grid_stride ** (len(params.spatial) / 2)


def displacement_field(params: ElasticParams) -> Tensor:
    """(B, 2, X, Y[, Z]) float32: the displacement in voxels along X and Y of each sample."""
    return smooth_noise(params.noise * _noise_scale(params), params.spatial, params.sigma, params.grid_stride)


def sample_elastic_params(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
    *,
    prob: float = 1.0,
    alpha: float | None = None,
    sigma: float = PUBLISHED_SIGMA,
    grid_stride: int = 4,
) -> ElasticParams:
    """Draw one smooth random displacement field per sample (defaults as published;
    ``alpha`` None: 991 in 3-D, :data:`ALPHA_2D` in 2-D; ``alpha=0`` is the identity;
    ``grid_stride=1``: the published fine-grid noise)."""
    what = "elastic deformation"
    b, spatial = batch_shape(shape, what)
    check_prob(prob, "prob", what)
    if sigma <= 0 or grid_stride < 1:
        raise CorruptionError(f"{what}: need sigma > 0 and grid_stride >= 1, got {sigma} and {grid_stride}")
    if alpha is None:
        alpha = PUBLISHED_ALPHA if len(spatial) == 3 else ALPHA_2D
    active = active_mask(generator, b, prob)
    coarse = [math.ceil(length / grid_stride) for length in spatial]
    noise = uniform(generator, b, 2, *coarse) * 2 - 1
    device = device or generator.device
    return ElasticParams(active.to(device), spatial, noise.to(device), float(alpha), float(sigma), int(grid_stride))


@functools.lru_cache(maxsize=32)
def _grid_offset(nx: int, ny: int, device: str) -> Tensor:
    """(X, Y, 2) grid_sample coordinates of the undisplaced plane, components (y, x):
    with align_corners=False voxel i of n sits at (2i + 1) / n - 1."""
    xx, yy = torch.meshgrid(torch.arange(nx, device=device), torch.arange(ny, device=device), indexing="ij")
    return (torch.stack([yy / ny, xx / nx], dim=-1) * 2 - 1 + torch.tensor([1.0 / ny, 1.0 / nx], device=device)).float()


def _sampling_grid(params: ElasticParams, nx: int, ny: int) -> Tensor:
    """(B, [Z,] X, Y, 2) grid_sample coordinates, components (y, x), computed from the coarse
    noise with the last (largest) smoothing step fused with the offset in one ``baddbmm``."""
    device = params.noise.device
    spatial = params.spatial
    ops = [_axis_operator(length, params.grid_stride, params.sigma, 4.0, str(device)) for length in spatial]
    to_grid = torch.tensor([2.0 / ny, 2.0 / nx], device=device) * _noise_scale(params)
    t = params.noise.flip(1).movedim(1, -1) * to_grid  # (B, *coarse, 2): (dy, dx) in grid units
    t = (
        torch.einsum("bijc,yj->biyc", t, ops[1])
        if len(spatial) == 2
        else torch.einsum("bijkc,xi,yj->bkxyc", t, ops[0], ops[1])
    )
    outer = ops[0] if len(spatial) == 2 else ops[2]  # the axis still coarse: X in 2-D, Z in 3-D
    b, length = t.shape[0], outer.shape[0]
    offset = _grid_offset(nx, ny, str(device)).reshape(1, 1 if len(spatial) == 3 else nx, -1)
    grid = torch.baddbmm(offset, outer.expand(b, -1, -1), t.reshape(b, outer.shape[1], -1))
    return grid.view(b, length, *([nx, ny] if len(spatial) == 3 else [ny]), 2)


def _elastic_kernel(x: Tensor, params: ElasticParams) -> Tensor:
    # 3-D: each z slice (rows X, columns Y) is resampled as an image; no z displacement
    work = float_work(x)
    b, nx, ny = x.shape[0], x.shape[2], x.shape[3]
    grid = _sampling_grid(params, nx, ny).to(work.dtype)
    if x.ndim == 4:
        out = F.grid_sample(work, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        return out.clamp_(0, 1).to(x.dtype)
    # one sample at a time: its z slices are read and written through strided views, which
    # avoids transposing the whole batch to (B * Z, C, X, Y) and back
    out = torch.empty_like(x)
    for i in range(b):
        warped = F.grid_sample(
            work[i].permute(3, 0, 1, 2), grid[i], mode="bilinear", padding_mode="reflection", align_corners=False
        )
        out[i] = warped.clamp_(0, 1).permute(1, 2, 3, 0)
    return out


def elastic(x: Tensor, params: ElasticParams, *, validate: bool = True) -> Tensor:
    """Resample each sample at (x + dx, y + dy[, z]); (B, C, X, Y[, Z]) in [0, 1], same shape
    and dtype out. Apply to the input only (the target stays undeformed)."""
    if validate:
        check_batch(x, "elastic deformation")
        check_params(x, params, "elastic deformation")
    return apply_to_active(x, params, _elastic_kernel)


@dataclass(frozen=True, eq=False)
class FlipParams(Params):
    """``flip``: (B, D) bool, whether each spatial axis is reversed."""

    flip: Tensor


def sample_flip_params(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
    *,
    prob: float = 0.4,
    max_flips: int = 3,
    axes: Sequence[int | None] = (None, 0, 1),
) -> FlipParams:
    """The Models Genesis flip loop: up to ``max_flips`` times, with probability ``prob``
    each (stopping at the first failure), flip one axis drawn uniformly from ``axes``
    (spatial axis indices; ``None`` is the published draw of the channel axis, a no-op).
    Only the parity of each axis' flips matters."""
    what = "flip"
    b, spatial = batch_shape(shape, what)
    check_prob(prob, "prob", what)
    if max_flips < 0 or not axes or any(a is not None and not 0 <= a < len(spatial) for a in axes):
        raise CorruptionError(
            f"{what}: need max_flips >= 0 and axes among None, 0..{len(spatial) - 1}; got {max_flips}, {axes}"
        )
    gdev = generator.device
    steps = (uniform(generator, b, max_flips) < prob).cumprod(dim=1).bool()
    choice = (uniform(generator, b, max_flips) * len(axes)).long().clamp_(max=len(axes) - 1)
    lookup = torch.tensor([-1 if a is None else a for a in axes], device=gdev)
    drawn = lookup[choice]
    flip = torch.stack([((drawn == d) & steps).sum(1) % 2 == 1 for d in range(len(spatial))], dim=1)
    device = device or gdev
    return FlipParams(flip.any(1).to(device), spatial, flip.to(device))


def _flip_kernel(x: Tensor, params: FlipParams) -> Tensor:
    out = x
    for d in range(x.ndim - 2):
        m = params.flip[:, d].view(-1, *([1] * (x.ndim - 1)))
        out = torch.where(m, out.flip(2 + d), out)
    return out


def flip(x: Tensor, params: FlipParams, *, validate: bool = True) -> Tensor:
    """Reverse the chosen axes per sample; apply to the input and the target alike."""
    if validate:
        check_batch(x, "flip")
        check_params(x, params, "flip")
    return apply_to_active(x, params, _flip_kernel)
