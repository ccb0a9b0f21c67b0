"""Export a checkpoint's weights for plain PyTorch (``semgen export``).

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
from semgen.utils.io import write_json

PARTS = ("encoder", "full")
FORMATS = {"safetensors": ".safetensors", "pt": ".pt"}


@dataclass
class ExportConfig:
    """Settings of ``semgen export``."""

    run: Path
    out: Path | None = None
    part: str = "full"
    format: str = "safetensors"
    seed: int = 0


def default_export_path(weights: Path, part: str, fmt: str) -> Path:
    """``<weights stem>_<part>.<ext>`` beside the checkpoint (``run/model_encoder.safetensors``)."""
    return weights.with_name(f"{weights.stem}_{part}{FORMATS[fmt]}")


def export_weights(config: ExportConfig) -> dict[str, Any]:
    """Write the exported weights and their JSON sidecar; returns a summary dict (paths, part,
    format, tensors, parameters). Raises ``ValueError`` (:class:`CheckpointError` for the
    checkpoint) on bad settings or input."""
    if config.part not in PARTS:
        raise ValueError(f"--part must be one of {', '.join(PARTS)}, got {config.part!r}")
    if config.format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {config.format!r}")
    weights = resolve_checkpoint(config.run)
    out = Path(config.out) if config.out else default_export_path(weights, config.part, config.format)
    if out.suffix != FORMATS[config.format]:
        raise ValueError(f"{out}: a {config.format} export must end in {FORMATS[config.format]}")
    if out.resolve() in (weights.resolve(), sidecar_path(weights).resolve()):
        raise ValueError(f"{out}: would overwrite the checkpoint being exported; choose another --out")
    model, meta = load_checkpoint(weights)
    if config.part == "encoder":
        if not hasattr(model, "encoder"):
            raise CheckpointError(f"{weights}: a {type(model).__name__} has no encoder part")
        state = model.encoder.state_dict()
    else:
        state = model.state_dict()
    parameters = parameter_counts_from_state(model, state)
    digest = save_weights(out, state, {"format": FORMAT, "architecture": meta["architecture"], "part": config.part})
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()}
    export = {
        "part": config.part,
        "format": config.format,
        "source": str(weights),
        "tensors": len(state),
        "parameters": parameters,
        "config": {**settings, "out": str(out)},
    }
    load_hint = (
        f"sd = safetensors.torch.load_file('{out.name}')"
        if config.format == "safetensors"
        else f"sd = torch.load('{out.name}', weights_only=True)"
    )
    strict = ", strict=False" if config.part == "encoder" else ""
    sidecar = sidecar_path(out)
    write_json(sidecar, {**meta, "sha256": digest, "export": export, "load_with": f"{load_hint}; model.load_state_dict(sd{strict})"})
    # the model card: README.md beside the export, unless that folder is the run's own (whose README.md it keeps)
    card = write_card(out, out.parent / CARD if out.parent.resolve() != weights.parent.resolve() else out.with_suffix(".README.md"))
    summary = {k: export[k] for k in ("part", "format", "source", "tensors", "parameters")}
    return {"out": str(out), "sidecar": str(sidecar), "card": str(card), **summary}
