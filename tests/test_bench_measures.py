"""What ``semgen bench discovery`` and the shared hardware helpers compute, checked against
known answers: the published per-voxel lung loop and the vectorised acceptance rule give the
same dense fraction; FLOPs counted for a matmul are 2 m n k; efficiency is achieved / peak."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semgen.bench.discovery import published_lung_fraction
from semgen.bench.hardware import count_flops, efficiency
from semgen.discovery import AcceptanceRule


def test_the_published_loop_and_the_vectorised_rule_agree():
    rng = np.random.default_rng(0)
    volume = rng.random((24, 22, 14)).astype(np.float32)  # dense and light voxels mixed, so weights 0, 1/2 and 1 occur
    mask = np.ones(volume.shape, dtype=bool)
    crop = (8, 6, 4)
    starts = np.array([[0, 0, 0], [5, 7, 3], [16, 16, 10]])  # the last one's slices run past the volume
    vectorised = AcceptanceRule("lung").statistics(volume, mask, starts, crop)["dense_fraction"]
    looped = [published_lung_fraction(volume, tuple(int(v) for v in s), crop) for s in starts]
    np.testing.assert_allclose(looped, vectorised, atol=1e-9)
    assert len(set(np.round(looped, 6))) == 3  # three different crops, three different fractions: not a constant


def test_count_flops_of_a_matmul_is_2mnk():
    a, b = torch.rand(6, 5), torch.rand(5, 7)
    assert count_flops(lambda: a @ b) == 2 * 6 * 5 * 7


def test_efficiency_is_achieved_over_peak():
    out = efficiency(flops_per_step=2_000_000_000, steps=3, seconds=2.0, peak_gflops=6.0)
    assert out == {"gflops": 3.0, "peak_fraction": 0.5}
    assert efficiency(10**9, 1, 1.0, 1.0)["peak_fraction"] == pytest.approx(1.0)
