"""Model cards: what a checkpoint is, generated from its JSON metadata alone.

One generator, :func:`card_facts`, reads a checkpoint's metadata (``model.json``: written by
``semgen pretrain``, ``semgen finetune`` and ``semgen export``) and returns its facts in
sections: the model (stage, method, architecture and arguments), the input it expects
(channels, axis order and orientation, patch, spacing, intensity window), the data it was
trained on (modality, number of scans or samples, training-manifest hash, dataset names,
classes) and the training (epochs, final metrics, seed, version). ``semgen inspect`` prints
these facts; :func:`model_card` renders them as a Hugging Face style ``README.md``: YAML front
matter (``library_name: semgen``, a licence placeholder, tags, the datasets the user named
with ``--dataset-name``) and a Markdown body with how to load the weights in semgen, MONAI
and nnU-Net.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from semgen.utils.io import atomic_write, read_json

CARD = "README.md"
LICENSE_PLACEHOLDER = "unknown"

Facts = list[tuple[str, list[tuple[str, str]]]]


def _size(value: Any) -> str:
    return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) if value else "-"


def describe_window(window: Mapping[str, Any] | None, modality: str | None = None) -> str:
    """A window dict (``semgen.io.normalize_intensity``) in words, e.g. ``CT HU -1000..1000 -> [0, 1]``."""
    if not window:
        default = {"CT": "CT HU -1000..1000", "MR": "MR per-volume percentiles 0.5..99.5",
                   "XR": "min-max per image", "OT": "min-max per image"}.get(modality or "", "per-modality default")
        return f"{default} -> [0, 1] (the modality's default)"
    kind = window.get("kind")
    if kind == "ct":
        return f"CT HU {window['low']:g}..{window['high']:g} -> [0, 1]"
    if kind == "mr":
        lo, hi = window["percentiles"]
        return f"MR per-volume percentiles {lo:g}..{hi:g} -> [0, 1]"
    return "min-max per image -> [0, 1]"


def backbone_args(arch: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(name, arguments)`` of an architecture dict, an EncoderClassifier's U-Net arguments inlined."""
    args = dict(arch.get("args") or {})
    if isinstance(args.get("unet_or_args"), Mapping):  # EncoderClassifier: the U-Net encoder + a linear head
        args = {**args.pop("unet_or_args"), **args}
    return str(arch.get("name")), args


def _metrics(values: Mapping[str, Any]) -> str:
    shown = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("trial", "seed")]
    return ", ".join(shown) or "-"


def card_facts(meta: Mapping[str, Any]) -> Facts:
    """The facts of a semgen checkpoint's metadata, as ``[(section, [(label, value), ...]), ...]``
    with sections Model, Input, Data and Training (plain strings, ready to print)."""
    extra = dict(meta.get("extra") or {})
    name, args = backbone_args(meta.get("architecture") or {})
    finetuned = extra.get("stage") == "finetune"
    model = [
        ("stage", f"fine-tuned on {extra.get('task_name')} ({extra.get('task')}) from {extra.get('init')}" if finetuned
         else "self-supervised pre-training"),
        ("method", str(meta.get("method") or "-")),
        ("architecture", f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"),
    ]
    if meta.get("num_classes"):
        model.append(("pattern classes", str(meta["num_classes"])))
    if meta.get("export"):
        model.append(("export", f"{meta['export']['part']} part of {meta['export']['source']}"))
    dims = int(meta.get("spatial_dims") or args.get("spatial_dims") or 3)
    axes = "X, Y, Z" if dims == 3 else "X, Y"
    modality = extra.get("modality")
    inputs = [
        ("tensor", f"(B, {meta.get('in_channels', args.get('in_channels', 1))}, {axes}) float32 in [0, 1]"),
        ("orientation", f"axis order {meta.get('axis_order') or 'XYZ'[:dims]}, {meta.get('orientation') or 'LPS'[:dims]} "
                        "(x toward the patient's left, y posterior, z superior)"),
        ("patch", _size(meta.get("patch_size"))),
        ("spacing", f"{_size(meta.get('spacing'))} mm" if meta.get("spacing") else "native (not resampled)"),
        ("intensity window", describe_window(meta.get("intensity_window"), modality)),
    ]
    data = [("modality", str(modality or "-"))]
    if extra.get("scans") is not None:
        data.append(("scans", str(extra["scans"])))
    if extra.get("samples"):
        data.append(("samples", ", ".join(f"{n} {s}" for s, n in extra["samples"].items())))
    data.append(("training manifest", str(meta.get("manifest_hash") or "-")))
    data.append(("datasets", ", ".join(extra.get("datasets") or []) or "-"))
    if extra.get("class_names"):
        data.append(("classes", ", ".join(extra["class_names"])))
    if extra.get("label_names"):
        values = extra.get("label_values") or []
        data.append(("labels", ", ".join(f"{values[int(i)] if int(i) < len(values) else i} {n}"
                                         for i, n in extra["label_names"].items())))
    if finetuned:
        training = [
            ("trial", f"{extra.get('trial')} ({extra.get('selected_by')})"),
            ("best epoch", str(extra.get("epoch", "-"))),
            ("test metrics", _metrics(extra.get("test") or {})),
        ]
    else:
        config = extra.get("pretrain_config") or {}
        training = [
            ("epochs", f"best epoch {extra.get('epoch', '-')} of at most {config.get('epochs', '-')}"),
            ("validation", _metrics({"loss": extra.get("val_loss"), **(extra.get("val_metrics") or {})})),
        ]
    if extra.get("seed") is not None:
        training.append(("seed", str(extra["seed"])))
    if meta.get("sha256"):
        training.append(("weights SHA-256", str(meta["sha256"])))
    training.append(("made by", f"semgen {meta.get('semgen_version')}, {meta.get('created')}"))
    return [("Model", model), ("Input", inputs), ("Data", data), ("Training", training)]


def format_facts(facts: Facts) -> str:
    """The facts as indented text (``semgen inspect``)."""
    lines = []
    for section, items in facts:
        lines.append(f"{section}:")
        lines += [f"  {label}: {value}" for label, value in items]
    return "\n".join(lines)


def _tags(meta: Mapping[str, Any]) -> list[str]:
    extra = meta.get("extra") or {}
    tags = ["semgen", "medical-imaging", "self-supervised-learning", f"{meta.get('spatial_dims', 3)}d"]
    tags += [str(t).lower() for t in (meta.get("method"), extra.get("modality"), extra.get("task")) if t]
    tags.append(backbone_args(meta.get("architecture") or {})[0].lower())
    return list(dict.fromkeys(tags))


def _how_to_load(meta: Mapping[str, Any], weights: str) -> str:
    extra = meta.get("extra") or {}
    name, _ = backbone_args(meta.get("architecture") or {})
    patch = list(meta.get("patch_size") or [])
    export = meta.get("export") or {}
    part = export.get("part", "full")
    if export.get("to") in ("monai", "nnunet"):  # an export for a framework: how that framework takes it
        return "\n".join(["## How to load", "", f"**{export['to']}**: this file holds the weights of "
                          f"`{export.get('class')}` ({export.get('checked')}):", "", "```", str(meta.get("load_with")), "```", ""])
    lines = ["## How to load", "", "**semgen**", "", "```python"]
    if part == "full":
        lines += ["from semgen.models import load_checkpoint", f'model, meta = load_checkpoint("{weights}")  # architecture from the JSON']
    else:
        lines += ["from semgen.models import UNet, load_pretrained",
                  "model = UNet(**ARGS)  # the architecture above",
                  f'print(load_pretrained(model, "{weights}").summary())']
    lines += ["```", ""]
    if extra.get("stage") == "finetune":
        lines += ["```bash", f"semgen predict {weights} SCANS... --out PREDICTIONS", "```", ""]
    else:
        lines += ["```bash", f"semgen finetune DATA --init {weights} --out RESULTS", "```", ""]
    lines += [
        "**MONAI**: the network is a plain `torch.nn.Module`; MONAI's inferer runs it on whole scans "
        "prepared as above (the first output is the segmentation/restoration):", "",
        "```python", "from monai.inferers import sliding_window_inference",
        f"logits = sliding_window_inference(x, roi_size={tuple(patch)}, sw_batch_size=4, predictor=lambda t: model(t)[0])",
        "```", "",
    ]
    backbone = str(((meta.get("architecture") or {}).get("args") or {}).get("backbone") or "")
    if backbone:  # a framework network (semgen --backbone): the verb that writes its weights for that framework
        family = backbone.split("-", 1)[0]
        lines += [f"**{family}**: the network is `{backbone}`; `semgen export {weights} --to {family} --out FILE` writes "
                  f"its weights in the form {family} loads (see the semgen README, \"Use with MONAI / nnU-Net\").", ""]
    elif name in ("UNet", "EncoderClassifier"):
        lines += [f"**nnU-Net**: nnU-Net v2 builds its own networks, whose layers this {name} does not have, so "
                  "`-pretrained_weights` cannot take these weights; pre-train an nnU-Net network with "
                  "`semgen pretrain --backbone nnunet-plainconvunet` to use them there.", ""]
    return "\n".join(lines)


def model_card(meta: Mapping[str, Any], *, weights: str = "model.safetensors", datasets: Sequence[str] = ()) -> str:
    """The ``README.md`` text of a checkpoint: YAML front matter + Markdown body from
    :func:`card_facts`. ``datasets``: names added to those recorded in the metadata."""
    extra = meta.get("extra") or {}
    names = list(dict.fromkeys([*(extra.get("datasets") or []), *datasets]))
    front: dict[str, Any] = {"library_name": "semgen", "license": LICENSE_PLACEHOLDER, "tags": _tags(meta)}
    if names:
        front["datasets"] = names
    if extra.get("task") in ("segmentation", "classification"):
        front["pipeline_tag"] = f"image-{extra['task']}"
    title = (f"{extra.get('task_name')} ({extra.get('task')}), fine-tuned by semgen" if extra.get("stage") == "finetune"
             else f"{meta.get('method') or 'pre-trained'} {backbone_args(meta.get('architecture') or {})[0]}, pre-trained by semgen")
    body = [f"# {title}", "",
            "Made with semgen, [Semantic Genesis](https://arxiv.org/abs/2007.06959) for PyTorch. Every fact below "
            f"comes from `{Path(weights).with_suffix('.json').name}`; set `license:` above before you share the weights.", ""]
    for section, items in card_facts(meta):
        body += [f"## {section}", ""] + [f"- **{label}**: {value}" for label, value in items] + [""]
    body.append(_how_to_load(meta, weights))
    return "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n" + "\n".join(body)


def write_card(weights: str | os.PathLike, card: str | os.PathLike | None = None, *, datasets: Sequence[str] = ()) -> Path:
    """Write the model card of the checkpoint ``weights`` (its ``.json`` beside it) to ``card``
    (default: ``README.md`` in the checkpoint's folder), atomically; returns the card's path."""
    weights = Path(weights)
    meta = read_json(weights.with_suffix(".json"))
    path = Path(card) if card is not None else weights.parent / CARD
    with atomic_write(path) as f:
        f.write(model_card(meta, weights=weights.name, datasets=datasets))
    return path
