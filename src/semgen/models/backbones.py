"""Framework backbones: pre-train MONAI and nnU-Net networks with every method (paper Sec. 2).

A backbone is an encoder-decoder network of another framework, built from its own class with
its own arguments, so that its state dict is exactly that class's (``semgen export --to monai``
/ ``--to nnunet`` strips one prefix). Each registered :class:`BackboneSpec` is the small
adapter of one network class: how to build it from ``(spatial_dims, in_channels,
out_channels, args)``, its default arguments at a base width, which of its modules form the
encoder (the last one is the bottleneck) and how many channels the bottleneck has.

:class:`Backbone` (a registered model, :data:`semgen.models.MODELS`) wraps one network:

- **restoration / segmentation** is the network's own output;
- **self-classification**: a forward hook on the bottleneck module catches its output, and
  the pattern head of Semantic Genesis (:class:`~semgen.models.layers.ClassificationHead`,
  global pooling, linear) classifies it. When only the head is needed (the classification
  warm-up, ``self-classification``) the hook stops the forward pass at the bottleneck, so
  the decoder costs nothing.

:class:`BackboneClassifier` (registered too) is the same network for classification
fine-tuning: the pooled bottleneck → dropout → ``fc``.

| name | class | dims | bottleneck (hooked module) | input divisible by |
|---|---|---|---|---|
| ``monai-unet`` | ``monai.networks.nets.UNet`` | 2D, 3D | the bottom layer | prod(strides) |
| ``monai-basicunet`` | ``monai.networks.nets.BasicUNet`` | 2D, 3D | ``down_4`` | 16 |
| ``monai-segresnet`` | ``monai.networks.nets.SegResNet`` | 2D, 3D | ``down_layers[-1]`` | 2^(len(blocks_down)-1) |
| ``monai-swinunetr`` | ``monai.networks.nets.SwinUNETR`` | 2D, 3D | ``encoder10`` (16 x feature_size) | 32 |
| ``nnunet-plainconvunet`` | ``dynamic_network_architectures...PlainConvUNet`` | 2D, 3D | ``encoder.stages[-1]`` | prod(strides) per axis |
| ``nnunet-resencunet`` | ``dynamic_network_architectures...ResidualEncoderUNet`` | 2D, 3D | ``encoder.stages[-1]`` | prod(strides) per axis |

nnU-Net arguments are written as in an nnU-Net v2 plans file (``configurations.<name>.
architecture.arch_kwargs``: ``conv_op``, ``norm_op``, ``dropout_op``, ``nonlin`` as dotted
``torch.nn`` names), so a plans file's ``arch_kwargs`` can be pasted into ``--backbone-args``.
"""

from __future__ import annotations

import importlib
import json
import math
import pydoc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semgen.models.layers import ClassificationHead
from semgen.models.unet import MODELS

EXTRAS = {"monai": "monai", "nnunet": "dynamic_network_architectures"}
DEFAULT_BACKBONE = "semgen"
NNUNET_IMPORTED = ("conv_op", "norm_op", "dropout_op", "nonlin")  # nnU-Net's _kw_requires_import


class MissingExtraError(ValueError):
    """A backbone whose framework is not installed; the message names the pip extra."""


def require_extra(family: str) -> Any:
    """Import the framework of ``family`` (``monai`` or ``nnunet``) or raise
    :class:`MissingExtraError` with the one line that installs it."""
    module = EXTRAS[family]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"the {family} backbones need the {module} package: pip install 'semgen[{family}]'"
        ) from None


@dataclass(frozen=True, kw_only=True)
class BackboneSpec:
    """The adapter of one framework network class.

    ``build(spatial_dims, in_channels, out_channels, args)`` returns the network;
    ``defaults(spatial_dims, width)`` its arguments at base width ``width`` (what
    ``--backbone-args`` overrides); ``encoder(net)`` the module paths (inside the network) of
    its encoder, the last being the bottleneck whose output feeds the pattern head;
    ``channels(args)`` the bottleneck's channels; ``divisors(spatial_dims, args)`` what each
    input size must be divisible by.
    """

    name: str
    family: str
    target: str  # the framework class, dotted
    build: Callable[[int, int, int, dict[str, Any]], nn.Module]
    defaults: Callable[[int, int], dict[str, Any]]
    encoder: Callable[[nn.Module], list[str]]
    channels: Callable[[dict[str, Any]], int]
    divisors: Callable[[int, dict[str, Any]], tuple[int, ...]]
    description: str


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add ``spec`` to :data:`BACKBONES` (``ValueError`` if its name is taken)."""
    if spec.name in BACKBONES or spec.name == DEFAULT_BACKBONE:
        raise ValueError(f"a backbone called {spec.name!r} is already registered")
    BACKBONES[spec.name] = spec
    return spec


def backbone_names() -> tuple[str, ...]:
    """Every ``--backbone`` value: ``semgen`` (the published U-Net) and the registered ones."""
    return (DEFAULT_BACKBONE, *BACKBONES)


def get_backbone(name: str) -> BackboneSpec:
    """The registered backbone ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"--backbone must be one of {', '.join(backbone_names())}; got {name!r}") from None


def parse_backbone_args(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``--backbone-args``: a JSON or YAML mapping, inline or in a ``.json``/``.yaml``/``.yml``
    file; a mapping passes through. ``ValueError`` naming the flag otherwise."""
    import yaml

    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    source = "--backbone-args"
    if Path(text).suffix in (".json", ".yaml", ".yml"):
        try:
            text, source = Path(text).read_text(), f"--backbone-args {text}"
        except OSError as e:
            raise ValueError(f"--backbone-args {text}: cannot read ({e.strerror})") from None
    try:  # JSON first: YAML 1.1 reads JSON's 1e-05 as a string
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"{source}: not JSON or YAML ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{source}: expected a mapping of argument: value, e.g. '{{\"channels\": [16, 32, 64]}}', got {value!r}")
    return value


def _json_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` as plain JSON values (tuples become lists), so they round-trip through model.json."""
    return json.loads(json.dumps(dict(args)))


# ---- the registered backbones ----------------------------------------------------------


def _monai(cls: str) -> Callable[[int, int, int, dict[str, Any]], nn.Module]:
    def build(spatial_dims: int, in_channels: int, out_channels: int, args: dict[str, Any]) -> nn.Module:
        nets = require_extra("monai") and importlib.import_module("monai.networks.nets")
        return getattr(nets, cls)(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels, **args)

    return build


def _monai_unet_encoder(net: nn.Module) -> list[str]:
    """The down layers of MONAI's nested UNet (``model.0``, ``model.1.submodule.0``, ...) and
    its bottom layer (the innermost ``SkipConnection``'s submodule), in order."""
    from monai.networks.layers import SkipConnection

    paths, node, prefix = [], net.model, "model"
    while True:
        paths.append(f"{prefix}.0")
        prefix, inner = f"{prefix}.1.submodule", node[1].submodule
        if type(inner) is nn.Sequential and len(inner) == 3 and isinstance(inner[1], SkipConnection):
            node = inner
            continue
        paths.append(prefix)
        return paths


register_backbone(BackboneSpec(
    name="monai-unet",
    family="monai",
    target="monai.networks.nets.UNet",
    build=_monai("UNet"),
    defaults=lambda dims, w: {"channels": [2 * w, 4 * w, 8 * w, 16 * w], "strides": [2, 2, 2], "num_res_units": 2},
    encoder=_monai_unet_encoder,
    channels=lambda a: int(a["channels"][-1]),
    divisors=lambda dims, a: (math.prod(int(s) if not isinstance(s, Sequence) else max(s) for s in a["strides"]),) * dims,
    description="MONAI UNet (residual units, strided convolutions); the pattern head on its bottom layer",
))
register_backbone(BackboneSpec(
    name="monai-basicunet",
    family="monai",
    target="monai.networks.nets.BasicUNet",
    build=_monai("BasicUNet"),
    defaults=lambda dims, w: {"features": [w, w, 2 * w, 4 * w, 8 * w, w]},
    encoder=lambda net: ["conv_0", "down_1", "down_2", "down_3", "down_4"],
    channels=lambda a: int(a["features"][4]),
    divisors=lambda dims, a: (16,) * dims,
    description="MONAI BasicUNet (four max-poolings); the pattern head on down_4",
))
register_backbone(BackboneSpec(
    name="monai-segresnet",
    family="monai",
    target="monai.networks.nets.SegResNet",
    build=_monai("SegResNet"),
    defaults=lambda dims, w: {"init_filters": w, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1],
                              "norm": ["GROUP", {"num_groups": min(8, w)}]},
    encoder=lambda net: ["convInit", *[f"down_layers.{i}" for i in range(len(net.down_layers))]],
    channels=lambda a: int(a.get("init_filters", 8)) * 2 ** (len(a.get("blocks_down", (1, 2, 2, 4))) - 1),
    divisors=lambda dims, a: (2 ** (len(a.get("blocks_down", (1, 2, 2, 4))) - 1),) * dims,
    description="MONAI SegResNet (residual encoder, light decoder); the pattern head on the last down layer",
))
register_backbone(BackboneSpec(
    name="monai-swinunetr",
    family="monai",
    target="monai.networks.nets.SwinUNETR",
    build=_monai("SwinUNETR"),
    defaults=lambda dims, w: {"feature_size": 12 * max(1, -(-w // 8))},
    encoder=lambda net: ["swinViT", "encoder1", "encoder2", "encoder3", "encoder4", "encoder10"],
    channels=lambda a: 16 * int(a.get("feature_size", 24)),
    divisors=lambda dims, a: (32,) * dims,
    description="MONAI SwinUNETR (Swin transformer encoder); the pattern head on encoder10, the 1/32 bottleneck",
))


def _torch_class(value: Any, key: str) -> Any:
    """An nnU-Net plans ``_kw_requires_import`` value (``"torch.nn.modules.conv.Conv3d"``) as the
    class; only ``torch.nn`` names are resolved (a checkpoint's JSON must not import anything else)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("torch.nn."):
        raise ValueError(f"--backbone-args {key}: expected a torch.nn class name such as torch.nn.LeakyReLU, got {value!r}")
    found = pydoc.locate(value)
    if not isinstance(found, type) or not issubclass(found, nn.Module):
        raise ValueError(f"--backbone-args {key}: {value!r} is not a torch.nn module class")
    return found


def _nnunet(cls: str) -> Callable[[int, int, int, dict[str, Any]], nn.Module]:
    def build(spatial_dims: int, in_channels: int, out_channels: int, args: dict[str, Any]) -> nn.Module:
        require_extra("nnunet")
        unet = importlib.import_module("dynamic_network_architectures.architectures.unet")
        kwargs = {k: _torch_class(v, k) if k in NNUNET_IMPORTED else v for k, v in args.items()}
        conv = kwargs.get("conv_op")
        if conv is not None and getattr(conv, "__name__", "")[-2:] != f"{spatial_dims}d":
            raise ValueError(f"--backbone-args conv_op {args['conv_op']} does not fit {spatial_dims}D data")
        try:
            net = getattr(unet, cls)(input_channels=in_channels, num_classes=out_channels, deep_supervision=False, **kwargs)
        except AssertionError as e:  # dynamic_network_architectures checks its arguments with assert
            raise ValueError(f"--backbone-args: {cls} refuses these arguments ({e})") from None
        net.apply(net.initialize)  # nnU-Net's own initialisation (get_network_from_plans)
        return net

    return build


def _nnunet_defaults(stages: Sequence[int], decoder: int, blocks_key: str) -> Callable[[int, int], dict[str, Any]]:
    def defaults(dims: int, w: int) -> dict[str, Any]:
        n = len(stages)
        return {
            "n_stages": n,
            "features_per_stage": [2 * w * 2**i for i in range(n)],
            "conv_op": f"torch.nn.modules.conv.Conv{dims}d",
            "kernel_sizes": [[3] * dims] * n,
            "strides": [[1] * dims] + [[2] * dims] * (n - 1),
            blocks_key: list(stages),
            "n_conv_per_stage_decoder": [decoder] * (n - 1),
            "conv_bias": True,
            "norm_op": f"torch.nn.modules.instancenorm.InstanceNorm{dims}d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        }

    return defaults


def _nnunet_divisors(dims: int, a: dict[str, Any]) -> tuple[int, ...]:
    strides = [[int(s)] * dims if not isinstance(s, Sequence) else [int(x) for x in s] for s in a["strides"]]
    return tuple(math.prod(s[d] for s in strides) for d in range(dims))


def _nnunet_channels(a: dict[str, Any]) -> int:
    f = a["features_per_stage"]
    return int(f[-1] if isinstance(f, Sequence) else f)


for _name, _cls, _stages, _decoder, _key, _what in (
    ("nnunet-plainconvunet", "PlainConvUNet", (2, 2, 2, 2), 2, "n_conv_per_stage", "nnU-Net's default U-Net (3d_fullres, 2d)"),
    ("nnunet-resencunet", "ResidualEncoderUNet", (1, 3, 4, 6), 1, "n_blocks_per_stage", "nnU-Net ResEnc U-Net (nnUNetResEncUNet*Plans)"),
):
    register_backbone(BackboneSpec(
        name=_name,
        family="nnunet",
        target=f"dynamic_network_architectures.architectures.unet.{_cls}",
        build=_nnunet(_cls),
        defaults=_nnunet_defaults(_stages, _decoder, _key),
        encoder=lambda net: ["encoder"],
        channels=_nnunet_channels,
        divisors=_nnunet_divisors,
        description=f"{_what}; the pattern head on encoder.stages[-1]",
    ))


def bottleneck_path(spec: BackboneSpec, net: nn.Module) -> str:
    """The module path (inside the network) whose output is the bottleneck."""
    last = spec.encoder(net)[-1]
    if spec.family == "nnunet":  # the encoder returns its skips; the bottleneck is its last stage
        return f"{last}.stages.{len(net.encoder.stages) - 1}"
    return last


# ---- the models --------------------------------------------------------------------------


class _Stop(Exception):
    """Raised by the bottleneck hook to end a forward pass that needs only the bottleneck."""


class _FrameworkNet(nn.Module):
    """The shared part of :class:`Backbone` and :class:`BackboneClassifier`: the framework
    network ``net`` and a hook that catches its bottleneck."""

    def __init__(self, backbone: str, spatial_dims: int, in_channels: int, out_channels: int, args: Mapping[str, Any] | None) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        spec = get_backbone(backbone)
        if args is None:
            raise ValueError(f"backbone {backbone}: give its arguments (semgen.models.backbone_architecture fills the defaults)")
        self.spec, self.backbone, self.backbone_args = spec, backbone, _json_args(args)
        self.spatial_dims, self.in_channels, self.out_channels = spatial_dims, in_channels, out_channels
        try:
            self.net = spec.build(spatial_dims, in_channels, out_channels, dict(self.backbone_args))
        except TypeError as e:
            raise ValueError(f"--backbone-args for {backbone} ({spec.target}): {e}") from None
        self.encoder_paths = tuple(f"net.{p}" for p in spec.encoder(self.net))
        self.bottleneck_channels = spec.channels(self.backbone_args)
        self.divisors = spec.divisors(spatial_dims, self.backbone_args)
        # instance normalisation needs more than one voxel per channel, also at the bottleneck
        self.instance_norm = any(isinstance(m, nn.modules.instancenorm._InstanceNorm) for m in self.net.modules())
        self._bottleneck: torch.Tensor | None = None
        self._stop = False
        self.net.get_submodule(bottleneck_path(spec, self.net)).register_forward_hook(self._catch)

    def _catch(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self._bottleneck = output
        if self._stop:
            raise _Stop

    def check_input(self, x: torch.Tensor) -> None:
        """``ValueError`` unless ``x`` is (B, in_channels, *S) with each size divisible as the network needs."""
        if x.dim() != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, {self.spatial_dims} sizes), got shape {tuple(x.shape)}")
        if any(int(s) % d for s, d in zip(x.shape[2:], self.divisors)):
            raise ValueError(
                f"{self.backbone}: spatial sizes must be divisible by {'x'.join(map(str, self.divisors))}, got "
                f"{tuple(x.shape[2:])}; crop or pad the input (or choose a --patch that fits)"
            )
        if self.instance_norm and math.prod(int(s) // d for s, d in zip(x.shape[2:], self.divisors)) == 1:
            raise ValueError(
                f"{self.backbone}: a {'x'.join(map(str, x.shape[2:]))} input leaves one voxel at the bottleneck (1/"
                f"{'x'.join(map(str, self.divisors))}), which instance normalisation cannot take; use a --patch of at "
                f"least twice that on one axis, or fewer downsamplings in --backbone-args"
            )

    def run(self, x: torch.Tensor, output: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``(network output or None, bottleneck)``; with ``output=False`` the pass stops at the bottleneck."""
        self.check_input(x)
        self._stop, self._bottleneck = not output, None
        try:
            out = self.net(x)
        except _Stop:
            out = None
        finally:
            self._stop = False
        bottleneck, self._bottleneck = self._bottleneck, None
        return out, bottleneck

    def part_names(self) -> dict[str, tuple[str, ...]]:
        """Module paths of each part, first match wins in this order: the encoder's modules, then
        the rest of the network (decoder), then the head."""
        return {"encoder": self.encoder_paths, "decoder": ("net",), "head": self.head_names}

    def _args(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "spatial_dims": self.spatial_dims, "in_channels": self.in_channels,
                "args": dict(self.backbone_args)}


class Backbone(_FrameworkNet):
    """A framework encoder-decoder network (:data:`BACKBONES`) with the pattern head on its
    bottleneck: the pre-training model of ``semgen pretrain --backbone NAME`` and the
    segmentation model fine-tuned from it.

    Args:
        backbone: a name in :data:`BACKBONES`.
        spatial_dims, in_channels, out_channels: as for :class:`~semgen.models.UNet`.
        num_classes: > 0 attaches the pattern-classification head ``clc_out``.
        args: the network class's own arguments (all of them: see :func:`backbone_architecture`).

    ``forward(x (B, in_channels, *S))`` returns ``(logits (B, out_channels, *S), class logits
    (B, num_classes) or None)``; ``branches(x, classification, restoration)`` runs only what
    a training step needs. The state dict is ``net.<the class's own keys>`` + ``clc_out.*``.
    """

    head_names: tuple[str, ...]

    def __init__(self, backbone: str, spatial_dims: int = 3, in_channels: int = 1, out_channels: int = 1,
                 num_classes: int = 0, args: Mapping[str, Any] | None = None) -> None:
        super().__init__(backbone, spatial_dims, in_channels, out_channels, args)
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.clc_out = ClassificationHead(self.bottleneck_channels, num_classes, spatial_dims, "batch") if num_classes else None
        self.head_names = ("clc_out",) if num_classes else ()

    @property
    def architecture(self) -> dict[str, Any]:
        """``{"name": "Backbone", "args": {...}}`` for :func:`semgen.models.build_model`."""
        return {"name": "Backbone", "args": {**self._args(), "out_channels": self.out_channels, "num_classes": self.num_classes}}

    def branches(self, x: torch.Tensor, classification: bool = True, restoration: bool = True):
        """``(restoration logits or None, class logits or None)``; the decoder runs only for restoration."""
        out, bottleneck = self.run(x, output=restoration)
        logits = self.clc_out(bottleneck) if classification and self.clc_out is not None else None
        return out, logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.branches(x, classification=self.clc_out is not None, restoration=True)


class BackboneClassifier(_FrameworkNet):
    """A framework network's encoder + a new linear head, for classification fine-tuning of a
    :class:`Backbone` checkpoint (as :class:`~semgen.models.EncoderClassifier` for the U-Net):
    global average pooling of the bottleneck → dropout → ``fc``. The whole network is kept
    (its keys load from the checkpoint as they are); only the encoder runs.

    ``forward(x (B, in_channels, *S)) -> (B, num_outputs)`` logits.
    """

    def __init__(self, backbone: str, spatial_dims: int = 3, in_channels: int = 1, num_outputs: int = 2,
                 args: Mapping[str, Any] | None = None, dropout: float = 0.0) -> None:
        super().__init__(backbone, spatial_dims, in_channels, 1, args)
        if not isinstance(num_outputs, int) or num_outputs < 1:
            raise ValueError(f"num_outputs must be a positive integer, got {num_outputs!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.num_outputs, self.dropout_p = num_outputs, float(dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.bottleneck_channels, num_outputs)
        self.head_names = ("fc",)

    @property
    def architecture(self) -> dict[str, Any]:
        """``{"name": "BackboneClassifier", "args": {...}}`` for :func:`semgen.models.build_model`."""
        return {"name": "BackboneClassifier", "args": {**self._args(), "num_outputs": self.num_outputs, "dropout": self.dropout_p}}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, bottleneck = self.run(x, output=False)
        return self.fc(self.dropout(torch.flatten(bottleneck, 2).mean(dim=2)))


MODELS.update({"Backbone": Backbone, "BackboneClassifier": BackboneClassifier})


def backbone_architecture(
    backbone: str,
    args: Mapping[str, Any] | None,
    *,
    spatial_dims: int,
    in_channels: int = 1,
    out_channels: int = 1,
    num_classes: int = 0,
    width: int = 8,
    norm: str = "batch",
    encoder: str = "unet",
) -> dict[str, Any]:
    """The architecture (``{"name", "args"}``, for :func:`~semgen.models.build_model`) of
    ``--backbone backbone --backbone-args args``: ``semgen`` is the published U-Net
    (``width``, ``norm``, ``encoder``, or the same keys in ``args``); any other name a
    :class:`Backbone` with the network's defaults at base ``width`` updated by ``args``."""
    args = dict(args or {})
    if backbone == DEFAULT_BACKBONE:
        unknown = sorted(set(args) - {"width", "norm", "encoder"})
        if unknown:
            raise ValueError(f"--backbone-args {', '.join(unknown)}: the semgen U-Net takes width, norm, encoder")
        unet = {"width": width, "norm": norm, "encoder": encoder, **args}
        return {"name": "UNet", "args": {"spatial_dims": spatial_dims, "in_channels": in_channels,
                                         "out_channels": out_channels, "num_classes": num_classes, **unet}}
    spec = get_backbone(backbone)
    return {"name": "Backbone", "args": {"backbone": backbone, "spatial_dims": spatial_dims, "in_channels": in_channels,
                                         "out_channels": out_channels, "num_classes": num_classes,
                                         "args": {**spec.defaults(spatial_dims, width), **args}}}


def task_architecture(backbone: Mapping[str, Any], task: str, n_outputs: int) -> dict[str, Any]:
    """The fine-tuning architecture of a :class:`Backbone` checkpoint's arguments ``backbone``
    (``backbone``, ``spatial_dims``, ``in_channels``, ``args``): the same network with
    ``n_outputs`` output channels (segmentation) or a :class:`BackboneClassifier`."""
    base = {k: backbone[k] for k in ("backbone", "spatial_dims", "in_channels", "args")}
    if task == "classification":
        return {"name": "BackboneClassifier", "args": {**base, "num_outputs": n_outputs}}
    return {"name": "Backbone", "args": {**base, "out_channels": n_outputs}}
