from __future__ import annotations

import numpy as np
import pytest

from semgen.discovery.acceptance import AcceptanceRule, at_least, box_sums, lung_weight


def lung_fraction_loop(volume: np.ndarray, start, size, threshold: float) -> float:
    """The published per-voxel loop (pattern_generator_3D.py): first dense slice k of d..d+2
    weighs 1 - k/2; slices past the end repeat the last one."""
    x, y, z = start
    sx, sy, sz = size
    total = 0.0
    for i in range(sx):
        for j in range(sy):
            for d in range(sz):
                for k in range(3):
                    zz = min(z + d + k, volume.shape[2] - 1)
                    if volume[x + i, y + j, zz] >= threshold:
                        total += 1 - k / 2
                        break
    return total / (sx * sy * sz)


def test_lung_rule_equals_the_published_loop() -> None:
    rng = np.random.default_rng(0)
    volume = rng.random((12, 10, 9)).astype(np.float32)
    size = (5, 4, 3)
    starts = np.array([[0, 0, 0], [7, 6, 6], [3, 2, 4], [7, 0, 5], [1, 6, 2]])
    rule = AcceptanceRule("lung", lung_threshold=0.425)
    got = rule.statistics(volume, np.ones_like(volume), starts, size)["dense_fraction"]
    want = [lung_fraction_loop(volume, s, size, 0.425) for s in starts]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_lung_rule_accepts_air_and_rejects_tissue() -> None:
    volume = np.full((20, 20, 10), 0.1, dtype=np.float32)  # aerated lung (HU -800)
    volume[10:] = 0.55  # soft tissue
    rule = AcceptanceRule("lung", lung_max_dense=0.15)
    accepted = rule.accept(volume, np.ones_like(volume), np.array([[0, 0, 0], [10, 0, 0], [3, 0, 0]]), (8, 8, 4))
    # the third crop has 1 of 8 columns dense (12.5 %) -> still mostly lung
    assert accepted.tolist() == [True, False, True]


def test_lung_weight_doubled_integers() -> None:
    image = np.array([[0.1, 0.5], [0.425, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(lung_weight(image), [[0, 2], [2, 0]])  # 2D: dense or not
    column = np.array([0.1, 0.5, 0.2, 0.1, 0.9], dtype=np.float16)[None, None, :]
    np.testing.assert_array_equal(lung_weight(column)[0, 0], [1, 2, 0, 1, 2])


@pytest.mark.parametrize("shape,size", [((9, 8), (3, 5)), ((7, 6, 5), (2, 3, 4))])
def test_box_sums_equal_direct_sums(shape, size) -> None:
    rng = np.random.default_rng(1)
    field = rng.random(shape)
    upper = np.array(shape) - np.array(size) + 1
    starts = rng.integers(0, upper, size=(20, len(shape)))
    want = [field[tuple(slice(a, a + n) for a, n in zip(s, size))].sum() for s in starts]
    np.testing.assert_allclose(box_sums(field, starts, size), want, rtol=1e-12)


def test_generic_statistics_equal_numpy() -> None:
    rng = np.random.default_rng(2)
    image = rng.random((10, 9, 8)).astype(np.float16)
    mask = (rng.random((10, 9, 8)) > 0.3).astype(np.uint8)
    starts = np.array([[0, 0, 0], [6, 5, 4], [2, 3, 1]])
    size = (4, 4, 4)
    stats = AcceptanceRule("generic").statistics(image, mask, starts, size)
    for i, s in enumerate(starts):
        window = tuple(slice(a, a + n) for a, n in zip(s, size))
        assert stats["foreground"][i] == pytest.approx(mask[window].mean())
        assert stats["std"][i] == pytest.approx(image[window].astype(np.float64).std(), abs=1e-9)


def test_generic_rule_thresholds() -> None:
    image = np.zeros((16, 16), dtype=np.float32)
    image[8:, 8:] = np.indices((8, 8)).sum(axis=0) / 14.0  # textured quadrant
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[8:, :] = 1
    rule = AcceptanceRule("generic", min_foreground=0.5, min_std=0.05)
    starts = np.array([[8, 8], [8, 0], [0, 8]])  # textured body, flat body, outside the body
    assert rule.accept(image, mask, starts, (8, 8)).tolist() == [True, False, False]
    assert AcceptanceRule("none").accept(image, mask, starts, (8, 8)).all()


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown acceptance rule"):
        AcceptanceRule("lungs")


@pytest.mark.parametrize("threshold", [0.425, 0.25, 1e-5, 0.0, -0.5])
def test_float16_comparison_equals_numpy(threshold) -> None:
    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    every = every[~np.isnan(every)]
    np.testing.assert_array_equal(at_least(every, threshold), every >= threshold)
