"""Local pixel shuffling (Models Genesis) and patch-swapping context restoration (Chen et al. 2019).

Local pixel shuffling (Semantic Genesis Sec. 2 (3), Appendix B): ``n_blocks`` boxes per
sample, each of size U{1..max} per axis (published max: axis // 10, i.e. 1-6 x 1-6 x 1-3
for 64x64x32) at a uniform position; the voxels inside each box are permuted. As in the
published code every box reads the *original* image and the boxes write in order, so
where boxes overlap the last one wins; where they do not overlap, the multiset of values
inside every box is preserved exactly. Published counts: 5 boxes in the Semantic Genesis
loader, 10000 in Models Genesis. Vectorised: every box's voxels are enumerated on a
padded (max box) grid, permuted by an argsort of random keys, and written with one
scatter; the owning (last) box of each voxel is found with a ``scatter_reduce`` max.

Context restoration (Chen et al., "Self-supervised learning for medical image analysis
using image context restoration", MedIA 2019), the "patch-shuffling" baseline that the
paper's add-on experiments extend: ``n_swaps`` times, two non-overlapping patches of
``patch_size`` (default axis // 8) at random positions exchange their contents; the swaps
are applied one after the other to the current image, as in Chen et al. The multiset of
the image's values is preserved.
"""

from __future__ import annotations

import math
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
    check_batch,
    check_params,
    check_prob,
    draw_seed,
    randint_between,
    seeded_generator,
)

# bound on (samples x boxes x padded box voxels) handled at once: keeps 10000-box batches in memory
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True, eq=False)
class LocalShuffleParams(Params):
    """``corners``, ``sizes``: (B, K, D) int64 box start and size per axis;
    ``max_size``: the largest box size per axis (the padded grid); ``seed``: seeds the
    per-box permutations drawn at apply time."""

    corners: Tensor
    sizes: Tensor
    max_size: tuple[int, ...]
    seed: int


def sample_local_shuffle_params(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
    *,
    prob: float = 1.0,
    n_blocks: int = 5,
    max_block_size: Sequence[int] | None = None,
) -> LocalShuffleParams:
    """Draw ``n_blocks`` boxes per sample, sizes U{1..max_block_size} per axis (default
    axis // 10, as published), positions uniform over the whole patch."""
    what = "local shuffle"
    b, spatial = batch_shape(shape, what)
    check_prob(prob, "prob", what)
    if n_blocks < 0:
        raise CorruptionError(f"{what}: n_blocks must be >= 0, got {n_blocks}")
    if max_block_size is None:
        small = [length for length in spatial if length // 10 < 1]
        if small:
            raise CorruptionError(
                f"{what}: a patch {spatial} is too small for the published block sizes 1..axis//10 "
                f"(an axis of {small[0]} voxels); pass max_block_size"
            )
        max_size = tuple(length // 10 for length in spatial)
    else:
        max_size = tuple(int(s) for s in max_block_size)
        if len(max_size) != len(spatial) or any(not 1 <= s <= length for s, length in zip(max_size, spatial)):
            raise CorruptionError(
                f"{what}: max_block_size {max_size} must give one size per axis, each between 1 and "
                f"the patch size {spatial}"
            )
    gdev = generator.device
    active = active_mask(generator, b, prob)
    top = torch.tensor(max_size, device=gdev).expand(b, n_blocks, -1)
    sizes = randint_between(generator, torch.ones_like(top), top)
    corners = randint_between(generator, torch.zeros_like(sizes), torch.tensor(spatial, device=gdev) - sizes)
    seed = draw_seed(generator)
    device = device or gdev
    return LocalShuffleParams(active.to(device), spatial, corners.to(device), sizes.to(device), max_size, seed)


def _box_offsets(size: tuple[int, ...], strides: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    """(P, D) offsets of every voxel of a ``size`` box in C order, and their (P,) linear offsets."""
    grids = torch.meshgrid(*[torch.arange(s, device=device) for s in size], indexing="ij")
    offsets = torch.stack([g.reshape(-1) for g in grids], dim=1)
    return offsets, offsets @ strides


def _strides(spatial: tuple[int, ...], device: torch.device) -> Tensor:
    return torch.tensor([math.prod(spatial[d + 1 :]) for d in range(len(spatial))], device=device)


def _shuffle_chunk(x: Tensor, corners: Tensor, sizes: Tensor, max_size: tuple[int, ...], g: torch.Generator) -> Tensor:
    b, c = x.shape[:2]
    spatial = tuple(x.shape[2:])
    n_vox = math.prod(spatial)
    k = corners.shape[1]
    strides = _strides(spatial, x.device)
    offsets, offset_lin = _box_offsets(max_size, strides, x.device)  # (P, D), (P,)
    valid = (offsets[None, None] < sizes[:, :, None, :]).all(-1)  # (b, K, P)
    keys = torch.rand(valid.shape, generator=g, device=x.device).masked_fill_(~valid, 2.0)
    perm = keys.argsort(dim=-1)  # valid slots in random order first
    rank = (valid.cumsum(-1) - 1).clamp_(min=0)  # the i-th valid slot (C order) takes the i-th random slot
    source_slot = perm.gather(-1, rank)
    base = corners @ strides  # (b, K)
    source = base[..., None] + offset_lin[source_slot]
    target = torch.where(valid, base[..., None] + offset_lin, n_vox)  # invalid slots write to a spare voxel
    block = torch.arange(k, device=x.device, dtype=torch.int32).view(1, k, 1).expand_as(target).reshape(b, -1)
    target = target.reshape(b, -1)
    owner = torch.full((b, n_vox + 1), -1, dtype=torch.int32, device=x.device)
    owner.scatter_reduce_(1, target, block, reduce="amax")
    target = torch.where(owner.gather(1, target) == block, target, n_vox)  # the last box covering a voxel wins
    flat = x.reshape(b, c, n_vox)
    values = flat.gather(2, source.reshape(b, 1, -1).expand(b, c, -1))
    out = torch.cat([flat, flat.new_zeros(b, c, 1)], dim=2)
    out.scatter_(2, target.view(b, 1, -1).expand(b, c, -1), values)
    return out[..., :n_vox].reshape(x.shape)


def _local_shuffle_kernel(x: Tensor, params: LocalShuffleParams) -> Tensor:
    b, k = params.corners.shape[:2]
    if k == 0:
        return x
    g = seeded_generator(params.seed, x.device)
    per_sample = k * math.prod(params.max_size)
    step = max(1, _CHUNK_ELEMENTS // per_sample)
    parts = [
        _shuffle_chunk(x[i : i + step], params.corners[i : i + step], params.sizes[i : i + step], params.max_size, g)
        for i in range(0, b, step)
    ]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def local_shuffle(x: Tensor, params: LocalShuffleParams, *, validate: bool = True) -> Tensor:
    """Permute the voxels inside each box (all channels alike); (B, C, X, Y[, Z]) in [0, 1],
    same shape, dtype and value range out."""
    if validate:
        check_batch(x, "local shuffle")
        check_params(x, params, "local shuffle")
    return apply_to_active(x, params, _local_shuffle_kernel)


@dataclass(frozen=True, eq=False)
class ContextRestorationParams(Params):
    """``first``, ``second``: (B, T, D) int64 corners of the two patches of each swap;
    ``swap_on``: (B, T) bool (False where no non-overlapping pair was found);
    ``patch_size``: the patch size per axis."""

    first: Tensor
    second: Tensor
    swap_on: Tensor
    patch_size: tuple[int, ...]


def sample_context_restoration_params(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
    *,
    prob: float = 1.0,
    n_swaps: int = 20,
    patch_size: Sequence[int] | None = None,
    tries: int = 16,
) -> ContextRestorationParams:
    """Draw ``n_swaps`` pairs of non-overlapping patches per sample (patch size default
    axis // 8, i.e. 8x8x4 for 64x64x32; second patch by rejection, ``tries`` candidates)."""
    what = "context restoration"
    b, spatial = batch_shape(shape, what)
    check_prob(prob, "prob", what)
    if n_swaps < 0:
        raise CorruptionError(f"{what}: n_swaps must be >= 0, got {n_swaps}")
    size = tuple(max(1, length // 8) for length in spatial) if patch_size is None else tuple(int(s) for s in patch_size)
    if len(size) != len(spatial) or min(size) < 1 or any(s > length for s, length in zip(size, spatial)):
        raise CorruptionError(f"{what}: patch_size {size} must give one size per axis within the patch {spatial}")
    if all(2 * s > length for s, length in zip(size, spatial)):
        raise CorruptionError(f"{what}: a patch {spatial} is too small to hold two non-overlapping {size} patches")
    gdev = generator.device
    active = active_mask(generator, b, prob)
    room = torch.tensor(spatial, device=gdev) - torch.tensor(size, device=gdev)
    first = randint_between(
        generator, torch.zeros(b, n_swaps, len(spatial), dtype=torch.long, device=gdev), room.expand(b, n_swaps, -1)
    )
    candidates = randint_between(
        generator,
        torch.zeros(b, n_swaps, tries, len(spatial), dtype=torch.long, device=gdev),
        room.expand(b, n_swaps, tries, -1),
    )
    apart = ((candidates - first[:, :, None]).abs() >= torch.tensor(size, device=gdev)).any(-1)  # (B, T, tries)
    pick = apart.int().argmax(-1)  # first non-overlapping candidate
    second = candidates.gather(2, pick[..., None, None].expand(-1, -1, 1, len(spatial))).squeeze(2)
    swap_on = apart.any(-1)
    device = device or gdev
    return ContextRestorationParams(
        active.to(device), spatial, first.to(device), second.to(device), swap_on.to(device), size
    )


def _context_kernel(x: Tensor, params: ContextRestorationParams) -> Tensor:
    b, c = x.shape[:2]
    spatial = tuple(x.shape[2:])
    strides = _strides(spatial, x.device)
    _, offset_lin = _box_offsets(params.patch_size, strides, x.device)
    first = (params.first @ strides)[..., None] + offset_lin  # (b, T, P)
    second = torch.where(params.swap_on[..., None], (params.second @ strides)[..., None] + offset_lin, first)
    out = x.reshape(b, c, -1).clone()
    for t in range(first.shape[1]):
        ia = first[:, None, t].expand(b, c, -1)
        ib = second[:, None, t].expand(b, c, -1)
        va, vb = out.gather(2, ia), out.gather(2, ib)
        out.scatter_(2, ia, vb)
        out.scatter_(2, ib, va)
    return out.reshape(x.shape)


def context_restoration(x: Tensor, params: ContextRestorationParams, *, validate: bool = True) -> Tensor:
    """Swap the patch pairs in order (all channels alike); (B, C, X, Y[, Z]) in [0, 1],
    same shape, dtype and multiset of values out."""
    if validate:
        check_batch(x, "context restoration")
        check_params(x, params, "context restoration")
    return apply_to_active(x, params, _context_kernel)
