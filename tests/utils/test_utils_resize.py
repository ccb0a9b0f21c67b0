"""Resizing helpers: identity at the same size, shapes, value ranges, label values kept."""

from __future__ import annotations

import numpy as np
import torch

from semgen.utils.resize import resize_array, resize_tensor


def test_resize_tensor_shapes_identity_and_range():
    x = torch.rand(2, 12, 10, 6)
    assert resize_tensor(x, (12, 10, 6)) is x
    y = resize_tensor(x, (8, 8, 4))
    assert y.shape == (2, 8, 8, 4) and y.min() >= x.min() and y.max() <= x.max()
    flat = torch.full((1, 9, 7), 0.3)
    for antialias in (False, True):
        assert torch.allclose(resize_tensor(flat, (4, 5), antialias=antialias), torch.full((1, 4, 5), 0.3))


def test_antialias_smooths_a_2d_shrink():
    stripes = (torch.arange(30) % 3 == 0).float()[:, None].expand(30, 30)[None].contiguous()  # 1 row in 3 lit
    plain, smooth = resize_tensor(stripes, (8, 8)), resize_tensor(stripes, (8, 8), antialias=True)
    assert plain.std() > 0.2 and smooth.std() < 0.1  # sampling aliases the stripes; the low-pass evens them out


def test_resize_array_keeps_label_values_and_shape():
    labels = np.zeros((10, 10, 4), np.uint8)
    labels[2:6, 3:8] = 2
    out = resize_array(labels, (20, 15, 8), order=0)
    assert out.shape == (20, 15, 8) and set(np.unique(out)) == {0, 2}
    image = np.linspace(0, 1, 60, dtype=np.float32).reshape(6, 10)
    assert resize_array(image, (6, 10), order=1) is image
    zoomed = resize_array(image, (12, 5), order=1)
    assert zoomed.shape == (12, 5) and zoomed.min() >= 0 and zoomed.max() <= 1
