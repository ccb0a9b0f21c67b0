from __future__ import annotations

from math import comb

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, map_coordinates

from semgen.transforms import (
    CorruptionError,
    LocalShuffleParams,
    context_restoration,
    elastic,
    flip,
    inpaint,
    local_shuffle,
    nonlinear,
    outpaint,
    sample_context_restoration_params,
    sample_elastic_params,
    sample_flip_params,
    sample_inpaint_params,
    sample_local_shuffle_params,
    sample_nonlinear_params,
    sample_outpaint_params,
)
from semgen.transforms.spatial import displacement_field, smooth_noise

SHAPES = {"3d": (3, 2, 32, 32, 16), "2d": (3, 2, 32, 32)}

# name -> (sampler, apply, extra sampler options that make every sample change visibly)
CORRUPTIONS = {
    "elastic": (sample_elastic_params, elastic, {}),
    "flip": (sample_flip_params, flip, {"prob": 1.0, "axes": (0, 1), "max_flips": 1}),
    "local_shuffle": (sample_local_shuffle_params, local_shuffle, {"n_blocks": 50}),
    "nonlinear": (sample_nonlinear_params, nonlinear, {}),
    "inpaint": (sample_inpaint_params, inpaint, {}),
    "outpaint": (sample_outpaint_params, outpaint, {}),
    "context_restoration": (sample_context_restoration_params, context_restoration, {}),
}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(shape, seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(shape, generator=gen(seed)).to(dtype)


@pytest.fixture(params=sorted(CORRUPTIONS))
def corruption(request):
    return CORRUPTIONS[request.param]


@pytest.mark.parametrize("dims", sorted(SHAPES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_shape_dtype_range_kept(corruption, dims, dtype) -> None:
    sample, apply, opts = corruption
    x = batch(SHAPES[dims], dtype=dtype)
    y = apply(x, sample(x.shape, gen(), **opts))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert not torch.equal(y, x)


@pytest.mark.parametrize("dims", sorted(SHAPES))
def test_same_generator_state_same_output(corruption, dims) -> None:
    sample, apply, opts = corruption
    x = batch(SHAPES[dims])
    first = apply(x, sample(x.shape, gen(7), **opts))
    second = apply(x, sample(x.shape, gen(7), **opts))
    params = sample(x.shape, gen(7), **opts)
    assert torch.equal(first, second)
    assert torch.equal(apply(x, params), apply(x, params))
    assert not torch.equal(first, apply(x, sample(x.shape, gen(8), **opts)))


@pytest.mark.parametrize("dims", sorted(SHAPES))
def test_prob_zero_is_identity(corruption, dims) -> None:
    sample, apply, opts = corruption
    x = batch(SHAPES[dims])
    assert torch.equal(apply(x, sample(x.shape, gen(), **{**opts, "prob": 0.0})), x)


def test_independent_parameters_per_sample(corruption) -> None:
    sample, apply, opts = corruption
    one = batch((1, 1, 32, 32, 16))
    x = one.expand(4, -1, -1, -1, -1).contiguous()
    y = apply(x, sample(x.shape, gen(3), **opts))
    assert len({y[i].numpy().tobytes() for i in range(4)}) > 1


def test_inactive_samples_untouched_active_ones_match_full_batch() -> None:
    x = batch(SHAPES["3d"])
    params = sample_nonlinear_params(x.shape, gen(2))
    mask = torch.tensor([True, False, True])
    y = nonlinear(x, params.restrict(mask))
    assert torch.equal(y[1], x[1])
    assert torch.allclose(y[[0, 2]], nonlinear(x, params)[[0, 2]])


def test_strength_zero_identity_knobs() -> None:
    x = batch(SHAPES["3d"])
    assert torch.allclose(elastic(x, sample_elastic_params(x.shape, gen(), alpha=0.0)), x, atol=1e-6)
    assert torch.equal(local_shuffle(x, sample_local_shuffle_params(x.shape, gen(), n_blocks=0)), x)
    assert torch.equal(context_restoration(x, sample_context_restoration_params(x.shape, gen(), n_swaps=0)), x)
    assert torch.equal(inpaint(x, sample_inpaint_params(x.shape, gen(), min_boxes=0, max_boxes=0)), x)


# ---------------------------------------------------------------- local shuffle


def test_local_shuffle_preserves_each_block_multiset_and_outside() -> None:
    x = batch((2, 2, 32, 32, 16))
    corners = torch.tensor([[[0, 0, 0], [10, 4, 2], [20, 20, 10]], [[1, 1, 1], [5, 25, 7], [28, 0, 12]]])
    sizes = torch.tensor([[[6, 6, 3], [3, 5, 2], [4, 4, 4]], [[2, 3, 1], [6, 6, 3], [4, 2, 3]]])
    params = LocalShuffleParams(torch.ones(2, dtype=torch.bool), (32, 32, 16), corners, sizes, (6, 6, 4), seed=5)
    y = local_shuffle(x, params)
    inside = torch.zeros(2, 32, 32, 16, dtype=torch.bool)
    for b in range(2):
        for (cx, cy, cz), (sx, sy, sz) in zip(corners[b].tolist(), sizes[b].tolist()):
            box = (b, slice(None), slice(cx, cx + sx), slice(cy, cy + sy), slice(cz, cz + sz))
            inside[b, cx : cx + sx, cy : cy + sy, cz : cz + sz] = True
            for ch in range(2):
                before, after = x[box][ch].flatten().sort().values, y[box][ch].flatten().sort().values
                assert torch.equal(before, after)
            # all channels get the same permutation: the (ch0, ch1) pairs are preserved too
            pairs_before = sorted(map(tuple, x[box].reshape(2, -1).T.tolist()))
            assert pairs_before == sorted(map(tuple, y[box].reshape(2, -1).T.tolist()))
    assert torch.equal(y.permute(0, 2, 3, 4, 1)[~inside], x.permute(0, 2, 3, 4, 1)[~inside])
    assert not torch.equal(y, x)


def test_local_shuffle_overlapping_blocks_last_block_wins_from_original() -> None:
    x = batch((1, 1, 20, 20, 10), seed=4)
    params = sample_local_shuffle_params(x.shape, gen(9), n_blocks=40, max_block_size=(4, 4, 3))
    y = local_shuffle(x, params)
    owner = -np.ones((20, 20, 10), dtype=int)
    for k, ((cx, cy, cz), (sx, sy, sz)) in enumerate(zip(params.corners[0].tolist(), params.sizes[0].tolist())):
        owner[cx : cx + sx, cy : cy + sy, cz : cz + sz] = k
    xn, yn = x[0, 0].numpy(), y[0, 0].numpy()
    assert np.array_equal(yn[owner < 0], xn[owner < 0])
    for k, ((cx, cy, cz), (sx, sy, sz)) in enumerate(zip(params.corners[0].tolist(), params.sizes[0].tolist())):
        values = set(xn[cx : cx + sx, cy : cy + sy, cz : cz + sz].ravel().tolist())
        assert set(yn[owner == k].tolist()) <= values


def test_local_shuffle_published_block_sizes() -> None:
    params = sample_local_shuffle_params((4, 1, 64, 64, 32), gen(), n_blocks=500)
    sizes = params.sizes.reshape(-1, 3)
    assert sizes.min(0).values.tolist() == [1, 1, 1] and sizes.max(0).values.tolist() == [6, 6, 3]
    assert ((params.corners + params.sizes) <= torch.tensor([64, 64, 32])).all() and (params.corners >= 0).all()


# ---------------------------------------------------------------- context restoration


def test_context_restoration_swaps_non_overlapping_patches_keeping_values() -> None:
    x = batch(SHAPES["3d"])
    params = sample_context_restoration_params(x.shape, gen(), n_swaps=10)
    y = context_restoration(x, params)
    assert torch.equal(x.flatten(1).sort(1).values, y.flatten(1).sort(1).values)
    size = torch.tensor(params.patch_size)
    apart = ((params.first - params.second).abs() >= size).any(-1)
    assert torch.equal(apart, params.swap_on) and params.swap_on.all()
    one = context_restoration(x, sample_context_restoration_params(x.shape, gen(), n_swaps=1))
    changed = (one != x).any(1)
    assert changed.flatten(1).sum(1).max() <= 2 * size.prod()


# ---------------------------------------------------------------- painting


def test_inpaint_changes_only_inside_boxes_and_outpaint_keeps_boxes() -> None:
    x = batch((4, 1, 64, 64, 32))
    p = sample_inpaint_params(x.shape, gen(), min_boxes=1, max_boxes=3)
    q = sample_outpaint_params(x.shape, gen(), min_boxes=1, max_boxes=3)
    yin, yout = inpaint(x, p), outpaint(x, q)
    for b in range(4):
        inside_in = torch.zeros(64, 64, 32, dtype=torch.bool)
        inside_out = torch.zeros(64, 64, 32, dtype=torch.bool)
        for k in range(3):
            if p.box_on[b, k]:
                (cx, cy, cz), (sx, sy, sz) = p.corners[b, k].tolist(), p.sizes[b, k].tolist()
                inside_in[cx : cx + sx, cy : cy + sy, cz : cz + sz] = True
            if q.box_on[b, k]:
                (cx, cy, cz), (sx, sy, sz) = q.corners[b, k].tolist(), q.sizes[b, k].tolist()
                inside_out[cx : cx + sx, cy : cy + sy, cz : cz + sz] = True
        assert torch.equal(yin[b, 0][~inside_in], x[b, 0][~inside_in])
        assert (yin[b, 0][inside_in] != x[b, 0][inside_in]).float().mean() > 0.99
        assert torch.equal(yout[b, 0][inside_out], x[b, 0][inside_out])
        assert (yout[b, 0][~inside_out] != x[b, 0][~inside_out]).float().mean() > 0.99


def test_published_box_ranges() -> None:
    shape = (200, 1, 64, 64, 32)
    p = sample_inpaint_params(shape, gen())
    q = sample_outpaint_params(shape, gen())
    assert p.box_on.all() and q.box_on.all()
    assert p.sizes.reshape(-1, 3).min(0).values.tolist() == [10, 10, 5]
    assert p.sizes.reshape(-1, 3).max(0).values.tolist() == [21, 21, 10]
    assert q.sizes.reshape(-1, 3).min(0).values.tolist() == [28, 28, 14]
    assert q.sizes.reshape(-1, 3).max(0).values.tolist() == [37, 37, 19]
    for r in (p, q):
        assert (r.corners >= 3).all() and (r.corners + r.sizes <= torch.tensor([61, 61, 29])).all()
    mg = sample_inpaint_params(shape, gen(), min_boxes=0, max_boxes=5)
    counts = mg.box_on.sum(1)
    assert counts.min() >= 0 and counts.max() == 5 and (counts == 5).float().mean() > 0.6


# ---------------------------------------------------------------- non-linear


def _published_bezier(image: np.ndarray, points: np.ndarray, invert: bool) -> np.ndarray:
    xp = np.array([0, points[0, 0], points[1, 0], 1.0])
    yp = np.array([0, points[0, 1], points[1, 1], 1.0])
    t = np.linspace(0.0, 1.0, 100000)
    poly = np.array([comb(3, i) * t ** (3 - i) * (1 - t) ** i for i in range(4)])
    xvals, yvals = xp @ poly, yp @ poly
    xvals, yvals = (np.sort(xvals), yvals) if invert else (np.sort(xvals), np.sort(yvals))
    return np.interp(image, xvals, yvals)


def test_nonlinear_matches_published_bezier_and_monotonicity() -> None:
    x = batch((8, 1, 16, 16, 8))
    params = sample_nonlinear_params(x.shape, gen(11))
    y = nonlinear(x, params)
    assert params.invert.any() and (~params.invert).any()
    ramp = torch.linspace(0, 1, 257).view(1, 1, 257, 1).expand(8, 1, 257, 1).contiguous()
    mapped = nonlinear(ramp, sample_nonlinear_params(ramp.shape, gen(11)))[:, 0, :, 0]
    for b in range(8):
        ref = _published_bezier(x[b, 0].double().numpy(), params.points[b].double().numpy(), bool(params.invert[b]))
        assert np.abs(y[b, 0].numpy() - ref).max() < 2e-3
        steps = mapped[b].diff()
        assert (steps <= 1e-6).all() if params.invert[b] else (steps >= -1e-6).all()


# ---------------------------------------------------------------- elastic


def test_smoothing_equals_scipy_gaussian_filter() -> None:
    noise = torch.rand(2, 2, 20, 18, 9, generator=gen()) * 2 - 1
    ours = smooth_noise(noise, (20, 18, 9), 3.0, 1).numpy()
    ref = np.stack(
        [[gaussian_filter(noise[b, k].double().numpy(), 3.0, mode="constant") for k in range(2)] for b in range(2)]
    )
    assert np.abs(ours - ref).max() < 1e-6


@pytest.mark.parametrize("shape", [(2, 1, 24, 20, 9), (2, 2, 23, 20)])
@pytest.mark.parametrize("stride", [1, 4])
def test_elastic_equals_scipy_map_coordinates(shape, stride) -> None:
    x = batch(shape)
    params = sample_elastic_params(shape, gen(5), alpha=60.0, sigma=3.0, grid_stride=stride)
    d = displacement_field(params).numpy()
    y = elastic(x, params).numpy()
    grids = list(np.meshgrid(*[np.arange(s) for s in shape[2:]], indexing="ij"))
    assert np.abs(d).max() > 1.0
    for b in range(shape[0]):
        coords = [grids[0] + d[b, 0], grids[1] + d[b, 1], *grids[2:]]  # no z displacement
        for c in range(shape[1]):
            ref = map_coordinates(x[b, c].double().numpy(), coords, order=1, mode="reflect")
            assert np.abs(y[b, c] - ref).max() < 1e-5


def test_elastic_displacement_statistics_match_published() -> None:
    fine = displacement_field(sample_elastic_params((4, 1, 64, 64, 32), gen(), grid_stride=1)).abs()
    coarse = displacement_field(sample_elastic_params((4, 1, 64, 64, 32), gen(), grid_stride=4)).abs()
    flat = displacement_field(sample_elastic_params((4, 1, 64, 64), gen())).abs()
    for field in (fine, coarse, flat):
        assert 1.8 < field.mean() < 3.6 and 6 < field.amax(dim=(1, 2, 3, 4)[: field.ndim - 1]).mean() < 14
    assert abs(coarse.mean() / fine.mean() - 1) < 0.2


# ---------------------------------------------------------------- flips


def test_flip_parity_and_published_axes() -> None:
    shape = (400, 1, 8, 8, 4)
    params = sample_flip_params(shape, gen())
    assert not params.flip[:, 2].any()  # published: Z is never flipped
    flipped = params.flip[:, :2].any(1).float().mean()
    assert 0.2 < flipped < 0.4  # P(at least one effective flip) ~ 0.3
    x = batch((2, 1, 8, 8, 4))
    p = sample_flip_params(x.shape, gen(), prob=1.0, max_flips=1, axes=(1,))
    assert torch.equal(flip(x, p), x.flip(3))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(2, 32, 32), "dimensions"),
        (torch.rand(1, 1, 1, 32, 32, 16), "dimensions"),
        (torch.full((1, 1, 32, 32, 16), float("nan")), "non-finite"),
        (torch.full((1, 1, 32, 32, 16), float("inf")), "non-finite"),
        (torch.rand(1, 1, 32, 32, 16) * 1000, "[0, 1]"),
        (torch.randint(0, 2, (1, 1, 32, 32, 16)), "floating-point"),
    ],
)
def test_bad_input_raises_value_error(corruption, bad, message) -> None:
    sample, apply, opts = corruption
    shape = (1, 1, 32, 32, 16)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply(bad, sample(shape, gen(), **opts))


def test_params_for_another_shape_rejected() -> None:
    x = batch(SHAPES["3d"])
    with pytest.raises(ValueError, match="do not fit"):
        nonlinear(x, sample_nonlinear_params((2, 2, 32, 32, 16), gen()))


@pytest.mark.parametrize(
    "call",
    [
        lambda: sample_local_shuffle_params((1, 1, 32, 32, 8), gen()),
        lambda: sample_local_shuffle_params((1, 1, 32, 32, 8), gen(), max_block_size=(4, 4, 9)),
        lambda: sample_outpaint_params((1, 1, 32, 32, 8), gen()),
        lambda: sample_inpaint_params((1, 1, 6, 6), gen()),
        lambda: sample_context_restoration_params((1, 1, 4, 4), gen(), patch_size=(3, 3)),
        lambda: sample_nonlinear_params((1, 32, 32), gen()),
    ],
)
def test_patch_too_small_or_bad_shape_raises(call) -> None:
    with pytest.raises(CorruptionError, match="too small|must give|expected a batch shape"):
        call()
