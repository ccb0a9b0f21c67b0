"""Weights for the framework a user fine-tunes in (``semgen export --to monai|nnunet``).

A :class:`~semgen.models.Backbone` holds the framework network under ``net.``, so its weights
for that framework are its state dict less that prefix (the pattern head ``clc_out`` is
dropped: no framework network has it):

- **MONAI**: a plain state dict that ``monai.networks.nets.<Class>(spatial_dims, in_channels,
  out_channels, **args).load_state_dict(sd, strict=True)`` takes; :func:`check_monai`
  builds that class from the recorded arguments and loads it strictly (the keys that differ
  are reported when it cannot).
- **nnU-Net v2**: ``{"network_weights": state dict}`` saved with ``torch.save``, what
  ``nnUNetv2_train ... -pretrained_weights FILE`` reads
  (``nnunetv2/run/load_pretrained_weights.py``: ``torch.load(f)['network_weights']``; every
  key of nnU-Net's network except those containing ``.seg_layers.`` must be in the file with
  the same shape; the segmentation layers are not transferred). :func:`nnunet_load` is that
  rule, re-implemented (nnunetv2 itself is not a dependency), and :func:`check_plans`
  compares a plans file's network with the run's: the network class
  (``configurations.<name>.architecture.network_class_name``) and every ``arch_kwargs``
  entry (``n_stages``, ``features_per_stage``, ``conv_op``, ``kernel_sizes``, ``strides``,
  ``n_conv_per_stage`` / ``n_blocks_per_stage``, ``n_conv_per_stage_decoder``, ``conv_bias``,
  ``norm_op`` and its kwargs, ``dropout_op``, ``nonlin`` and their kwargs) must be equal.
  The number of input channels (the dataset's ``channel_names``) must be the run's too; the
  number of classes may differ (the segmentation layers are skipped).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semgen.models.backbones import BACKBONES
from semgen.models.checkpoint import CheckpointError
from semgen.utils.io import read_json

TARGETS = ("monai", "nnunet")
NNUNET_SKIP = (".seg_layers.",)  # nnunetv2.run.load_pretrained_weights: never transferred


class ExportMismatch(ValueError):
    """Exported weights that the framework would not take; the message lists what differs."""


def framework_state(model: nn.Module, target: str, where: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``(the framework network's state dict, dropped keys)`` of a :class:`Backbone` (or
    :class:`BackboneClassifier`) whose network belongs to ``target``; :class:`CheckpointError`
    naming ``where`` for any other model."""
    backbone = getattr(model, "backbone", None)
    if backbone not in BACKBONES:
        raise CheckpointError(
            f"{where}: holds semgen's own {type(model).__name__}, which is not a {target} network; pre-train one with "
            f"--backbone ({', '.join(n for n, s in BACKBONES.items() if s.family == target)}) to export it --to {target}"
        )
    family = BACKBONES[backbone].family
    if family != target:
        raise CheckpointError(f"{where}: its backbone {backbone} is a {family} network; export it with --to {family}")
    state = model.state_dict()
    kept = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    return kept, [k for k in state if not k.startswith("net.")]


def framework_network(model: nn.Module, out_channels: int | None = None) -> nn.Module:
    """A fresh instance of the model's framework class built from its recorded arguments, as the
    user builds it (``out_channels``: another number of outputs, e.g. the target task's classes)."""
    spec = BACKBONES[model.backbone]
    return spec.build(model.spatial_dims, model.in_channels, out_channels or model.out_channels, dict(model.backbone_args))


def check_monai(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """Load ``state`` into a new MONAI network of the model's class, ``strict=True``; returns how
    to build it. :class:`ExportMismatch` listing the keys that differ otherwise."""
    net = framework_network(model)
    own = net.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise ExportMismatch(f"the weights do not load into {BACKBONES[model.backbone].target} with strict=True: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]}, other shapes {shapes[:5]}")
    net.load_state_dict(state, strict=True)
    return monai_constructor(model)


def monai_constructor(model: nn.Module) -> str:
    """The Python expression that builds the model's MONAI network."""
    spec = BACKBONES[model.backbone]
    args = ", ".join(f"{k}={v!r}" for k, v in model.backbone_args.items())
    return (f"{spec.target}(spatial_dims={model.spatial_dims}, in_channels={model.in_channels}, "
            f"out_channels={model.out_channels}, {args})")


def nnunet_load(network: nn.Module, pretrained: Mapping[str, torch.Tensor]) -> list[str]:
    """nnU-Net v2's ``load_pretrained_weights`` on a plain (not DDP) network: every key of the
    network's state dict without ``.seg_layers.`` must be in ``pretrained`` with the same
    shape (:class:`ExportMismatch` naming the first that is not, as nnU-Net's assert does);
    then those keys are copied and the network loads them. Returns the copied keys."""
    model_dict = network.state_dict()
    for key, value in model_dict.items():
        if all(s not in key for s in NNUNET_SKIP):
            if key not in pretrained:
                raise ExportMismatch(f"key {key} is missing in the pretrained weights (nnU-Net refuses them)")
            if value.shape != pretrained[key].shape:
                raise ExportMismatch(f"key {key}: pretrained shape {tuple(pretrained[key].shape)}, nnU-Net's network "
                                     f"{tuple(value.shape)} (nnU-Net refuses them)")
    taken = {k: v for k, v in pretrained.items() if k in model_dict and all(s not in k for s in NNUNET_SKIP)}
    model_dict.update(taken)
    network.load_state_dict(model_dict)
    return list(taken)


def read_plans(path: str | os.PathLike, configuration: str) -> tuple[str, dict[str, Any]]:
    """``(network_class_name, arch_kwargs)`` of ``configuration`` in an nnU-Net v2 plans file,
    following ``inherits_from``. ``ValueError`` naming the file for a missing configuration or
    a plans file without ``architecture`` (an older nnU-Net v2 format)."""
    plans = read_json(path)
    configs = plans.get("configurations") if isinstance(plans, dict) else None
    if not isinstance(configs, dict):
        raise ValueError(f"--plans {path}: not an nnU-Net v2 plans file (no 'configurations')")
    merged: dict[str, Any] = {}
    name, seen = configuration, []
    while name is not None:
        if name not in configs or name in seen:
            raise ValueError(f"--plans {path}: no configuration {name!r}; it has {', '.join(configs)} (--configuration)")
        seen.append(name)
        merged = {**configs[name], **merged}
        name = configs[name].get("inherits_from")
    arch = merged.get("architecture")
    if not isinstance(arch, dict) or "network_class_name" not in arch or "arch_kwargs" not in arch:
        raise ValueError(f"--plans {path}: configuration {configuration!r} has no architecture.network_class_name / "
                         "arch_kwargs (an older plans format); re-plan with a current nnU-Net v2")
    return str(arch["network_class_name"]), dict(arch["arch_kwargs"])


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _expand(key: str, value: Any, n_stages: int, dims: int) -> Any:
    """A value nnU-Net lets be given short (an int for every stage / axis) in its long form."""
    if key in ("kernel_sizes", "strides") and not isinstance(value, list):
        return [[value] * dims] * n_stages
    if key in ("kernel_sizes", "strides"):
        return [[v] * dims if not isinstance(v, list) else v for v in value]
    if key in ("features_per_stage", "n_conv_per_stage", "n_blocks_per_stage") and not isinstance(value, list):
        return [value] * n_stages
    if key == "n_conv_per_stage_decoder" and not isinstance(value, list):
        return [value] * (n_stages - 1)
    return value


def check_plans(model: nn.Module, path: str | os.PathLike, configuration: str) -> dict[str, Any]:
    """Compare the run's nnU-Net network with ``configuration`` of the plans file ``path``;
    returns ``{"plans", "configuration", "network_class_name"}``. :class:`ExportMismatch`
    listing every field that differs (then ``nnUNetv2_train -pretrained_weights`` would refuse
    the weights, or build another network)."""
    class_name, plans_kwargs = read_plans(path, configuration)
    target = BACKBONES[model.backbone].target
    problems = []
    if class_name.rsplit(".", 1)[-1] != target.rsplit(".", 1)[-1]:
        problems.append(f"network class: plans {class_name}, run {target}")
    ours = model.backbone_args
    dims, n = model.spatial_dims, int(ours.get("n_stages", 0))
    for key in sorted(set(plans_kwargs) | set(ours)):
        theirs = _expand(key, _plain(plans_kwargs.get(key)), n, dims)
        mine = _expand(key, _plain(ours.get(key)), n, dims)
        if theirs != mine:
            problems.append(f"{key}: plans {plans_kwargs.get(key)!r}, run {ours.get(key)!r}")
    if problems:
        raise ExportMismatch(f"--plans {path} ({configuration}) describes another network than the run's: " + "; ".join(problems))
    return {"plans": str(Path(path)), "configuration": configuration, "network_class_name": class_name}
