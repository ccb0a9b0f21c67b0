"""Export a checkpoint's weights for plain PyTorch, MONAI or nnU-Net (``semgen export``).

``to="monai"`` / ``to="nnunet"`` write a framework backbone's network weights in the form that
framework loads (:mod:`semgen.models.frameworks`), checked before anything is written.

``part="encoder"`` writes the encoder tensors only, under the model's names (the published
``down_tr*`` names for the U-Net encoder), so ``load_state_dict(sd, strict=False)`` fills the
published ``UNet3D`` or ours; ``part="full"`` writes the whole state dict. ``.safetensors``
or ``.pt`` (a plain dict of tensors, readable with ``torch.load(weights_only=True)``); a JSON
sidecar with the checkpoint's metadata and the export settings goes beside it, and a model card
(:mod:`semgen.card`): ``README.md`` in the export's folder, or ``<name>.README.md`` when the
export lands in the checkpoint's own folder (which keeps its card).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semgen.card import CARD, write_card
from semgen.models.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    parameter_counts_from_state,
    resolve_checkpoint,
    save_weights,
    sidecar_path,
)
from semgen.utils.io import atomic_path, file_sha256, write_json

PARTS = ("encoder", "full")
FORMATS = {"safetensors": ".safetensors", "pt": ".pt"}
TO = ("pytorch", "monai", "nnunet")


@dataclass
class ExportConfig:
    """Settings of ``semgen export``. ``to``: ``pytorch`` (semgen's keys), ``monai`` or
    ``nnunet`` (a framework backbone's weights for that framework; ``format`` defaults to
    ``pt``, and nnU-Net takes only ``pt``); ``plans`` + ``configuration``: an nnU-Net v2 plans
    file whose network the run's must be (``--to nnunet``)."""

    run: Path
    out: Path | None = None
    part: str = "full"
    format: str | None = None
    to: str = "pytorch"
    plans: Path | None = None
    configuration: str | None = None
    seed: int = 0


def default_export_path(weights: Path, part: str, fmt: str, to: str = "pytorch") -> Path:
    """``<weights stem>_<part>.<ext>`` beside the checkpoint (``run/model_encoder.safetensors``);
    ``<stem>_<to>.pt`` for a framework (``run/model_nnunet.pt``)."""
    return weights.with_name(f"{weights.stem}_{part if to == 'pytorch' else to}{FORMATS[fmt]}")


def _framework_export(config: ExportConfig, model: Any, weights: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(what to save, export facts)`` for ``--to monai|nnunet``, checked as the framework loads it."""
    from semgen.models import frameworks

    state, dropped = frameworks.framework_state(model, config.to, str(weights))
    facts: dict[str, Any] = {"dropped": dropped, "class": frameworks.BACKBONES[model.backbone].target}
    if config.to == "monai":
        facts["load_with"] = (f"net = {frameworks.monai_constructor(model)}; "
                              "net.load_state_dict(torch.load('{out}', weights_only=True), strict=True)")
        facts["checked"] = f"loaded with strict=True into {frameworks.check_monai(model, state)}"
        return state, facts
    if config.plans is not None:
        configuration = config.configuration or ("3d_fullres" if model.spatial_dims == 3 else "2d")
        facts["plans"] = frameworks.check_plans(model, config.plans, configuration)
    target = frameworks.framework_network(model, out_channels=model.out_channels + 1)  # another task's classes
    taken = frameworks.nnunet_load(target, state)
    facts["checked"] = (f"nnU-Net's load_pretrained_weights rule: {len(taken)} of {len(target.state_dict())} tensors of a "
                        f"{facts['class'].rsplit('.', 1)[-1]} with another number of classes load (the .seg_layers. are not transferred)")
    facts["load_with"] = "nnUNetv2_train DATASET CONFIGURATION FOLD -pretrained_weights {out}"
    return {"network_weights": state}, facts


def save_torch(path: Path, obj: Any) -> str:
    """``torch.save(obj)`` atomically (nested dicts of tensors: ``torch.load(weights_only=True)``
    reads it); returns the file's SHA-256."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        return file_sha256(tmp)


def export_weights(config: ExportConfig) -> dict[str, Any]:
    """Write the exported weights and their JSON sidecar; returns a summary dict (paths, part,
    format, tensors, parameters). Raises ``ValueError`` (:class:`CheckpointError` for the
    checkpoint) on bad settings or input."""
    if config.part not in PARTS:
        raise ValueError(f"--part must be one of {', '.join(PARTS)}, got {config.part!r}")
    if config.to not in TO:
        raise ValueError(f"--to must be one of {', '.join(TO)}, got {config.to!r}")
    fmt = config.format or ("safetensors" if config.to == "pytorch" else "pt")
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if config.to != "pytorch" and config.part != "full":
        raise ValueError(f"--to {config.to} exports the whole network (its loader needs every key); drop --part {config.part}")
    if config.to == "nnunet" and fmt != "pt":
        raise ValueError("--to nnunet writes a torch.save file (what nnUNetv2_train -pretrained_weights reads); use --format pt")
    if config.plans is not None and config.to != "nnunet":
        raise ValueError("--plans checks an nnU-Net plans file: it goes with --to nnunet")
    weights = resolve_checkpoint(config.run)
    out = Path(config.out) if config.out else default_export_path(weights, config.part, fmt, config.to)
    if out.suffix != FORMATS[fmt]:
        raise ValueError(f"{out}: a {fmt} export must end in {FORMATS[fmt]}")
    if out.resolve() in (weights.resolve(), sidecar_path(weights).resolve()):
        raise ValueError(f"{out}: would overwrite the checkpoint being exported; choose another --out")
    model, meta = load_checkpoint(weights)
    framework: dict[str, Any] = {}
    if config.to != "pytorch":
        payload, framework = _framework_export(config, model, weights)
        state = payload.get("network_weights", payload)
    elif config.part == "encoder":
        if not hasattr(model, "encoder"):
            raise CheckpointError(f"{weights}: a {type(model).__name__} has no encoder part")
        payload = state = model.encoder.state_dict()
    else:
        payload = state = model.state_dict()
    parameters = parameter_counts_from_state(model, {f"net.{k}": v for k, v in state.items()} if framework else state)
    if config.to == "nnunet":
        digest = save_torch(out, payload)
    else:
        digest = save_weights(out, state, {"format": FORMAT, "architecture": meta["architecture"], "part": config.part})
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()}
    export = {
        "part": config.part,
        "format": fmt,
        "to": config.to,
        "source": str(weights),
        "tensors": len(state),
        "parameters": parameters,
        "config": {**settings, "format": fmt, "out": str(out)},
        **{k: v for k, v in framework.items() if k != "load_with"},
    }
    load_hint = (
        f"sd = safetensors.torch.load_file('{out.name}')"
        if fmt == "safetensors"
        else f"sd = torch.load('{out.name}', weights_only=True)"
    )
    strict = ", strict=False" if config.part == "encoder" else ""
    load_with = framework["load_with"].replace("{out}", out.name) if framework else f"{load_hint}; model.load_state_dict(sd{strict})"
    sidecar = sidecar_path(out)
    write_json(sidecar, {**meta, "sha256": digest, "export": export, "load_with": load_with})
    # the model card: README.md beside the export, unless that folder is the run's own (whose README.md it keeps)
    card = write_card(out, out.parent / CARD if out.parent.resolve() != weights.parent.resolve() else out.with_suffix(".README.md"))
    summary = {k: export[k] for k in ("part", "format", "to", "source", "tensors", "parameters")}
    summary["checked"] = framework.get("checked")
    return {"out": str(out), "sidecar": str(sidecar), "card": str(card), **summary}
