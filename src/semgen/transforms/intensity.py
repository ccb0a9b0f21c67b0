"""Non-linear intensity transformation (Models Genesis; Semantic Genesis Sec. 2 (3), Appendix B).

Each sample's intensities go through a cubic Bezier curve with control points
(0, 0), (r1, r2), (r3, r4), (1, 1), the r drawn U(0, 1). With probability 1/2 the
map is inverted, as published: there the code sorts only the curve's x values, which
pairs x(u) with y(1 - u), so 0 maps to 1 and 1 to 0. (Both coordinates of such a
curve are monotone in u, because the control points lie in [0, 1].)

The published code evaluates 100000 curve points and calls ``np.interp`` per voxel.
Here each sample's curve is evaluated on a dense parameter grid, resampled once into
a lookup table on a uniform intensity grid (``n_points`` entries), and every voxel
is linearly interpolated from that table: the same map to about 1e-5, batched, on
any device.
"""

from __future__ import annotations

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
    uniform,
)


@dataclass(frozen=True, eq=False)
class NonlinearParams(Params):
    """``points``: (B, 2, 2) the inner control points ((r1, r2), (r3, r4)) in [0, 1];
    ``invert``: (B,) bool, the intensity-inverting variant; ``n_points``: lookup-table size."""

    points: Tensor
    invert: Tensor
    n_points: int = 1024


def sample_nonlinear_params(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
    *,
    prob: float = 1.0,
    invert_prob: float = 0.5,
    n_points: int = 1024,
) -> NonlinearParams:
    """Draw one Bezier curve per sample (published: applied with ``prob`` 1 in Semantic
    Genesis' non-linear branch, 0.9 in Models Genesis; inverted with probability 0.5)."""
    what = "non-linear intensity"
    b, spatial = batch_shape(shape, what)
    check_prob(prob, "prob", what)
    check_prob(invert_prob, "invert_prob", what)
    if n_points < 2:
        raise CorruptionError(f"{what}: n_points must be at least 2, got {n_points}")
    active = active_mask(generator, b, prob)
    points = uniform(generator, b, 2, 2)
    invert = uniform(generator, b) < invert_prob
    device = device or generator.device
    return NonlinearParams(active.to(device), spatial, points.to(device), invert.to(device), int(n_points))


def _bezier_lookup(points: Tensor, invert: Tensor, n_points: int) -> Tensor:
    """(B, n_points) float32: each sample's intensity map at ``linspace(0, 1, n_points)``."""
    b = points.shape[0]
    u = torch.linspace(0.0, 1.0, 8 * n_points, device=points.device)
    basis = torch.stack([3 * (1 - u) ** 2 * u, 3 * (1 - u) * u**2, u**3])  # (3, U): weights of r1|r2, r3|r4, 1
    coef = torch.cat([points.float(), torch.ones(b, 1, 2, device=points.device)], dim=1)  # (B, 3, 2)
    curve = torch.einsum("bkc,ku->bcu", coef, basis)  # (B, 2, U): x(u), y(u), both non-decreasing
    xs = curve[:, 0].contiguous()
    ys = torch.where(invert[:, None], curve[:, 1].flip(-1), curve[:, 1])
    grid = torch.linspace(0.0, 1.0, n_points, device=points.device).expand(b, -1).contiguous()
    hi = torch.searchsorted(xs, grid).clamp_(1, xs.shape[1] - 1)
    x0, x1 = xs.gather(1, hi - 1), xs.gather(1, hi)
    y0, y1 = ys.gather(1, hi - 1), ys.gather(1, hi)
    span = x1 - x0
    w = torch.where(span > 0, (grid - x0) / span.clamp_min(1e-12), torch.zeros_like(span)).clamp_(0, 1)
    return torch.lerp(y0, y1, w).clamp_(0, 1)


def _nonlinear_kernel(x: Tensor, params: NonlinearParams) -> Tensor:
    # 1-D linear interpolation in each sample's table as a bilinear grid_sample: the table is
    # an image of two identical rows, so the row coordinate (set to the same value) has no effect
    b, n = x.shape[0], params.n_points
    table = _bezier_lookup(params.points, params.invert, n).view(b, 1, 1, n).expand(b, 1, 2, n)
    v = x.reshape(b, 1, -1, 1).float() * 2 - 1
    out = F.grid_sample(table, v.expand(-1, -1, -1, 2), mode="bilinear", padding_mode="border", align_corners=True)
    return out.clamp_(0, 1).reshape(x.shape).to(x.dtype)


def nonlinear(x: Tensor, params: NonlinearParams, *, validate: bool = True) -> Tensor:
    """Map every voxel of sample b through its Bezier curve (all channels alike).

    ``x``: (B, C, X, Y[, Z]) in [0, 1]; returns the same shape and dtype, in [0, 1].
    """
    if validate:
        check_batch(x, "non-linear intensity")
        check_params(x, params, "non-linear intensity")
    return apply_to_active(x, params, _nonlinear_kernel)
