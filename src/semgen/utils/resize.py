"""Resizing, one helper per kind of data: float tensors on any device (linear interpolation,
used for whole-scan grids and pattern crops) and NumPy arrays of images or label maps
(spline of a given order, nearest for labels, used for fine-tuning inputs and predictions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def resize_tensor(x: torch.Tensor, size: Sequence[int], *, antialias: bool = False) -> torch.Tensor:
    """(C, X, Y[, Z]) float -> (C, *size): trilinear in 3D, bilinear in 2D, ``align_corners=False``;
    ``antialias`` low-pass filters before a 2D shrink. ``x`` itself when it has that size already."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[1:]) == size:
        return x
    if len(size) == 3:
        return F.interpolate(x[None], size=size, mode="trilinear", align_corners=False)[0]
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=antialias)[0]


def resize_array(array: np.ndarray, shape: Sequence[int], order: int) -> np.ndarray:
    """``array`` (X, Y[, Z]) zoomed to ``shape`` with a spline of ``order`` (1: linear for images,
    0: nearest for label maps; SciPy ``zoom``, ``grid_mode=True``, edges repeated); the array
    itself when it has that shape already."""
    from scipy import ndimage

    shape = tuple(int(s) for s in shape)
    if tuple(array.shape) == shape:
        return array
    factors = [t / s for t, s in zip(shape, array.shape)]
    out = ndimage.zoom(array, factors, order=order, mode="nearest", grid_mode=True)
    return out[tuple(slice(0, t) for t in shape)]
