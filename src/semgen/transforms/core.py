"""What every corruption shares: parameter containers, input checks, sampling helpers.

A corruption is a pair: ``sample_<name>_params(shape, generator, device=None, **ranges)``
draws a :class:`Params` (tensors with a leading batch dimension, one independent draw
per sample) and ``<name>(x, params)`` applies it, a pure function of the batch and the
parameters. Batches are (B, C, X, Y) or (B, C, X, Y, Z), float, intensities in [0, 1].
Every ``Params`` has ``active`` (B,) bool: samples whose entry is False come back
unchanged, which is the probability / strength knob (``prob=0`` gives the identity).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor

P = TypeVar("P", bound="Params")


class CorruptionError(ValueError):
    """A batch, a parameter set or a requested size that a corruption cannot work with."""


@dataclass(frozen=True, eq=False)
class Params:
    """Base of every parameter set.

    ``active``: (B,) bool, which samples the corruption changes.
    ``spatial``: the spatial shape (X, Y[, Z]) the parameters were drawn for.
    Every other tensor field has the batch as its leading dimension.
    """

    active: Tensor
    spatial: tuple[int, ...]

    @property
    def batch_size(self) -> int:
        return int(self.active.shape[0])

    def _tensor_fields(self) -> dict[str, Tensor]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), Tensor)
        }

    def select(self: P, index: Tensor) -> P:
        """The parameters of the samples ``index`` (a 1-D long tensor), in that order."""
        return dataclasses.replace(self, **{k: v[index] for k, v in self._tensor_fields().items()})

    def to(self: P, device: torch.device | str) -> P:
        """The same parameters with every tensor on ``device``."""
        return dataclasses.replace(self, **{k: v.to(device) for k, v in self._tensor_fields().items()})

    def restrict(self: P, mask: Tensor) -> P:
        """The same parameters with ``active`` and-ed with ``mask`` ((B,) bool)."""
        return dataclasses.replace(self, active=self.active & mask.to(self.active.device))


def check_batch(x: Tensor, what: str) -> int:
    """Check a batch once, cheaply (one reduction); return its number of spatial dims (2 or 3).

    Raises :class:`CorruptionError` for a non-tensor, a wrong number of dimensions, a
    non-float dtype, an empty batch, NaN/inf values or values outside [0, 1].
    """
    if not isinstance(x, Tensor):
        raise CorruptionError(f"{what}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim not in (4, 5):
        raise CorruptionError(
            f"{what}: expected a batch shaped (B, C, X, Y) or (B, C, X, Y, Z), got {x.ndim} dimensions {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise CorruptionError(f"{what}: expected a floating-point tensor, got {x.dtype}")
    if x.numel() == 0:
        raise CorruptionError(f"{what}: empty batch {tuple(x.shape)}")
    lo, hi = torch.stack(torch.aminmax(x)).float().tolist()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise CorruptionError(f"{what}: the batch contains non-finite values (NaN or inf)")
    if lo < 0.0 or hi > 1.0:
        raise CorruptionError(
            f"{what}: intensities must lie in [0, 1] (normalise first, e.g. semgen.io.normalize_intensity); "
            f"got values in [{lo:.4g}, {hi:.4g}]"
        )
    return x.ndim - 2


def check_params(x: Tensor, params: Params, what: str) -> None:
    """Check that ``params`` were drawn for a batch of ``x``'s batch size and spatial shape."""
    if params.batch_size != x.shape[0] or tuple(params.spatial) != tuple(x.shape[2:]):
        raise CorruptionError(
            f"{what}: parameters drawn for batch {params.batch_size} x {tuple(params.spatial)} "
            f"do not fit a batch shaped {tuple(x.shape)}"
        )


def batch_shape(shape: Sequence[int], what: str) -> tuple[int, tuple[int, ...]]:
    """Split (B, C, X, Y[, Z]) into (B, spatial shape), with a clear error for other shapes."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (4, 5) or min(shape) < 1:
        raise CorruptionError(f"{what}: expected a batch shape (B, C, X, Y) or (B, C, X, Y, Z), got {shape}")
    return shape[0], shape[2:]


def check_prob(value: float, name: str, what: str) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise CorruptionError(f"{what}: {name} must be a probability in [0, 1], got {value}")


def uniform(generator: torch.Generator, *size: int) -> Tensor:
    """U(0, 1) float32 draws on the generator's device."""
    return torch.rand(size, generator=generator, device=generator.device)


def randint_between(generator: torch.Generator, low: Tensor, high: Tensor) -> Tensor:
    """Integers uniform in [low, high] (inclusive, elementwise; int64 tensors of one shape)."""
    u = torch.rand(low.shape, generator=generator, device=generator.device, dtype=torch.float64)
    return low + torch.minimum((u * (high - low + 1).double()).long(), high - low)


def active_mask(generator: torch.Generator, batch: int, prob: float) -> Tensor:
    """(B,) bool, each True with probability ``prob`` (one draw per sample, always consumed)."""
    return uniform(generator, batch) < prob


def draw_seed(generator: torch.Generator) -> int:
    """A seed for noise generated at apply time (keeps large noise tensors out of parameters)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def apply_to_active(x: Tensor, params: P, kernel: Callable[[Tensor, P], Tensor]) -> Tensor:
    """Run ``kernel`` on the active samples only; the others come back unchanged.

    Returns ``x`` itself when no sample is active (callers must not modify outputs in place).
    """
    params = params.to(x.device) if params.active.device != x.device else params
    index = params.active.nonzero().squeeze(1)
    n = index.numel()
    if n == 0:
        return x
    if n == x.shape[0]:
        return kernel(x, params)
    out = x.clone()
    out[index] = kernel(x[index], params.select(index))
    return out


def box_mask(corners: Tensor, sizes: Tensor, on: Tensor, spatial: tuple[int, ...]) -> Tensor:
    """(B, *spatial) bool: the union of the boxes [corner, corner + size) whose ``on`` is True.

    ``corners``, ``sizes``: (B, K, D) int64; ``on``: (B, K) bool.
    """
    n = len(spatial)
    mask = on.view(*on.shape, *([1] * n))
    for d, length in enumerate(spatial):
        r = torch.arange(length, device=corners.device)
        inside = (r >= corners[..., d, None]) & (r < (corners[..., d] + sizes[..., d])[..., None])
        shape = [1] * n
        shape[d] = length
        mask = mask & inside.view(*inside.shape[:2], *shape)
    return mask.any(dim=1)


def float_work(x: Tensor) -> Tensor:
    """``x`` in a dtype the kernels compute in: float32 for half/bfloat16, else unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
