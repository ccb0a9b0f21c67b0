from __future__ import annotations

import numpy as np
import pytest

from semgen.discovery.neighbors import nearest
from semgen.discovery.placement import body_box, clamp_starts, multires_boxes, place, to_fraction


def test_body_box_bounds_the_mask() -> None:
    mask = np.zeros((10, 12, 8), dtype=np.uint8)
    mask[2:7, 3:11, 1:5] = 1
    np.testing.assert_array_equal(body_box(mask), [[2, 3, 1], [7, 11, 5]])
    np.testing.assert_array_equal(body_box(np.zeros((4, 5), dtype=np.uint8)), [[0, 0], [4, 5]])


def test_body_placement_follows_the_body() -> None:
    # the reference's body spans [10, 30) x [10, 30) x [4, 12); a neighbour's body is twice as
    # large and shifted: the crop centre lands at the same fractions of it
    ref_box = np.array([[10, 10, 4], [30, 30, 12]])
    boxes = np.array([[[10, 10, 4], [30, 30, 12]], [[30, 20, 10], [70, 60, 26]]])
    shapes = np.array([[40, 40, 16], [100, 80, 40]])
    size = (4, 4, 2)
    start = np.array([13, 24, 6])  # centre (15, 26, 7) = fractions (0.25, 0.8, 0.375)
    starts = place(start, ref_box, boxes, shapes, size, "body")
    np.testing.assert_array_equal(starts[0], start)
    centre = starts[1] + np.array(size) / 2
    np.testing.assert_allclose(to_fraction(centre, boxes[1]), to_fraction(start + np.array(size) / 2, ref_box), atol=0.5 / 16)


def test_voxel_placement_keeps_indices_and_crops_stay_inside() -> None:
    shapes = np.array([[40, 40, 16], [20, 20, 10]])
    starts = place(np.array([18, 18, 8]), np.array([[0, 0, 0], [40, 40, 16]]), np.zeros((2, 2, 3)), shapes, (8, 8, 4), "voxel")
    np.testing.assert_array_equal(starts, [[18, 18, 8], [12, 12, 6]])  # shifted inside the smaller scan
    np.testing.assert_array_equal(clamp_starts(np.array([[-3, 5]]), np.array([[4, 4]]), np.array([[10, 6]])), [[0, 2]])


def test_multires_boxes_follow_the_published_ranges() -> None:
    native = np.array([[30, 30, 10], [0, 0, 0]])
    shapes = np.array([[200, 200, 60], [100, 100, 40]])
    starts, sizes = multires_boxes(native, shapes, (64, 64, 32), 2, (0.78, 1.25), 10, np.random.default_rng(0))
    assert starts.shape == sizes.shape == (2, 2, 3)
    assert ((sizes[..., 0] >= 50) & (sizes[..., 0] <= 79)).all()
    np.testing.assert_array_equal(sizes[..., 0], sizes[..., 1])
    assert (sizes[..., 2] == 32).all() and (starts[..., 2] == native[:, None, 2]).all()
    offsets = starts[0, :, :2] - native[0, :2]
    assert ((offsets >= -10) & (offsets < 10)).all()
    assert (starts >= 0).all() and (starts + sizes <= shapes[:, None, :]).all()
    again = multires_boxes(native, shapes, (64, 64, 32), 2, (0.78, 1.25), 10, np.random.default_rng(0))
    np.testing.assert_array_equal(again[0], starts)


def test_nearest_matches_brute_force_and_finds_itself() -> None:
    rng = np.random.default_rng(3)
    pool = rng.normal(size=(50, 7))
    queries = pool[[4, 17, 33]]
    idx, dist = nearest(queries, pool, k=6, chunk=2)
    want = np.argsort(np.linalg.norm(queries[:, None] - pool[None], axis=2), axis=1, kind="stable")[:, :6]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(idx[:, 0], [4, 17, 33])
    assert dist[:, 0] == pytest.approx(0.0)
    assert (np.diff(dist, axis=1) >= 0).all()
    assert nearest(queries, pool, k=100)[0].shape == (3, 50)
