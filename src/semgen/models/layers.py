"""Building blocks of the published Models Genesis / Semantic Genesis U-Net, for 2D or 3D.

The names (``ops``, ``conv1``, ``bn1``, ``up_conv``, ``final_conv``, ``fc1``) are those of
the published ``pytorch/unet3d.py`` / ``ynet3d.py`` (reference Sec. 2.1), so a model built
from these blocks has the published state-dict keys. Unlike the published code, no block
applies a final sigmoid/softmax (heads return logits) and no block caches activations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "published", "instance")


def conv_nd(spatial_dims: int) -> type[nn.Module]:
    """``nn.Conv2d`` or ``nn.Conv3d``."""
    return {2: nn.Conv2d, 3: nn.Conv3d}[_check_dims(spatial_dims)]


def conv_transpose_nd(spatial_dims: int) -> type[nn.Module]:
    """``nn.ConvTranspose2d`` or ``nn.ConvTranspose3d``."""
    return {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[_check_dims(spatial_dims)]


def max_pool_nd(spatial_dims: int) -> type[nn.Module]:
    """``nn.MaxPool2d`` or ``nn.MaxPool3d``."""
    return {2: nn.MaxPool2d, 3: nn.MaxPool3d}[_check_dims(spatial_dims)]


def _check_dims(spatial_dims: int) -> int:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    return spatial_dims


class PublishedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """The published ``ContBatchNorm3d`` (for 2D and 3D): batch statistics in train *and* eval.

    Like the original it passes ``training=True`` to ``F.batch_norm`` on every call, so the
    running statistics are still updated (momentum 0.1) during evaluation forwards and
    ``num_batches_tracked`` stays 0. Use it to reproduce the published models' outputs; the
    default ``norm="batch"`` is standard batch norm (running statistics in eval).
    """

    def __init__(self, num_features: int, spatial_dims: int) -> None:
        super().__init__(num_features)
        self.spatial_dims = _check_dims(spatial_dims)

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != self.spatial_dims + 2:
            raise ValueError(f"expected a {self.spatial_dims + 2}D input, got {input.dim()}D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        return F.batch_norm(
            input, self.running_mean, self.running_var, self.weight, self.bias, True, self.momentum, self.eps
        )


def norm_nd(norm: str, num_features: int, spatial_dims: int) -> nn.Module:
    """The normalisation layer for ``norm``:

    - ``"batch"``: ``nn.BatchNorm{2,3}d`` (running statistics in eval);
    - ``"published"``: :class:`PublishedBatchNorm` (always batch statistics, as released);
    - ``"instance"``: ``nn.InstanceNorm{2,3}d(affine=True)`` (for batches of 1-2 on a CPU;
      its state dict has ``weight``/``bias`` only, no running statistics).
    """
    _check_dims(spatial_dims)
    if norm == "batch":
        return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[spatial_dims](num_features)
    if norm == "published":
        return PublishedBatchNorm(num_features, spatial_dims)
    if norm == "instance":
        return {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[spatial_dims](num_features, affine=True)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")


class LUConv(nn.Module):
    """Conv (kernel 3, padding 1, with bias) → norm → ReLU: the published ``LUConv``.

    (B, in_channels, *S) → (B, out_channels, *S).
    """

    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int, norm: str) -> None:
        super().__init__()
        self.conv1 = conv_nd(spatial_dims)(in_channels, out_channels, kernel_size=3, padding=1)
        self.bn1 = norm_nd(norm, out_channels, spatial_dims)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn1(self.conv1(x)))


class DownTransition(nn.Module):
    """Published ``DownTransition(in, depth)`` for base width ``w``: ``ops`` = two LUConvs
    in → w·2^depth → 2w·2^depth, then max-pool 2 (not at the deepest level).

    (B, in, *S) → (pooled (B, 2w·2^depth, *S/2), skip (B, 2w·2^depth, *S)); at the deepest
    level both are the un-pooled features.
    """

    def __init__(self, in_channels: int, depth: int, width: int, spatial_dims: int, norm: str, pool: bool) -> None:
        super().__init__()
        mid = width * 2**depth
        self.ops = nn.Sequential(
            LUConv(in_channels, mid, spatial_dims, norm),
            LUConv(mid, 2 * mid, spatial_dims, norm),
        )
        self.pool = max_pool_nd(spatial_dims)(2) if pool else nn.Identity()
        self.out_channels = 2 * mid

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.ops(x)
        return self.pool(skip), skip


class UpTransition(nn.Module):
    """Published ``UpTransition(in, out, depth)``: ``up_conv`` = transposed conv (kernel 2,
    stride 2) in → out, concatenate [up, skip], ``ops`` = two LUConvs (out + skip) → 2w·2^depth.

    (x (B, in, *S), skip (B, skip_channels, *2S)) → (B, 2w·2^depth, *2S).
    """

    def __init__(
        self, in_channels: int, skip_channels: int, depth: int, width: int, spatial_dims: int, norm: str
    ) -> None:
        super().__init__()
        out = 2 * width * 2**depth
        self.up_conv = conv_transpose_nd(spatial_dims)(in_channels, in_channels, kernel_size=2, stride=2)
        self.ops = nn.Sequential(
            LUConv(in_channels + skip_channels, out, spatial_dims, norm),
            LUConv(out, out, spatial_dims, norm),
        )
        self.out_channels = out

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.ops(torch.cat((self.up_conv(x), skip), dim=1))


class OutputTransition(nn.Module):
    """Published ``OutputTransition`` without its sigmoid: a kernel-1 conv ``final_conv``
    (B, in, *S) → (B, out_channels, *S) logits. ``torch.sigmoid`` of it is the published output."""

    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int) -> None:
        super().__init__()
        self.final_conv = conv_nd(spatial_dims)(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_conv(x)


class ClassificationHead(nn.Module):
    """The pattern-classification head of Semantic Genesis (paper Sec. 2, self-classification;
    published ``ClassificationHead``) without its softmax: ``conv1`` (kernel 3, bottleneck →
    2·bottleneck channels) → ``bn1`` → ReLU → global average pool → ``fc1`` → logits.

    (B, in_channels, *S) → (B, num_classes). ``torch.softmax(logits, 1)`` is the published output.
    """

    def __init__(self, in_channels: int, num_classes: int, spatial_dims: int, norm: str) -> None:
        super().__init__()
        hidden = 2 * in_channels
        self.conv1 = conv_nd(spatial_dims)(in_channels, hidden, kernel_size=3, padding=1)
        self.bn1 = norm_nd(norm, hidden, spatial_dims)
        self.act = nn.ReLU(inplace=True)
        self.fc1 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv1(x)))
        return self.fc1(torch.flatten(x, 2).mean(dim=2))
