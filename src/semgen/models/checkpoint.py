"""Self-describing checkpoints and a weight-loading policy with a report.

A semgen checkpoint is ``NAME.safetensors`` (the state dict; its header repeats the
architecture) plus ``NAME.json`` (the metadata: architecture and arguments, spatial dims,
channels, patch size, spacing, intensity window, axis order, orientation, number of pattern
classes, method, semgen version, training-manifest hash, creation time, free ``extra``).

:func:`load_pretrained` fills any of our models from our checkpoints, from the published
Models Genesis ``Genesis_Chest_CT.pt`` (``state_dict`` with ``module.`` prefixes), from the
published Semantic Genesis / TransVW ``.pt`` (``module.`` and ``classficationNet.`` prefixes,
extra ``projection_head`` / ``prototypes`` tensors, reference Sec. 4.4) and from a bare
state dict, and says what it loaded.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semgen import __version__
from semgen.models.unet import build_model, part_of
from semgen.utils.io import atomic_path, check_sha256, file_sha256, read_json, write_json

logger = logging.getLogger(__name__)

FORMAT = "semgen-checkpoint"
FORMAT_VERSION = 1
STRIP_PREFIXES = ("module.", "_orig_mod.", "classficationNet.", "classificationNet.")
DROP_MARKERS = ("projection_head", "prototypes")
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
METADATA_FIELDS = (
    "patch_size",
    "spacing",
    "intensity_window",
    "axis_order",
    "orientation",
    "method",
    "manifest_hash",
)
ADAPT_MODES = ("mean", "repeat")

__all__ = [
    "CheckpointError",
    "LoadReport",
    "describe_checkpoint",
    "load_checkpoint",
    "load_pretrained",
    "read_state_dict",
    "save_checkpoint",
    "save_weights",
]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not fit the model; the message names the
    file, the problem and what to do."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel``/``DataParallel`` or ``torch.compile`` wrapper."""
    while True:
        if getattr(model, "_orig_mod", None) is not None:
            model = model._orig_mod
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


def sidecar_path(weights: str | os.PathLike) -> Path:
    """``NAME.json`` beside ``NAME.safetensors`` (or ``NAME.pt``)."""
    return Path(weights).with_suffix(".json")


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The weights file meant by ``path``: itself, ``RUN/model.safetensors`` for a run folder,
    or ``NAME.safetensors`` for ``NAME.json``. Raises :class:`CheckpointError` when absent."""
    p = Path(path)
    if p.is_dir():
        candidate = p / "model.safetensors"
        if not candidate.is_file():
            raise CheckpointError(f"{p}: a folder without model.safetensors; pass the checkpoint file itself")
        return candidate
    if p.suffix == ".json":
        for suffix in (".safetensors", ".pt"):
            if p.with_suffix(suffix).is_file():
                return p.with_suffix(suffix)
        raise CheckpointError(f"{p}: no weights file ({p.with_suffix('.safetensors').name}) beside this metadata")
    if not p.exists():
        from semgen.io.scan import missing_reason

        raise CheckpointError(f"{p}: {missing_reason(p)}")
    return p


def save_weights(path: str | os.PathLike, state: Mapping[str, torch.Tensor], header: Mapping[str, Any]) -> str:
    """Write ``state`` atomically: safetensors (``header`` values JSON-encoded into its
    metadata) for ``.safetensors``, otherwise a plain ``torch.save`` dict of tensors (loadable
    with ``torch.load(weights_only=True)``). Returns the file's SHA-256 (hex), which the JSON
    beside it records so that loading detects damage."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for k, v in state.items():  # a tensor under two names (nnU-Net's networks alias modules) is written twice
        v = v.detach().cpu().contiguous()
        where = (v.untyped_storage().data_ptr(), v.storage_offset())
        tensors[k] = v.clone() if where in seen and v.numel() else v
        seen.add(where)
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".safetensors":
            save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in header.items()})
        else:
            torch.save(tensors, tmp)
        digest = file_sha256(tmp)
    return digest


def _model_fields(model: nn.Module) -> dict[str, Any]:
    arch = model.architecture
    args = arch["args"]
    backbone = args.get("unet_or_args", args)
    return {
        "architecture": arch,
        "spatial_dims": backbone["spatial_dims"],
        "in_channels": backbone["in_channels"],
        "out_channels": args.get("out_channels"),
        "num_classes": args.get("num_classes"),
    }


def save_checkpoint(path: str | os.PathLike, model: nn.Module, metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``path`` (``.safetensors``) and ``path.with_suffix('.json')``, both atomically.

    ``metadata`` may give ``patch_size``, ``spacing``, ``intensity_window``, ``axis_order``
    (default ``"XYZ"``), ``orientation`` (default ``"LPS"``), ``method``, ``manifest_hash`` and
    ``extra`` (a dict); any other key is kept under ``extra``. Architecture, spatial dims,
    channels and ``num_classes`` come from the model (a mismatching value raises ``ValueError``).
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: a checkpoint is written as .safetensors (its metadata goes beside it as .json)")
    model = unwrap_model(model)
    if not hasattr(model, "architecture"):
        raise ValueError(f"{type(model).__name__} has no .architecture; save a semgen model (UNet, EncoderClassifier)")
    given = dict(metadata or {})
    derived = _model_fields(model)
    for key, value in derived.items():
        if key in given and given.pop(key) != value:
            raise ValueError(f"metadata {key}={metadata[key]!r} contradicts the model ({value!r})")
    extra = dict(given.pop("extra", None) or {})
    extra.update({k: given.pop(k) for k in list(given) if k not in METADATA_FIELDS})
    meta: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, **derived}
    meta.update({k: None for k in METADATA_FIELDS})
    meta.update({"axis_order": "XYZ", "orientation": "LPS"})
    meta.update(given)
    meta.update(
        {
            "semgen_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "extra": extra,
        }
    )
    meta["sha256"] = save_weights(path, model.state_dict(), {"format": FORMAT, "architecture": meta["architecture"]})
    write_json(sidecar_path(path), meta)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for unreadable headers/data
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or another format: {e})") from None
    decoded: dict[str, Any] = {}
    for k, v in header.items():
        try:
            decoded[k] = json.loads(v)
        except json.JSONDecodeError:
            decoded[k] = v
    return state, decoded


def _read_pickle(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):
            raise CheckpointError(
                f"{path}: holds Python objects besides tensors, and semgen reads .pt files with "
                "torch.load(weights_only=True) so that a file cannot run code. If you trust it, load it "
                "yourself with torch.load(path, weights_only=False) and pass the state dict to load_pretrained"
            ) from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (not a tensor file torch.load can read)") from None
    except Exception as e:  # on arbitrary bytes torch.load fails with many error types
        raise CheckpointError(f"{path}: not a PyTorch checkpoint, or a truncated one ({e})") from None


def extract_state_dict(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint object: ``obj["state_dict"]``,
    ``obj["model"]``, ``obj["model_state_dict"]``, ``obj["network_weights"]`` (nnU-Net) or
    ``obj`` itself when it maps names to tensors."""
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{where}: holds a {type(obj).__name__}, not a state dict")
    for key in ("state_dict", "model_state_dict", "model", "network_weights"):
        if isinstance(obj.get(key), Mapping):
            return extract_state_dict(obj[key], where)
    if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        return dict(obj)
    keys = ", ".join(map(str, list(obj)[:8]))
    raise CheckpointError(f"{where}: no state dict found (top-level keys: {keys or 'none'})")


def read_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read the tensors of a checkpoint: a ``.safetensors`` file (its ``.json`` or run folder),
    a ``.pt/.pth/.tar`` file, or an in-memory mapping. Returns ``(state_dict, header)`` where
    ``header`` is the safetensors metadata (empty for other sources)."""
    if isinstance(source, Mapping):
        return extract_state_dict(source, "the given mapping"), {}
    path = resolve_checkpoint(source)
    verify_checksum(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return extract_state_dict(_read_pickle(path), str(path)), {}


def verify_checksum(weights: Path) -> None:
    """:class:`CheckpointError` when the JSON beside ``weights`` records a SHA-256 the file no
    longer has (every reader of weights calls it; call it to fail early, before other work)."""
    side = sidecar_path(weights)
    if not side.is_file():
        return
    try:
        meta = read_json(side)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if isinstance(meta, dict):
        try:
            check_sha256(weights, meta.get("sha256"), side)
        except ValueError as e:
            raise CheckpointError(str(e)) from None


def normalize_keys(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str], set[str]]:
    """Published key layouts → ours: strip ``module.``, ``_orig_mod.``, ``classficationNet.``
    prefixes; drop ``projection_head`` / ``prototypes`` tensors (and a stripped name that
    collides with an unprefixed one). Returns ``(state, dropped keys, prefixes seen)``."""
    out: dict[str, torch.Tensor] = {}
    stripped: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    prefixes: set[str] = set()
    for key, value in state.items():
        if any(marker in key for marker in DROP_MARKERS):
            dropped.append(key)
            continue
        name, had_net_prefix = key, False
        while (prefix := next((p for p in STRIP_PREFIXES if name.startswith(p)), None)) is not None:
            prefixes.add(prefix)
            had_net_prefix |= prefix.endswith("Net.")
            name = name[len(prefix) :]
        (stripped if had_net_prefix else out)[name] = value
    for name, value in stripped.items():
        if name in out:
            dropped.append(f"classficationNet.{name}")
        else:
            out[name] = value
    return out, dropped, prefixes


def infer_architecture(state: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """Guess ``{"name", "args"}`` from normalised keys and shapes (for files without metadata);
    ``None`` when the keys are not those of a semgen/published U-Net."""
    if "down_tr64.ops.0.conv1.weight" in state:
        first, encoder = state["down_tr64.ops.0.conv1.weight"], "unet"
    elif "stem.0.weight" in state:
        first, encoder = state["stem.0.weight"], "resnet18"
    else:
        return None
    backbone = {
        "spatial_dims": first.dim() - 2,
        "in_channels": int(first.shape[1]),
        "width": int(first.shape[0]),
        "norm": "batch" if any(k.endswith("running_mean") for k in state) else "instance",
        "encoder": encoder,
    }
    if "fc.weight" in state and "out_tr.final_conv.weight" not in state:
        return {"name": "EncoderClassifier", "args": {"unet_or_args": backbone, "num_outputs": int(state["fc.weight"].shape[0])}}
    out = state.get("out_tr.final_conv.weight")
    head = state.get("clc_out.fc1.weight")
    args = {
        "spatial_dims": backbone["spatial_dims"],
        "in_channels": backbone["in_channels"],
        "out_channels": int(out.shape[0]) if out is not None else 1,
        "width": backbone["width"],
        "num_classes": int(head.shape[0]) if head is not None else 0,
        "norm": backbone["norm"],
        "encoder": encoder,
    }
    return {"name": "UNet", "args": args}


def describe_layout(header: Mapping[str, Any], prefixes: set[str], state: Mapping[str, torch.Tensor], dropped: list[str]) -> str:
    """One of ``semgen``, ``semantic-genesis``, ``models-genesis``, ``state-dict``."""
    if header.get("format") == FORMAT:
        return "semgen"
    if dropped or any(p.endswith("Net.") for p in prefixes):
        return "semantic-genesis"
    if "module." in prefixes:
        return "semantic-genesis" if any(k.startswith("clc_out.") for k in state) else "models-genesis"
    return "state-dict"


LAYOUT_NAMES = {
    "semgen": "semgen checkpoint",
    "semantic-genesis": "published Semantic Genesis / TransVW YNet3D layout",
    "models-genesis": "published Models Genesis UNet3D layout (DataParallel 'module.' prefix)",
    "state-dict": "bare state dict",
}


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did. ``mismatched`` holds ``(key, checkpoint shape, model shape)``."""

    source: str
    layout: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: counts of loaded / missing / unexpected / mis-shaped / dropped tensors; how
        many of the loaded are ``num_batches_tracked`` counters (shape-free, so they load into a
        model of any width)."""
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        counters = sum(k.endswith("num_batches_tracked") for k in self.loaded)
        text = (
            f"loaded {len(self.loaded)}/{total} tensors from {self.source} ({LAYOUT_NAMES[self.layout]}"
            + (f"; {counters} of the loaded are batch-norm step counters, not weights" if counters else "")
            + "): "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, {len(self.mismatched)} mis-shaped, "
            f"{len(self.dropped)} dropped"
        )
        return text + (f", adapted {', '.join(self.adapted)}" if self.adapted else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the report."""
        return {
            "source": self.source,
            "layout": self.layout,
            "loaded": self.loaded,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "mismatched": [[k, list(a), list(b)] for k, a, b in self.mismatched],
            "dropped": self.dropped,
            "adapted": self.adapted,
        }


def adapt_conv_input(weight: torch.Tensor, in_channels: int, mode: str) -> torch.Tensor:
    """Turn a conv weight (out, c, *k) into (out, in_channels, *k).

    ``"mean"``: every input channel gets the sum of the checkpoint's kernels / in_channels
    (1 → 3: each gets w/3; 3 → 1: the sum), so an image repeated over the channels gives the
    original response. ``"repeat"``: the checkpoint's channels are cycled, scaled by
    c / in_channels (the same response for repeated inputs when in_channels is a multiple of c).
    """
    c = weight.shape[1]
    if mode == "mean":
        return (weight.sum(dim=1, keepdim=True) / in_channels).expand(-1, in_channels, *weight.shape[2:]).clone()
    if mode == "repeat":
        return weight[:, torch.arange(in_channels) % c] * (c / in_channels)
    raise ValueError(f"adapt_first_conv must be one of {', '.join(ADAPT_MODES)} or None, got {mode!r}")


def _first_conv_key(model_state: Mapping[str, torch.Tensor]) -> str | None:
    return next((k for k, v in model_state.items() if k.endswith("weight") and v.dim() >= 4), None)


def _spatial_dims_of(state: Mapping[str, torch.Tensor]) -> int | None:
    conv = next((v for k, v in state.items() if k.endswith("weight") and v.dim() >= 4), None)
    return None if conv is None else conv.dim() - 2


def load_pretrained(
    model: nn.Module,
    path: str | os.PathLike | Mapping[str, Any],
    *,
    allow_missing_encoder: bool = False,
    adapt_first_conv: str | None = None,
) -> LoadReport:
    """Fill ``model`` with the tensors of a checkpoint whose names and shapes fit; report the rest.

    Accepts our ``.safetensors`` (or its ``.json``, or a run folder), a published Models
    Genesis / Semantic Genesis / TransVW ``.pt``, a ``.pt`` holding a bare state dict or a
    dict with ``state_dict``/``model``, or such a mapping in memory. Tensors with the model's
    name but another shape are reported as mis-shaped and not loaded (e.g. ``out_tr`` for a
    segmentation task with more classes). A one-line summary is logged.

    Raises :class:`CheckpointError` for an unreadable file, weights of the other spatial
    dimension, a first-conv channel mismatch (unless ``adapt_first_conv`` is ``"mean"`` or
    ``"repeat"``, see :func:`adapt_conv_input`), and when any encoder tensor would stay
    unloaded, unless ``allow_missing_encoder=True``.
    """
    if adapt_first_conv is not None and adapt_first_conv not in ADAPT_MODES:
        raise ValueError(f"adapt_first_conv must be one of {', '.join(ADAPT_MODES)} or None, got {adapt_first_conv!r}")
    source = "the given mapping" if isinstance(path, Mapping) else str(path)
    raw, header = read_state_dict(path)
    state, dropped, prefixes = normalize_keys(raw)
    target = unwrap_model(model)
    model_state = target.state_dict()
    report = LoadReport(source=source, layout=describe_layout(header, prefixes, state, dropped), dropped=dropped)

    ck_dims, model_dims = _spatial_dims_of(state), _spatial_dims_of(model_state)
    if ck_dims is not None and model_dims is not None and ck_dims != model_dims:
        raise CheckpointError(
            f"{source}: the weights are {ck_dims}D, the model is {model_dims}D; build the model with spatial_dims={ck_dims}"
        )
    first = _first_conv_key(model_state)
    if first is not None and first in state and state[first].shape != model_state[first].shape:
        ck, own = state[first].shape, model_state[first].shape
        if ck[0] == own[0] and ck[2:] == own[2:]:
            if adapt_first_conv is None:
                raise CheckpointError(
                    f"{source}: the checkpoint expects {ck[1]} input channel(s), the model has {own[1]}: build the "
                    f"model with in_channels={ck[1]}, or pass adapt_first_conv='mean' or 'repeat' to adapt {first}"
                )
            state[first] = adapt_conv_input(state[first], own[1], adapt_first_conv)
            report.adapted.append(first)

    to_load: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in model_state:
            report.unexpected.append(key)
        elif value.shape != model_state[key].shape:
            report.mismatched.append((key, tuple(value.shape), tuple(model_state[key].shape)))
        else:
            to_load[key] = value
    report.loaded = list(to_load)
    report.missing = [k for k in model_state if k not in state]

    if hasattr(target, "part_names") and not allow_missing_encoder:
        parts = target.part_names()
        encoder_keys = [
            k for k in model_state if part_of(k, parts) == "encoder" and not k.endswith("num_batches_tracked")
        ]
        absent = [k for k in encoder_keys if k not in to_load]
        if absent:
            raise CheckpointError(_encoder_message(source, report, absent, len(encoder_keys), state, model_state, first))

    try:
        with torch.no_grad():
            target.load_state_dict(to_load, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"{source}: cannot copy the tensors into the model ({e})") from None
    logger.info(report.summary())
    return report


def _encoder_message(
    source: str,
    report: LoadReport,
    absent: list[str],
    n_encoder: int,
    state: Mapping[str, torch.Tensor],
    model_state: Mapping[str, torch.Tensor],
    first: str | None,
) -> str:
    text = f"{source}: {len(absent)} of {n_encoder} encoder tensors would not be loaded (e.g. {absent[0]})"
    if first is not None and first in state and state[first].shape[0] != model_state[first].shape[0]:
        text += (
            f"; the checkpoint has width {state[first].shape[0]} ({first} {list(state[first].shape)}), "
            f"the model width {model_state[first].shape[0]}: build the model with width={state[first].shape[0]}"
        )
    elif report.mismatched:
        key, ck, own = report.mismatched[0]
        text += f"; shapes differ, e.g. {key}: checkpoint {list(ck)}, model {list(own)}"
    guess = infer_architecture(state)
    if guess is not None:
        text += f"; the checkpoint looks like {guess['name']}({_format_args(guess['args'])})"
    elif not any(k in state for k in absent):
        text += f"; the checkpoint names none of them ({LAYOUT_NAMES[report.layout]}, {len(state)} tensors)"
    return text + "; pass allow_missing_encoder=True to load the rest anyway"


def _format_args(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def read_metadata(weights: Path, header: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checkpoint's JSON metadata, or a minimal one from the safetensors header, or None."""
    side = sidecar_path(weights)
    if side.is_file():
        try:
            meta = read_json(side)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{side}: expected a JSON object of checkpoint metadata")
        return meta
    if header.get("format") == FORMAT and isinstance(header.get("architecture"), dict):
        return {"format": FORMAT, "architecture": header["architecture"]}
    return None


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a semgen checkpoint (``.safetensors``, its ``.json`` or a run
    folder) and load its weights exactly. Returns ``(model, metadata)``; the model is in
    training mode like any new module (call ``.eval()`` for inference).

    Raises :class:`CheckpointError` when the file is unreadable, has no architecture (a
    published ``.pt``: build the model and use :func:`load_pretrained`), holds only a part, or
    its tensors do not fit the architecture.
    """
    weights = resolve_checkpoint(path)
    state, header = read_state_dict(weights)
    meta = read_metadata(weights, header)
    if meta is None or not isinstance(meta.get("architecture"), dict):
        raise CheckpointError(
            f"{weights}: no semgen metadata (no {sidecar_path(weights).name} and no architecture in the file); "
            "build the model yourself and call semgen.models.load_pretrained(model, path)"
        )
    part = (meta.get("export") or {}).get("part", "full")
    if part != "full":
        raise CheckpointError(
            f"{weights}: holds only the {part} of a {meta['architecture'].get('name')}; build the model and call "
            "semgen.models.load_pretrained(model, path)"
        )
    try:
        model = build_model(meta["architecture"])
    except ValueError as e:
        raise CheckpointError(f"{weights}: {e}") from None
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        problems = [
            f"{len(v)} {what} (e.g. {v[0]})"
            for what, v in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched))
            if v
        ]
        raise CheckpointError(f"{weights}: the weights do not fit the recorded architecture: {', '.join(problems)}")
    model.load_state_dict(state)
    return model, meta


def parameter_counts_from_state(model: nn.Module | None, state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Parameters per part counted from the tensors present in ``state`` (so a part-only file
    counts only what it holds); without a model, all non-buffer tensors count as ``total``."""
    if model is None:
        total = sum(v.numel() for k, v in state.items() if not k.endswith(BUFFER_SUFFIXES))
        return {"total": total}
    params = dict(model.named_parameters())
    aliases = {k for k, _ in model.named_parameters(remove_duplicate=False)} - set(params)  # counted once, under the first name
    parts = model.part_names()
    counts = dict.fromkeys([*parts, "other"], 0)
    for key, value in state.items():
        if key in params:
            counts[part_of(key, parts)] += value.numel()
        elif key not in aliases and not key.endswith(BUFFER_SUFFIXES):
            counts["other"] += value.numel()
    if not counts["other"]:
        del counts["other"]
    counts["total"] = sum(counts.values())
    return counts


def describe_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """What ``semgen inspect`` prints: layout, metadata, (inferred) architecture, tensor count,
    dtypes and parameters per part (encoder / decoder / head / total)."""
    weights = resolve_checkpoint(path)
    raw, header = read_state_dict(weights)
    state, dropped, prefixes = normalize_keys(raw)
    meta = read_metadata(weights, header)
    if meta is not None and meta.get("format") != FORMAT:
        meta = None
    layout = "semgen" if meta is not None else describe_layout(header, prefixes, state, dropped)
    arch = meta.get("architecture") if meta else infer_architecture(state)
    try:
        model = build_model(arch) if arch else None
    except ValueError as e:
        raise CheckpointError(f"{weights}: {e}") from None
    if ((meta or {}).get("export") or {}).get("to") in ("monai", "nnunet"):  # a framework export: its network's own keys
        state = {f"net.{k}": v for k, v in state.items()}
    return {
        "path": str(weights),
        "layout": layout,
        "looks_like": LAYOUT_NAMES[layout],
        "architecture": arch,
        "architecture_inferred": meta is None and arch is not None,
        "metadata": meta,
        "tensors": len(raw),
        "dropped": dropped,
        "dtypes": sorted({str(v.dtype).removeprefix("torch.") for v in raw.values()}),
        "parameters": parameter_counts_from_state(model, state),
    }

