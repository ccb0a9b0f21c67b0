from __future__ import annotations

import numpy as np

from semgen.discovery.acceptance import AcceptanceRule
from semgen.discovery.placement import body_box
from semgen.discovery.planning import ClassPlan, choose_coordinate, class_crops, plan_class


def _ellipsoid(shape=(40, 36, 20)) -> tuple[np.ndarray, np.ndarray]:
    grid = np.indices(shape).astype(np.float64)
    centre = (np.array(shape) - 1) / 2
    r = np.sqrt((((grid - centre[:, None, None, None]) / (0.4 * np.array(shape))[:, None, None, None]) ** 2).sum(0))
    mask = (r < 1).astype(np.uint8)
    image = np.where(mask > 0, 0.5 + 0.3 * np.sin(grid[0]) * np.cos(grid[1]), 0.0).astype(np.float32)
    return image, mask


def test_coordinates_obey_body_and_distance_constraints() -> None:
    image, mask = _ellipsoid()
    box = body_box(mask)
    size = (8, 8, 4)
    rule = AcceptanceRule("generic", min_foreground=0.5, min_std=0.01)
    plans: list[ClassPlan] = []
    for c in range(12):
        plan, reason = plan_class(
            c, 0, image, mask, box, plans, size=size, rule=rule, min_distance=6.0, budget=200,
            placement="body", seed=5, reference_id="scan",
        )
        assert plan is not None, reason
        plans.append(plan)
    starts = np.array([p.start for p in plans])
    centres = starts + np.array(size) / 2
    assert (mask[tuple(np.floor(centres).astype(int).T)] > 0).all()
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2)[~np.eye(len(plans), dtype=bool)]
    assert gaps.min() >= 6.0
    assert (starts >= 0).all() and (starts + size <= np.array(image.shape)).all()
    stats = rule.statistics(image, mask, starts, size)
    assert (stats["foreground"] >= 0.5).all()


def test_planning_is_deterministic_for_a_seed() -> None:
    image, mask = _ellipsoid()
    kwargs = dict(size=(8, 8, 4), rule=AcceptanceRule("none"), min_distance=5.0, budget=50, placement="voxel", reference_id="a")
    a = plan_class(0, 0, image, mask, body_box(mask), [], seed=1, **kwargs)[0]
    b = plan_class(0, 0, image, mask, body_box(mask), [], seed=1, **kwargs)[0]
    c = plan_class(0, 0, image, mask, body_box(mask), [], seed=2, **kwargs)[0]
    assert a == b and a.start != c.start


def test_no_acceptable_coordinate_gives_a_reason() -> None:
    image = np.zeros((20, 20, 10), dtype=np.float32)
    mask = np.zeros_like(image, dtype=np.uint8)
    start, reason = choose_coordinate(
        image, mask, np.zeros((0, 3)), (4, 4, 2), AcceptanceRule("none"), 5.0, 30, np.random.default_rng(0)
    )
    assert start is None and "30 outside the body" in reason


def test_class_crops_rows_and_boxes() -> None:
    shapes = np.array([[40, 40, 20]] * 5)
    boxes = np.array([[[5, 5, 2], [35, 35, 18]]] * 5)
    plan = ClassPlan(3, 0, (10, 12, 6), (0.3, 0.4, 0.5))
    table = class_crops(
        plan, np.array([0, 2, 4]), np.array([0.0, 1.0, 2.0]), np.array([1]), np.array([0.5]), boxes, shapes,
        patch=(16, 16, 8), resolutions=3, scale=(0.78, 1.25), shift=3, placement="body", seed=0,
    )
    assert len(table) == 3 * 3 + 1
    assert (table.klass == 3).all()
    np.testing.assert_array_equal(table.scan, [0, 0, 0, 2, 2, 2, 4, 4, 4, 1])
    np.testing.assert_array_equal(table.resolution, [1, 2, 3] * 3 + [1])
    np.testing.assert_array_equal(table.split, [False] * 9 + [True])
    native = table.resolution == 1
    assert (table.size[native] == (16, 16, 8)).all()
    np.testing.assert_array_equal(table.start[0], (10, 12, 6))  # the reference is cut where it was planned
    assert (table.start >= 0).all() and (table.start + table.size <= 40).all()
