"""The body mask: threshold, largest component, per-slice hole filling, CT window placement."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from semgen.cohort import body_mask, otsu_threshold
from semgen.cohort.mask import ct_body_level
from semgen.io import normalize_intensity


def _chest(shape=(48, 40, 6)) -> tuple[np.ndarray, np.ndarray]:
    """A HU phantom: air outside, an elliptic body (40 HU) holding two lungs (-850 HU) that reach
    out of the volume through an 'airway' at the top slice, a table below, and a speck of noise."""
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    body2d = ((x - 24) / 20) ** 2 + ((y - 18) / 13) ** 2 <= 1
    lungs2d = (((x - 15) / 6) ** 2 + ((y - 18) / 7) ** 2 <= 1) | (((x - 33) / 6) ** 2 + ((y - 18) / 7) ** 2 <= 1)
    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[body2d] = 40.0
    hu[lungs2d] = -850.0
    hu[15, 5:19, -1] = -850.0  # airway: the left lung opens to the outside in the top slice
    hu[4:44, 36:38, :] = 200.0  # table, separate from the body
    hu[2, 2, 2] = 500.0  # noise
    truth = np.repeat(body2d[:, :, None], shape[2], axis=2)
    return hu, truth


def test_ct_body_mask_fills_lungs_and_drops_table_and_noise() -> None:
    hu, truth = _chest()
    array01, window = normalize_intensity(hu, "CT")
    mask = body_mask(array01, "CT", window)
    assert mask.dtype == bool and mask.shape == hu.shape
    inner = ndimage.binary_erosion(truth, structure=np.ones((3, 3, 1), bool))  # the opening may trim 1-voxel tips
    assert not (mask & ~truth).any() and (mask | ~inner)[:, :, :-1].all()
    assert mask[15, 18, :-1].all() and mask[33, 18].all()  # lung centres are inside the body
    assert not mask[:, 36:38].any() and not mask[2, 2, 2]
    assert mask[33, 18, -1] and not mask[15, 18, -1]  # the open lung is not a hole in its slice


def test_ct_level_follows_the_window() -> None:
    assert ct_body_level() == pytest.approx(0.25)
    assert ct_body_level({"kind": "ct", "low": -1000.0, "high": 0.0}) == pytest.approx(0.5)
    assert ct_body_level({"kind": "ct", "low": -160.0, "high": 240.0}) == 0.0
    hu, truth = _chest()
    narrow01, window = normalize_intensity(hu, "CT", (-1000.0, 0.0))
    narrow = body_mask(narrow01, "CT", window)
    assert narrow[15, 18, 0] and narrow[24, 18, 0] and not (narrow & ~truth).any()


def test_mr_and_2d_masks_use_otsu() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 0.1, (40, 30)).astype(np.float32)
    image[8:32, 6:24] = rng.uniform(0.6, 0.9, (24, 18))
    image[18:22, 12:16] = 0.05  # a dark hole inside the foreground
    level = otsu_threshold(image)
    assert 0.1 < level < 0.6
    mask = body_mask(image, "MR")
    expected = np.zeros_like(mask)
    expected[8:32, 6:24] = True
    np.testing.assert_array_equal(mask, expected)


def test_empty_image_gives_empty_mask() -> None:
    assert not body_mask(np.zeros((6, 6, 3), np.float32), "CT").any()
    with pytest.raises(ValueError, match="2D or 3D"):
        body_mask(np.zeros(5), "CT")
