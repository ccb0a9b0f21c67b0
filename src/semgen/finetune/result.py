"""What ``semgen finetune`` returns: :class:`FinetuneResult` (the split, and unless
``--split-only`` the :class:`FinetuneSummary`), the typed result of the fine-tuning stage
(:mod:`semgen.stage`). ``RESULTS/summary.json`` is derived from the summary
(:meth:`FinetuneSummary.to_json`) and read back by :meth:`FinetuneSummary.from_json`, which
also reads the summaries of earlier releases (no ``model`` or ``pretraining_geometry``)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from semgen.finetune.data import Geometry

# what every summary.json has had (semgen compare needs them)
REQUIRED = ("task", "task_name", "init_name", "primary_metric", "metric_names", "trials")


@dataclasses.dataclass(frozen=True)
class SplitRecord:
    """The patient split the trials used: ``seed``, ``hash`` (of the patient assignment, as in
    ``split.json``) and the ``samples`` per split (train at the label fraction)."""

    seed: int
    hash: str
    samples: dict[str, int]


@dataclasses.dataclass(frozen=True)
class ChosenModel:
    """The trial saved as ``model.safetensors`` (for ``semgen predict``) and how it was chosen."""

    path: Path
    trial: int
    selected_by: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinetuneSummary:
    """One ``semgen finetune`` run of every trial of one initialisation (paper Sec. 3 protocol:
    several seeded trials, mean and s.d. of the test metric).

    ``task`` (classification / segmentation), ``task_name`` (recipe or ``DATA-task``), ``kind``
    (binary, multiclass, multilabel, segmentation); ``init`` as given, ``init_name`` in reports,
    ``init_kind`` (scratch / semgen / published), ``init_report`` (what the checkpoint loaded,
    None for scratch), ``init_metadata`` (the checkpoint's method, patch, spacing, window);
    ``metric_names`` with ``primary_metric`` first-class; ``geometry``: the inputs the task
    decided, ``pretraining_geometry``: the checkpoint's, when it says; ``split``; ``skipped``
    samples (file and reason); ``model``: the saved trial; ``trials``: per trial its ``trial``
    index, ``seed`` and each metric's test value (None where undefined); ``mean`` / ``std``
    per metric over the trials; ``config``: the resolved options.
    """

    task: str
    task_name: str
    recipe: str | None = None
    data: str | None = None
    init: str | None = None
    init_name: str
    init_kind: str | None = None
    init_report: dict[str, Any] | None = None
    init_metadata: dict[str, Any] | None = None
    label_fraction: float = 1.0
    kind: str | None = None
    class_names: list[str] | dict[str, str] | None = None
    metric_names: list[str]
    primary_metric: str
    geometry: Geometry | None = None
    pretraining_geometry: Geometry | None = None
    split: SplitRecord | None = None
    skipped: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    model: ChosenModel | None = None
    trials: list[dict[str, Any]]
    mean: dict[str, float | None] = dataclasses.field(default_factory=dict)
    std: dict[str, float | None] = dataclasses.field(default_factory=dict)
    config: dict[str, Any] | None = None

    @property
    def primary(self) -> tuple[float | None, float | None]:
        """(mean, s.d.) of the primary test metric over the trials; None where undefined."""
        return tuple(None if v is None or math.isnan(v) else v  # type: ignore[return-value]
                     for v in (self.mean.get(self.primary_metric), self.std.get(self.primary_metric)))

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str = "summary.json") -> FinetuneSummary:
        """A summary from ``summary.json``'s content, this release's or an earlier one's (keys it
        lacks take their defaults; unknown keys are ignored). ``ValueError`` naming ``where``
        when a key every summary has is missing."""
        missing = [k for k in REQUIRED if k not in doc]
        if missing:
            raise ValueError(f"{where}: not a semgen finetune summary (missing {', '.join(missing)})")
        values = {f.name: doc[f.name] for f in dataclasses.fields(cls) if doc.get(f.name) is not None}
        for name in ("geometry", "pretraining_geometry"):
            if name in values:
                values[name] = Geometry.from_dict(values[name])
        if "split" in values:
            values["split"] = SplitRecord(**values["split"])
        if "model" in values:
            values["model"] = ChosenModel(Path(values["model"]["path"]), values["model"]["trial"], values["model"]["selected_by"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The content of ``summary.json`` (keys in this order; NaN kept, the writer makes it null)."""
        doc: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Geometry):
                value = value.to_dict()
            elif isinstance(value, ChosenModel):
                value = {"path": str(value.path), "trial": value.trial, "selected_by": value.selected_by}
            elif isinstance(value, SplitRecord):
                value = dataclasses.asdict(value)
            doc[f.name] = value
        return doc


@dataclasses.dataclass
class FinetuneResult:
    """What :func:`~semgen.finetune.pipeline.finetune` wrote in ``out``: the split
    (``split_seed``, ``split_hash``, ``patients`` per split, also ``split.json``) and, unless
    ``split_only``, the ``summary`` (also ``summary.json``)."""

    out: Path
    split_only: bool
    split_seed: int
    split_hash: str
    patients: dict[str, int]
    summary: FinetuneSummary | None = None
