"""The Semantic Genesis U-Net (paper Sec. 2: the encoder-decoder trained by self-restoration,
with the self-classification head on the bottleneck), for 2D and 3D.

At ``spatial_dims=3, width=32`` the module tree is the published Models Genesis /
Semantic Genesis ``UNet3D`` / ``YNet3D`` (reference Sec. 2.1): its state-dict keys and shapes
are exactly the published ones (106 tensors, 19,073,665 parameters, plus the 9 ``clc_out.*``
tensors with ``num_classes > 0``), so the released weights load without key surgery.

With another ``width`` w, level d of the encoder has ``w·2^d`` then ``2w·2^d`` channels (the
published model is w = 32); the module names (``down_tr64`` ... ``down_tr512``, ``up_tr256``
... ``up_tr64``) stay those of the published levels at any width.

Everything returns logits. To reproduce the published outputs apply
``torch.sigmoid(seg_logits)`` (``OutputTransition``) and ``torch.softmax(cls_logits, 1)``
(``ClassificationHead``); build with ``norm="published"`` for its always-batch-statistics
batch norm.

Parts: the blocks are registered on the model itself (that keeps the published keys);
``model.encoder`` and ``model.decoder`` are *views*: small modules built on access whose
children are the model's own blocks under the same names. So ``model.encoder(x)`` runs the
encoder, ``model.encoder.parameters()`` yields the model's encoder parameters, and
``model.encoder.state_dict()`` has exactly the model's encoder keys (``down_tr*``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from semgen.models.layers import NORMS, ClassificationHead, DownTransition, OutputTransition, UpTransition
from semgen.models.resnet import resnet18_blocks, resnet18_forward

DECODER_NAMES = ("up_tr256", "up_tr128", "up_tr64", "out_tr")
HEAD_NAME = "clc_out"
DIVISOR = 8


@dataclass(frozen=True, kw_only=True)
class EncoderSpec:
    """One registered encoder: how to build its blocks and how to run them.

    ``blocks(spatial_dims, in_channels, width, norm)`` returns the encoder's blocks by name,
    in order (the names become top-level state-dict prefixes); ``forward(blocks, x)`` runs
    them on ``x`` (B, in_channels, *S) and returns the four feature maps the decoder takes:
    [2w at 1/1, 4w at 1/2, 8w at 1/4, bottleneck 16w at 1/8].
    """

    name: str
    blocks: Callable[[int, int, int, str], dict[str, nn.Module]]
    forward: Callable[[Sequence[nn.Module], torch.Tensor], list[torch.Tensor]]
    description: str


def _unet_blocks(spatial_dims: int, in_channels: int, width: int, norm: str) -> dict[str, nn.Module]:
    blocks: dict[str, nn.Module] = {}
    channels = in_channels
    for depth in range(4):
        block = DownTransition(channels, depth, width, spatial_dims, norm, pool=depth < 3)
        blocks[f"down_tr{64 * 2**depth}"] = block
        channels = block.out_channels
    return blocks


def _unet_forward(blocks: Sequence[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    features: list[torch.Tensor] = []
    for block in blocks:
        x, skip = block(x)
        features.append(skip)
    return features


ENCODERS: dict[str, EncoderSpec] = {}


def register_encoder(spec: EncoderSpec) -> EncoderSpec:
    """Add ``spec`` to :data:`ENCODERS` under ``spec.name`` (``ValueError`` if the name is taken)."""
    if spec.name in ENCODERS:
        raise ValueError(f"an encoder called {spec.name!r} is already registered")
    ENCODERS[spec.name] = spec
    return spec


register_encoder(EncoderSpec(
    name="unet",
    blocks=_unet_blocks,
    forward=_unet_forward,
    description="the published Models Genesis / Semantic Genesis encoder (down_tr64 ... down_tr512)",
))
register_encoder(EncoderSpec(
    name="resnet18",
    blocks=resnet18_blocks,
    forward=resnet18_forward,
    description="ResNet-18 plan adapted to the depth-4 U-Net (stem, layer1 ... layer4; see semgen.models.resnet)",
))


def get_encoder(name: str) -> EncoderSpec:
    """The registered encoder ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return ENCODERS[name]
    except KeyError:
        raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}; got {name!r}") from None


def encoder_blocks(encoder: str, spatial_dims: int, in_channels: int, width: int, norm: str) -> dict[str, nn.Module]:
    """The encoder's blocks by name, in order. ``"unet"``: the published ``down_tr64``,
    ``down_tr128``, ``down_tr256``, ``down_tr512``; ``"resnet18"``: see :mod:`semgen.models.resnet`."""
    return get_encoder(encoder).blocks(spatial_dims, in_channels, width, norm)


def check_input(x: torch.Tensor, spatial_dims: int, in_channels: int) -> None:
    """Raise ``ValueError`` unless ``x`` is (B, in_channels, *S) with ``spatial_dims`` sizes,
    each divisible by 8 (three 2x poolings)."""
    if x.dim() != spatial_dims + 2:
        raise ValueError(
            f"expected a (B, C, {'X, Y, Z' if spatial_dims == 3 else 'X, Y'}) tensor for a "
            f"{spatial_dims}D model, got shape {tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(f"the model takes {in_channels} input channel(s), got {x.shape[1]} (shape {tuple(x.shape)})")
    bad = [int(s) for s in x.shape[2:] if s % DIVISOR]
    if bad:
        raise ValueError(
            f"spatial sizes must be divisible by {DIVISOR} (three 2x poolings), got {tuple(x.shape[2:])}; "
            "crop or pad the input"
        )


def run_encoder(kind: str, blocks: Sequence[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """Run the ``kind`` encoder's ``blocks`` (in order) on ``x``: [skip 2w at 1/1, skip 4w at
    1/2, skip 8w at 1/4, bottleneck 16w at 1/8]."""
    return get_encoder(kind).forward(blocks, x)


def run_decoder(blocks: Sequence[nn.Module], features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Run ``up_tr256, up_tr128, up_tr64, out_tr`` on the encoder ``features`` → logits."""
    if len(features) != 4:
        raise ValueError(f"the decoder takes the encoder's 4 feature maps, got {len(features)}")
    up256, up128, up64, out = blocks
    x = up256(features[3], features[2])
    x = up128(x, features[1])
    x = up64(x, features[0])
    return out(x)


class Encoder(nn.Module):
    """A view over a model's encoder blocks (same child names, so same state-dict keys).

    ``forward(x (B, C_in, *S)) -> list``: [skip (B, 2w, *S), skip (B, 4w, *S/2),
    skip (B, 8w, *S/4), bottleneck (B, 16w, *S/8)].
    """

    def __init__(self, kind: str, blocks: Mapping[str, nn.Module], spatial_dims: int, in_channels: int) -> None:
        super().__init__()
        self.kind, self.spatial_dims, self.in_channels = kind, spatial_dims, in_channels
        for name, block in blocks.items():
            self.add_module(name, block)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_input(x, self.spatial_dims, self.in_channels)
        return run_encoder(self.kind, list(self.children()), x)


class Decoder(nn.Module):
    """A view over a U-Net's ``up_tr256, up_tr128, up_tr64, out_tr``.

    ``forward(features) -> (B, out_channels, *S)`` logits, ``features`` as returned by the encoder.
    """

    def __init__(self, blocks: Mapping[str, nn.Module]) -> None:
        super().__init__()
        for name, block in blocks.items():
            self.add_module(name, block)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        return run_decoder(list(self.children()), features)


def _validate(spatial_dims: int, in_channels: int, width: int, norm: str, encoder: str) -> None:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    for name, value in (("in_channels", in_channels), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
    get_encoder(encoder)


class UNet(nn.Module):
    """Depth-4 U-Net with transposed-convolution up-sampling and an optional pattern head.

    Args:
        spatial_dims: 3 for (B, C, X, Y, Z) cubes (published: 64x64x32), 2 for (B, C, X, Y)
            images (the paper's 2D Semantic Genesis on chest X-rays, e.g. 224x224).
        in_channels, out_channels: input channels; output channels of ``out_tr`` (1 for
            restoration, the number of classes for segmentation).
        width: base width w (32 = the published model; 4-16 for CPU-scale work).
        num_classes: > 0 attaches the pattern-classification head ``clc_out`` (paper Sec. 2,
            self-classification) on the bottleneck.
        norm: ``"batch"`` (standard), ``"published"`` (batch statistics also in eval, as
            released) or ``"instance"``.
        encoder: a name in :data:`ENCODERS`: ``"unet"`` (published ``down_tr*``) or
            ``"resnet18"`` (see :mod:`semgen.models.resnet`; other state-dict keys).

    ``forward(x (B, in_channels, *S))`` with every size of S divisible by 8 returns
    ``(seg_logits (B, out_channels, *S), cls_logits (B, num_classes) or None)``.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 1,
        width: int = 32,
        num_classes: int = 0,
        norm: str = "batch",
        encoder: str = "unet",
    ) -> None:
        super().__init__()
        _validate(spatial_dims, in_channels, width, norm, encoder)
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"out_channels must be a positive integer, got {out_channels!r}")
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative integer, got {num_classes!r}")
        self.spatial_dims, self.in_channels, self.out_channels = spatial_dims, in_channels, out_channels
        self.width, self.num_classes, self.norm, self.encoder_kind = width, num_classes, norm, encoder
        blocks = encoder_blocks(encoder, spatial_dims, in_channels, width, norm)
        for name, block in blocks.items():
            self.add_module(name, block)
        self.encoder_names = tuple(blocks)
        w = width
        self.up_tr256 = UpTransition(16 * w, 8 * w, 2, w, spatial_dims, norm)
        self.up_tr128 = UpTransition(self.up_tr256.out_channels, 4 * w, 1, w, spatial_dims, norm)
        self.up_tr64 = UpTransition(self.up_tr128.out_channels, 2 * w, 0, w, spatial_dims, norm)
        self.out_tr = OutputTransition(self.up_tr64.out_channels, out_channels, spatial_dims)
        self.clc_out = ClassificationHead(16 * w, num_classes, spatial_dims, norm) if num_classes else None

    @property
    def bottleneck_channels(self) -> int:
        """Channels of the bottleneck features (16·width; 512 for the published model)."""
        return 16 * self.width

    @property
    def encoder(self) -> Encoder:
        """The encoder as a view module (see the module docstring)."""
        return Encoder(
            self.encoder_kind, {n: getattr(self, n) for n in self.encoder_names}, self.spatial_dims, self.in_channels
        )

    @property
    def decoder(self) -> Decoder:
        """The decoder (``up_tr*`` + ``out_tr``) as a view module."""
        return Decoder({n: getattr(self, n) for n in DECODER_NAMES})

    @property
    def architecture(self) -> dict[str, Any]:
        """``{"name": "UNet", "args": {...}}``: enough for :func:`semgen.models.build_model`."""
        args = {
            "spatial_dims": self.spatial_dims,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "width": self.width,
            "num_classes": self.num_classes,
            "norm": self.norm,
            "encoder": self.encoder_kind,
        }
        return {"name": "UNet", "args": args}

    def part_names(self) -> dict[str, tuple[str, ...]]:
        """Top-level module names of each part: encoder, decoder, head."""
        return {"encoder": self.encoder_names, "decoder": DECODER_NAMES, "head": (HEAD_NAME,) if self.clc_out is not None else ()}

    def branches(self, x: torch.Tensor, classification: bool = True, restoration: bool = True):
        """``(restoration logits or None, class logits or None)``: the encoder, then only the
        branches asked for (the decoder for restoration, ``clc_out`` for classification)."""
        features = self.encoder(x)
        seg = self.decoder(features) if restoration else None
        cls = self.clc_out(features[-1]) if classification and self.clc_out is not None else None
        return seg, cls

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_input(x, self.spatial_dims, self.in_channels)
        features = run_encoder(self.encoder_kind, [getattr(self, n) for n in self.encoder_names], x)
        seg = run_decoder([getattr(self, n) for n in DECODER_NAMES], features)
        cls = self.clc_out(features[-1]) if self.clc_out is not None else None
        return seg, cls


class EncoderClassifier(nn.Module):
    """A U-Net encoder + a new classification head, for classification fine-tuning.

    The encoder blocks have the U-Net's names (``down_tr*`` or ``stem``/``layer*``), so
    :func:`semgen.models.load_pretrained` fills them from any U-Net checkpoint. The head is
    global average pooling of the bottleneck → dropout → ``fc`` (Linear 16w → num_outputs).

    Args:
        unet_or_args: a :class:`UNet` (its encoder weights are copied) or a mapping of UNet
            arguments (``spatial_dims, in_channels, width, norm, encoder``; ``out_channels``
            and ``num_classes`` are accepted and ignored, so a checkpoint's UNet arguments work).
        num_outputs: number of logits.
        dropout: dropout probability before ``fc``.

    ``forward(x (B, in_channels, *S)) -> (B, num_outputs)`` logits.
    """

    BACKBONE_ARGS = ("spatial_dims", "in_channels", "width", "norm", "encoder")

    def __init__(self, unet_or_args: UNet | Mapping[str, Any], num_outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(unet_or_args, UNet):
            args = {k: unet_or_args.architecture["args"][k] for k in self.BACKBONE_ARGS}
            blocks = {n: copy.deepcopy(getattr(unet_or_args, n)) for n in unet_or_args.encoder_names}
        elif isinstance(unet_or_args, Mapping):
            unknown = sorted(set(unet_or_args) - set(self.BACKBONE_ARGS) - {"out_channels", "num_classes"})
            if unknown:
                raise ValueError(f"unknown U-Net argument(s) {', '.join(unknown)}; known: {', '.join(self.BACKBONE_ARGS)}")
            defaults = {"spatial_dims": 3, "in_channels": 1, "width": 32, "norm": "batch", "encoder": "unet"}
            args = {k: unet_or_args.get(k, v) for k, v in defaults.items()}
            _validate(**args)
            blocks = encoder_blocks(args["encoder"], args["spatial_dims"], args["in_channels"], args["width"], args["norm"])
        else:
            raise TypeError(f"unet_or_args must be a UNet or a mapping of its arguments, got {type(unet_or_args).__name__}")
        if not isinstance(num_outputs, int) or num_outputs < 1:
            raise ValueError(f"num_outputs must be a positive integer, got {num_outputs!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.backbone_args, self.num_outputs, self.dropout_p = args, num_outputs, float(dropout)
        self.spatial_dims, self.in_channels = args["spatial_dims"], args["in_channels"]
        self.encoder_kind = args["encoder"]
        for name, block in blocks.items():
            self.add_module(name, block)
        self.encoder_names = tuple(blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(16 * args["width"], num_outputs)

    @property
    def encoder(self) -> Encoder:
        """The encoder as a view module (same keys as the U-Net's encoder)."""
        return Encoder(
            self.encoder_kind, {n: getattr(self, n) for n in self.encoder_names}, self.spatial_dims, self.in_channels
        )

    @property
    def architecture(self) -> dict[str, Any]:
        """``{"name": "EncoderClassifier", "args": {...}}`` for :func:`semgen.models.build_model`."""
        args = {"unet_or_args": dict(self.backbone_args), "num_outputs": self.num_outputs, "dropout": self.dropout_p}
        return {"name": "EncoderClassifier", "args": args}

    def part_names(self) -> dict[str, tuple[str, ...]]:
        """Top-level module names of each part: encoder, decoder (none), head."""
        return {"encoder": self.encoder_names, "decoder": (), "head": ("fc",)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels)
        features = run_encoder(self.encoder_kind, [getattr(self, n) for n in self.encoder_names], x)
        return self.fc(self.dropout(torch.flatten(features[-1], 2).mean(dim=2)))


MODELS: dict[str, type[nn.Module]] = {"UNet": UNet, "EncoderClassifier": EncoderClassifier}


def build_model(architecture: Mapping[str, Any], *, seed: int | None = None) -> nn.Module:
    """Build a model from ``{"name": ..., "args": {...}}`` (a model's ``.architecture``).

    With ``seed``, the initial weights come from ``torch.manual_seed(seed)`` inside a fork of
    torch's global generator (the caller's random stream is untouched), so a seed fixes them.
    Raises ``ValueError`` for an unknown name or bad arguments.
    """
    if not isinstance(architecture, Mapping) or "name" not in architecture:
        raise ValueError(f"an architecture is a mapping with 'name' and 'args', got {architecture!r}")
    name, args = architecture["name"], architecture.get("args") or {}
    if name not in MODELS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(MODELS)}")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        try:
            return MODELS[name](**args)
        except TypeError as e:
            raise ValueError(f"bad arguments for {name}: {e}") from None


def part_of(key: str, parts: Mapping[str, Sequence[str]]) -> str | None:
    """The part (of a model's ``part_names()``) that the state-dict ``key`` belongs to: the
    first part, in order, with a module path that is ``key``'s prefix; ``None`` for none."""
    for part, names in parts.items():
        if any(key.startswith(name + ".") for name in names):
            return part
    return None


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters per part: ``{"encoder", "decoder", "head", "total"}``."""
    parts = model.part_names()
    counts = dict.fromkeys(parts, 0)
    for key, p in model.named_parameters():
        counts[part_of(key, parts)] += p.numel()
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
