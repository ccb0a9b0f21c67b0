"""One resize for every kind of data: :func:`resize`.

The backend follows the data, so a tensor stays a tensor on its device and an array stays
an array:

- a ``torch.Tensor`` is resized by ``torch.nn.functional.interpolate`` (linear: trilinear in
  3D, bilinear in 2D, ``align_corners=False``), on its own device, any float dtype; used for
  whole-scan grids and pattern crops;
- a ``numpy.ndarray`` is resized by ``scipy.ndimage.zoom`` with a spline of ``order`` (0:
  nearest, for label maps; 1: linear, for images; up to 5), ``grid_mode=True`` with edges
  repeated; used for fine-tuning inputs and predictions.

Both map voxel *areas* onto each other (a voxel centre ``c`` of an axis of ``n`` voxels lands
at ``(c + 0.5) * m / n - 0.5`` on one of ``m``), so at ``order=1`` the two backends give the same
values up to float rounding (tested). ``antialias`` (tensors, 2D only: torch has no 3D
anti-aliased interpolation) low-pass filters before a shrink; the zoom never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

Data = TypeVar("Data", torch.Tensor, np.ndarray)


def resize(data: Data, size: Sequence[int], *, order: int = 1, antialias: bool = False) -> Data:
    """``data`` (*lead, *spatial) with its last ``len(size)`` axes (2 or 3) resized to ``size``:
    (*lead, *size), leading axes (channels, classes) kept; ``data`` itself when it has that size
    already. The backend, ``order`` and ``antialias``: see the module docstring. Raises
    ``ValueError`` for an order or option the backend does not have.
    """
    size = tuple(int(s) for s in size)
    if len(size) not in (2, 3) or data.ndim < len(size):
        raise ValueError(f"resize: size {size} must name the last 2 or 3 axes of data of shape {tuple(data.shape)}")
    lead, spatial = tuple(data.shape[: data.ndim - len(size)]), tuple(data.shape[data.ndim - len(size) :])
    if spatial == size:
        return data
    if isinstance(data, torch.Tensor):
        if order != 1:
            raise ValueError(f"resize: a tensor is resized linearly (order 1), not order {order}; pass a NumPy array")
        mode = "trilinear" if len(size) == 3 else "bilinear"
        out = F.interpolate(data.reshape(1, -1, *spatial), size=size, mode=mode, align_corners=False,
                            antialias=antialias and len(size) == 2)
        return out.reshape(*lead, *size)
    if antialias:
        raise ValueError("resize: antialias needs a tensor (the SciPy zoom does not filter)")
    if lead:
        flat = data.reshape(-1, *spatial)
        return np.stack([_zoom(a, size, order) for a in flat]).reshape(*lead, *size)
    return _zoom(data, size, order)


def _zoom(array: np.ndarray, size: tuple[int, ...], order: int) -> np.ndarray:
    from scipy import ndimage

    factors = [t / s for t, s in zip(size, array.shape)]
    out = ndimage.zoom(array, factors, order=order, mode="nearest", grid_mode=True)
    return out[tuple(slice(0, t) for t in size)]

