"""A ResNet-18-style encoder for the U-Net (``encoder="resnet18"``), 2D or 3D, built here.

Models Genesis' maintainers name ResNet-18 as the backbone of their 2D encoder (reference
Sec. 2.4) and the Semantic Genesis 2D model is a U-Net of the segmentation_models family.
This encoder keeps ResNet-18's plan (a stem, then four stages of two basic residual blocks,
widths 64/128/256/512 at ``width=32``) but adapts it to the depth-4 U-Net: the stem is one
3x3 convolution at full resolution (no 7x7 stride-2 convolution and max-pool) and stages 2-4
halve the resolution. Its features therefore have the channels and resolutions of the
published encoder's (2w at 1/1, 4w at 1/2, 8w at 1/4, 16w at 1/8), inputs only need to be
divisible by 8, and the published decoder and head fit unchanged. Its state-dict keys
(``stem.*``, ``layer1.*`` ... ``layer4.*``) naturally differ from the published list, so
published weights fill only the decoder of such a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from semgen.models.layers import conv_nd, norm_nd


class BasicBlock(nn.Module):
    """ResNet basic block: conv3 (stride s) → norm → ReLU → conv3 → norm, plus the identity
    (or a strided 1x1 conv + norm when the shape changes), then ReLU.

    (B, in, *S) → (B, out, *S/s).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, spatial_dims: int, norm: str) -> None:
        super().__init__()
        conv = conv_nd(spatial_dims)
        self.conv1 = conv(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_nd(norm, out_channels, spatial_dims)
        self.conv2 = conv(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = norm_nd(norm, out_channels, spatial_dims)
        self.act = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                conv(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                norm_nd(norm, out_channels, spatial_dims),
            )
        else:
            self.downsample = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.downsample(x))


def resnet18_blocks(spatial_dims: int, in_channels: int, width: int, norm: str) -> dict[str, nn.Module]:
    """The encoder blocks in order: ``stem`` (in → w), ``layer1`` (→ 2w, stride 1),
    ``layer2`` (→ 4w, stride 2), ``layer3`` (→ 8w, stride 2), ``layer4`` (→ 16w, stride 2)."""
    stem = nn.Sequential(
        conv_nd(spatial_dims)(in_channels, width, kernel_size=3, padding=1, bias=False),
        norm_nd(norm, width, spatial_dims),
        nn.ReLU(inplace=True),
    )
    blocks: dict[str, nn.Module] = {"stem": stem}
    channels = width
    for i, stride in enumerate((1, 2, 2, 2), start=1):
        out = 2 * width * 2 ** (i - 1)
        blocks[f"layer{i}"] = nn.Sequential(
            BasicBlock(channels, out, stride, spatial_dims, norm),
            BasicBlock(out, out, 1, spatial_dims, norm),
        )
        channels = out
    return blocks


def resnet18_forward(blocks: Sequence[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """Run ``stem, layer1 ... layer4`` on ``x``; the four ``layer*`` outputs are the features."""
    x = blocks[0](x)
    features: list[torch.Tensor] = []
    for block in blocks[1:]:
        x = block(x)
        features.append(x)
    return features
