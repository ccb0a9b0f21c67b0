"""``resize``: identity at the same size, shapes, value ranges, label values kept, leading axes
kept, and the two backends (torch for tensors, SciPy for arrays) agreeing at order 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semgen.utils.resize import resize


def test_tensors_keep_shape_identity_and_range():
    x = torch.rand(2, 12, 10, 6)
    assert resize(x, (12, 10, 6)) is x
    y = resize(x, (8, 8, 4))
    assert y.shape == (2, 8, 8, 4) and y.min() >= x.min() and y.max() <= x.max()
    flat = torch.full((1, 9, 7), 0.3)
    for antialias in (False, True):
        assert torch.allclose(resize(flat, (4, 5), antialias=antialias), torch.full((1, 4, 5), 0.3))


def test_antialias_smooths_a_2d_shrink():
    stripes = (torch.arange(30) % 3 == 0).float()[:, None].expand(30, 30)[None].contiguous()  # 1 row in 3 lit
    plain, smooth = resize(stripes, (8, 8)), resize(stripes, (8, 8), antialias=True)
    assert plain.std() > 0.2 and smooth.std() < 0.1  # sampling aliases the stripes; the low-pass evens them out


def test_arrays_keep_label_values_and_shape():
    labels = np.zeros((10, 10, 4), np.uint8)
    labels[2:6, 3:8] = 2
    out = resize(labels, (20, 15, 8), order=0)
    assert out.shape == (20, 15, 8) and set(np.unique(out)) == {0, 2}
    image = np.linspace(0, 1, 60, dtype=np.float32).reshape(6, 10)
    assert resize(image, (6, 10)) is image
    zoomed = resize(image, (12, 5))
    assert zoomed.shape == (12, 5) and zoomed.min() >= 0 and zoomed.max() <= 1


@pytest.mark.parametrize("size", [(26, 34, 18), (7, 9, 5), (20, 10, 9), (30, 8)])
def test_the_two_backends_agree_at_order_1(size):
    rng = np.random.default_rng(0)
    array = rng.random((13, 17, 9)[: len(size)]).astype(np.float32)
    by_scipy = resize(array, size, order=1)
    by_torch = resize(torch.from_numpy(array), size).numpy()
    assert by_scipy.shape == by_torch.shape == size
    np.testing.assert_allclose(by_scipy, by_torch, atol=2e-6)


def test_leading_axes_are_resized_one_by_one():
    rng = np.random.default_rng(1)
    probs = rng.random((3, 2, 6, 5, 4)).astype(np.float32)
    out = resize(probs, (9, 7, 6))
    assert out.shape == (3, 2, 9, 7, 6)
    np.testing.assert_array_equal(out[2, 1], resize(probs[2, 1], (9, 7, 6)))
    tensor = torch.from_numpy(probs)
    torch.testing.assert_close(resize(tensor, (9, 7, 6))[1], resize(tensor[1], (9, 7, 6)))


def test_what_a_backend_cannot_do_is_refused():
    with pytest.raises(ValueError, match="order 0"):
        resize(torch.zeros(1, 4, 4), (8, 8), order=0)
    with pytest.raises(ValueError, match="antialias needs a tensor"):
        resize(np.zeros((4, 4)), (2, 2), antialias=True)
    with pytest.raises(ValueError, match="last 2 or 3 axes"):
        resize(np.zeros(4), (2,))
