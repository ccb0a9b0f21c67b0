from __future__ import annotations

import numpy as np
import pytest

from semgen.phantoms.geometry import Frame, Grid, catmull_rom, render_tubes
from semgen.phantoms.trees import companion, grow_tree


def test_tube_volume_matches_cylinder_and_sphere() -> None:
    grid = Grid((48, 48, 48), (1.0, 1.0, 1.0))
    r, length = 6.0, 30.0
    f = render_tubes(grid, [[-length / 2, 0, 0]], [[length / 2, 0, 0]], [r])
    capsule = np.pi * r**2 * length + 4 / 3 * np.pi * r**3
    assert f.sum() == pytest.approx(capsule, rel=0.05)
    assert f.max() == 1.0 and f.min() == 0.0
    sphere = render_tubes(grid, [[3.0, -2.0, 1.0]], [[3.0, -2.0, 1.0]], [8.0])
    assert sphere.sum() == pytest.approx(4 / 3 * np.pi * 8.0**3, rel=0.05)
    # the centre voxel of the sphere is inside it, a voxel 12 mm away is not
    centre = tuple(np.rint(grid.to_index([3.0, -2.0, 1.0])).astype(int))
    assert sphere[centre] == 1.0
    assert sphere[centre[0] + 12, centre[1], centre[2]] == 0.0


def test_tubes_combine_by_maximum_and_thin_ones_fade() -> None:
    grid = Grid((32, 32, 16), (2.0, 2.0, 4.0))
    two = render_tubes(grid, [[-20, 0, 0], [0, -20, 0]], [[20, 0, 0], [0, 20, 0]], [4.0, 4.0])
    assert two.max() <= 1.0
    one = render_tubes(grid, [[-20, 0, 0]], [[20, 0, 0]], [4.0])
    assert np.all(two >= one)
    thin = render_tubes(grid, [[-20, 1, 2]], [[20, 1, 2]], [0.4])  # along a row of voxel centres
    assert 0 < thin.max() < 0.5  # a 0.8 mm vessel in 2 mm voxels: partial volume only


def test_frame_body_coordinates_invert_to_scanner() -> None:
    grid = Grid((10, 12, 8), (2.0, 2.5, 5.0))
    frame = Frame.from_angles(4.0, -2.0, 1.5, np.array([3.0, -7.0, 11.0]))
    bx, by, bz = frame.body_coordinates(grid)
    idx = (3, 7, 5)
    body = np.array([bx[idx], by[idx], bz[idx]])
    assert np.allclose(frame.to_scanner(body), grid.voxel_to_mm(np.array(idx)), atol=1e-3)
    assert np.allclose(frame.rotation @ frame.rotation.T, np.eye(3))


def test_catmull_rom_passes_through_control_points() -> None:
    pts = np.array([[0.0, 0, 0], [10, 5, 0], [20, 0, 5], [30, 10, 10]])
    curve = catmull_rom(pts, samples_per_span=5)
    assert len(curve) == 3 * 5 + 1
    assert np.allclose(curve[::5], pts)


def _grow(seed: int):
    def inside(p: np.ndarray) -> np.ndarray:
        return np.linalg.norm(p, axis=1) < 60.0

    rng = np.random.default_rng(seed)
    starts = np.zeros((2, 3))
    ends = np.array([[15.0, 0, 0], [-15.0, 0, 0]])
    return grow_tree(rng, starts, ends, np.array([4.0, 4.0]), inside, origins=starts, min_radius=0.8)


def test_tree_obeys_murray_law_and_stays_inside() -> None:
    tree = _grow(0)
    assert len(tree) > 20
    children = tree.parent >= 0
    assert np.all(np.linalg.norm(tree.p1[children], axis=1) < 60.0)
    assert tree.r0[children].min() >= 0.8
    # each parent's two children: r1^3 + r2^3 = r^3
    for parent in np.flatnonzero(np.bincount(tree.parent[children], minlength=len(tree)) == 2)[:10]:
        kids = np.flatnonzero(tree.parent == parent)
        assert (tree.r0[kids] ** 3).sum() == pytest.approx(tree.r0[parent] ** 3)
        assert np.allclose(tree.p0[kids], tree.p1[parent])
    points, radii = tree.junctions()
    assert len(points) > 0 and np.all(radii > 0)


def test_tree_is_deterministic_and_companion_follows_it() -> None:
    a, b, c = _grow(3), _grow(3), _grow(4)
    assert np.array_equal(a.p1, b.p1) and np.array_equal(a.r0, b.r0)
    assert not (len(a) == len(c) and np.array_equal(a.p1, c.p1))
    buddy = companion(a, np.zeros((2, 3)), scale=0.8, min_radius=1.5, gap=0.5)
    assert 0 < len(buddy) < len(a)
    assert np.all(buddy.r0 >= 1.5)
    # each companion segment starts where its parent ends
    kids = buddy.parent >= 0
    assert np.allclose(buddy.p0[kids], buddy.p1[buddy.parent[kids]])
