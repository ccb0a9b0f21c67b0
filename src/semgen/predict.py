"""``semgen predict MODEL INPUT... --out OUT``: apply a fine-tuned checkpoint to new scans.

MODEL is what ``semgen finetune`` saves (``RESULTS/model.safetensors`` + ``model.json``, the
best trial's weights with the task, classes, label values, patch, spacing, modality and
intensity window). INPUTs are files and folders in any format ``semgen prepare`` reads
(found with :func:`semgen.io.find_sources`, read with :func:`semgen.io.read_source`, so
DICOM folders, NIfTI, MetaImage, NRRD, NumPy and pictures all work); each scan is brought to
the model's input exactly as fine-tuning brought its data (canonical LPS orientation, the
stored intensity window, 3D volumes resampled to the stored spacing), then:

- **segmentation**: class probabilities from a Gaussian-blended sliding window over the whole
  volume (2D images: resized to the patch, as in fine-tuning), optionally averaged over the
  2^D axis flips (``tta``, as nnU-Net's mirroring), resized back to the canonical grid, the
  arg-max mapped to the task's label values, and written as ``OUT/<id>.nii.gz`` on the
  input file's own grid (size, spacing, origin and direction: the canonical reorientation is
  undone exactly, :func:`semgen.io.scan.to_source_geometry`);
  (an nnU-Net ``<case>_0000`` input is named by its case, as nnU-Net names its predictions);
- **classification**: ``OUT/predictions.csv`` with one row per scan: id, source, one
  probability column per class and the predicted class.

Scans are read in a thread pool ahead of the model; a scan that cannot be used is reported
(one line with its reason in ``OUT/report.json``) and never stops the others.

Predicting is a stage (:mod:`semgen.stage`): ``OUT`` is claimed (a lock while it runs;
``stage.json`` records the model, its SHA-256, the inputs and the options that change the
predictions). The same command again continues: label maps already written are kept. Other
options on the same ``OUT`` are refused unless ``overwrite``.
"""

from __future__ import annotations

import concurrent.futures
import csv
import itertools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from semgen.finetune.layouts import CHANNEL
from semgen.io.intensity import normalize_intensity
from semgen.io.scan import Scan, ScanError, to_source_geometry
from semgen.io.sources import ScanSource, assign_ids, entry, find_sources, read_source
from semgen.stage import StageConfig, check_at_least, claim_folder, require
from semgen.utils.device import resolve_device
from semgen.utils.io import atomic_path, atomic_write, write_json
from semgen.utils.progress import Pace, progress
from semgen.utils.resize import resize

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.csv"
REPORT = "report.json"


@dataclass
class PredictConfig(StageConfig):
    """Settings of ``semgen predict``. ``overlap``: sliding-window overlap (default: the
    fine-tuning run's); ``tta``: average over axis flips; ``workers``: reading threads
    (0: min(4, CPU count)); ``modality``: override the stored intensity kind; ``overwrite``:
    replace an earlier prediction with other options in ``out``.

    Identity (:mod:`semgen.stage`): the model, the inputs (absolute paths) and the options that
    change the predictions (``tta``, ``overlap``, ``modality``), plus the model's SHA-256."""

    IDENTITY = ("model", "inputs", "tta", "overlap", "modality")

    model: str = ""
    inputs: tuple[str, ...] = ()
    out: str = ""
    tta: bool = False
    overlap: float | None = None
    batch_size: int = 4
    workers: int = 0
    modality: str | None = None
    device: str = "auto"
    seed: int = 0
    overwrite: bool = False

    def validate(self) -> None:
        """Every option in range; the model, the inputs and ``--out`` given."""
        require(bool(self.model), "MODEL is required: a `semgen finetune` results folder or its model.safetensors")
        require(bool(self.inputs), "no inputs: give at least one scan file or folder")
        require(bool(self.out), "--out is required: the folder for the predictions")
        check_at_least(self, ("batch_size",), 1)
        check_at_least(self, ("workers",), 0)
        require(self.overlap is None or 0 <= self.overlap < 1, f"--overlap must be in [0, 1), got {self.overlap}")

    def identity(self) -> dict[str, Any]:
        """:attr:`IDENTITY` with the model and the inputs as absolute paths."""
        values = super().identity()
        values["model"] = str(Path(self.model).resolve())
        values["inputs"] = [str(Path(p).resolve()) for p in self.inputs]
        return values


class PredictError(ValueError):
    """A model or setting that cannot be used for prediction (names the file or flag)."""


@dataclass
class Model:
    """A fine-tuned network with what it needs to see its inputs as in fine-tuning."""

    net: torch.nn.Module
    meta: dict[str, Any]
    task: str
    kind: str
    spatial_dims: int
    patch: tuple[int, ...]
    spacing: tuple[float, ...] | None
    window: dict | None
    modality: str | None
    class_names: list[str]
    label_values: list[int]
    device: torch.device


def load_model(path: str | os.PathLike, device: torch.device) -> Model:
    """Load a fine-tuned checkpoint (a ``semgen finetune`` results folder, its
    ``model.safetensors`` or ``model.json``). Raises :class:`PredictError` for a checkpoint
    that does not say which task it solves (e.g. a pre-training run)."""
    from semgen.models.checkpoint import load_checkpoint

    net, meta = load_checkpoint(path)
    extra = meta.get("extra") or {}
    if extra.get("stage") != "finetune" or extra.get("task") not in ("classification", "segmentation"):
        raise PredictError(f"{path}: not a fine-tuned checkpoint (its metadata names no task); make one with "
                           "`semgen finetune DATA --init RUN --out RESULTS` and predict with RESULTS")
    net.to(device).eval()
    return Model(
        net=net, meta=meta, task=extra["task"], kind=extra["kind"], spatial_dims=int(meta["spatial_dims"]),
        patch=tuple(int(p) for p in meta["patch_size"]),
        spacing=tuple(float(s) for s in meta["spacing"]) if meta.get("spacing") else None,
        window=meta.get("intensity_window"), modality=extra.get("modality"),
        class_names=list(extra.get("class_names") or []), label_values=list(extra.get("label_values") or []),
        device=device,
    )


def model_input(scan: Scan, model: Model, modality: str | None = None) -> np.ndarray:
    """The scan as fine-tuning saw it: float32 in [0, 1] with the stored window (or the
    modality's default mapping), 3D volumes resampled to the stored spacing, classification
    inputs resized to the patch. Raises ``ValueError`` naming the file for a scan of the
    other dimensionality."""
    if scan.ndim != model.spatial_dims:
        raise ScanError(scan.source, f"a {scan.ndim}D scan, but the model is {model.spatial_dims}D")
    kind = modality or model.modality or scan.modality
    image, _ = normalize_intensity(scan.array, kind, model.window if not modality else None)
    image = np.asarray(image, dtype=np.float32)
    if model.spatial_dims == 3 and model.spacing is not None:
        shape = tuple(max(1, int(round(n * s / t))) for n, s, t in zip(image.shape, scan.spacing, model.spacing))
        image = resize(image, shape, order=1)
    if model.task == "classification" or model.spatial_dims == 2:
        image = resize(image, model.patch, order=1)
    return np.clip(image, 0, 1).astype(np.float32)


def _flip_sets(spatial_dims: int, tta: bool) -> list[tuple[int, ...]]:
    axes = range(2, 2 + spatial_dims)
    return [c for r in range(spatial_dims + 1) for c in itertools.combinations(axes, r)] if tta else [()]


def probabilities(model: Model, image: np.ndarray, *, tta: bool = False, overlap: float = 0.5, batch_size: int = 4) -> np.ndarray:
    """Class probabilities of one model input (:func:`model_input`). Segmentation: (K, *S) on
    the input's grid (sliding window; with ``tta`` averaged over every combination of axis
    flips); classification: (K,) (binary: [P(class 0), P(class 1)]; multi-label: each
    class's own probability)."""
    from semgen.finetune.train import sliding_window

    flips = _flip_sets(model.spatial_dims, tta)
    x = torch.from_numpy(image)[None].to(model.device)  # (1, *S)

    def net(batch: torch.Tensor) -> torch.Tensor:
        out = model.net(batch)
        return (out[0] if isinstance(out, tuple) else out).float()

    with torch.no_grad():
        if model.task == "classification":
            logits = torch.stack([net(x[None].flip(f)) for f in flips]).mean(0)[0]  # flips never move a whole-image class
            if model.kind == "binary":
                p = torch.sigmoid(logits[0])
                return torch.stack([1 - p, p]).cpu().numpy()
            return (torch.sigmoid(logits) if model.kind == "multilabel" else torch.softmax(logits, 0)).cpu().numpy()

        def predict(batch: torch.Tensor) -> torch.Tensor:
            return torch.stack([torch.softmax(net(batch.flip(f)), 1).flip(f) for f in flips]).mean(0)

        return sliding_window(predict, x, model.patch, overlap=overlap, batch_size=batch_size).cpu().numpy()


def label_map(model: Model, probs: np.ndarray, scan: Scan) -> np.ndarray:
    """Canonical label map of ``scan`` from class probabilities on the model's grid: resized
    back to the scan's own grid (linear, per class), arg-max, mapped to the task's label
    values (uint8, or uint16 above 255)."""
    probs = resize(probs, scan.shape, order=1)  # each class's probabilities
    values = np.asarray(model.label_values or range(len(probs)))
    return values[probs.argmax(0)].astype(np.uint8 if values.max() < 256 else np.uint16)


def _read(source: ScanSource, model: Model, modality: str | None) -> tuple[Scan, np.ndarray]:
    scan = read_source(source, modality)
    return scan, model_input(scan, model, modality)


def _read_ahead(tasks: list[tuple[ScanSource, str]], read: Callable[[ScanSource], Any], workers: int) -> Iterator[tuple[ScanSource, str, Any]]:
    """Yield ``(source, id, read(source) or the exception)`` in order, reading up to
    ``2 * workers`` scans ahead in a thread pool (ITK and zlib release the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending: list[tuple[ScanSource, str, concurrent.futures.Future]] = []
        queue = iter(tasks)
        for source, sid in itertools.islice(queue, 2 * workers):
            pending.append((source, sid, pool.submit(read, source)))
        while pending:
            source, sid, future = pending.pop(0)
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((*nxt, pool.submit(read, nxt[0])))
            try:
                yield source, sid, future.result()
            except Exception as e:  # one bad file must never stop the batch
                yield source, sid, e


def _reason(error: Exception, path: str) -> str:
    if isinstance(error, ScanError):
        return error.problem
    if isinstance(error, OSError):
        return f"{error.strerror or error} ({error.filename or path})"
    if isinstance(error, (ValueError, RuntimeError)):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"


def _cases(sources: list[ScanSource], skipped: list[dict[str, str]]) -> list[tuple[ScanSource, str]]:
    """``(source, output id)`` pairs. nnU-Net inputs (``<case>_<CCCC>`` files) are named by their
    case; channels other than ``0000`` are skipped (the networks take one channel)."""
    tasks = []
    for source, sid in zip(sources, assign_ids(sources), strict=True):
        m = CHANNEL.match(sid)
        if m and m["channel"] != "0000":
            skipped.append(entry(source.path, f"channel {m['channel']} of case {m['case']}: the model takes one channel (0000)", sid))
        else:
            tasks.append((source, sid))
    cases = [CHANNEL.match(sid)["case"] if CHANNEL.match(sid) else sid for _, sid in tasks]
    if len(set(cases)) == len(cases):
        tasks = [(source, case) for (source, _), case in zip(tasks, cases)]
    return tasks


def predict(cfg: PredictConfig) -> dict[str, Any]:
    """Predict every scan under ``cfg.inputs`` and write ``cfg.out``; returns the report (also
    ``OUT/report.json``): ``ok`` / ``skipped`` / ``failed`` lists of ``{"path", "id",
    "reason"}`` (for ``ok`` the output file or the predicted class), ``counts``, ``task``,
    ``model``. Raises :class:`PredictError` for an unusable model, ``ValueError`` subclasses of
    :mod:`semgen.stage` for an ``out`` held by another run."""
    device = resolve_device(cfg.device)
    model = load_model(cfg.model, device)
    overlap = cfg.overlap if cfg.overlap is not None else float((model.meta.get("extra") or {}).get("overlap", 0.5))
    if not 0 <= overlap < 1:
        raise PredictError(f"{cfg.model}: its stored sliding-window overlap {overlap} is not in [0, 1); give --overlap")
    sources, skipped, failed = find_sources(cfg.inputs)
    tasks = _cases(sources, skipped)
    outputs = [REPORT, PREDICTIONS, *(f"{sid}.nii.gz" for _, sid in tasks)]
    identity = {**cfg.identity(), "model_sha256": model.meta.get("sha256")}
    with claim_folder(cfg.out, stage="predict", identity=identity, outputs=outputs, config=cfg, overwrite=cfg.overwrite) as claim:
        return _predict(cfg, model, overlap, tasks, skipped, failed, claim.resumed)


def _predict(cfg: PredictConfig, model: Model, overlap: float, tasks: list[tuple[ScanSource, str]],
             skipped: list[dict[str, str]], failed: list[dict[str, str]], resumed: bool) -> dict[str, Any]:
    """Predict ``tasks`` into the claimed ``cfg.out`` (see :func:`predict`); ``resumed``: label
    maps an earlier run of the same command wrote are kept."""
    out = Path(cfg.out)
    ok: list[dict[str, str]] = []
    if resumed and model.task == "segmentation":
        done = [(source, sid) for source, sid in tasks if (out / f"{sid}.nii.gz").is_file()]
        ok += [entry(source.path, str(out / f"{sid}.nii.gz"), sid) for source, sid in done]
        tasks = [t for t in tasks if t not in done]
        if done:
            log.info("%s: keeping %d label map(s) of the earlier run with these options", out, len(done))
    workers = max(1, min(cfg.workers or min(4, os.cpu_count() or 1), len(tasks) or 1))
    rows: list[dict[str, Any]] = []
    columns = model.class_names
    bar = progress(total=len(tasks), desc="predict", unit="scan")
    pace = Pace(log, "predict", len(tasks), unit="scan", every=10.0)  # a plain line at most every 10 s, also in a pipe
    try:
        for done, (source, sid, result) in enumerate(_read_ahead(tasks, lambda s: _read(s, model, cfg.modality), workers), 1):
            bar.update()
            pace.step(done, sid)
            try:
                if isinstance(result, Exception):
                    raise result
                scan, image = result
                probs = probabilities(model, image, tta=cfg.tta, overlap=overlap, batch_size=cfg.batch_size)
                if model.task == "classification":
                    rows.append({"id": sid, "source": source.path, **{f"p_{c}": float(p) for c, p in zip(columns, probs)},
                                 "predicted": ";".join(c for c, p in zip(columns, probs) if p >= 0.5) if model.kind == "multilabel"
                                 else columns[int(np.argmax(probs))]})
                    ok.append(entry(source.path, rows[-1]["predicted"], sid))
                    continue
                target = out / f"{sid}.nii.gz"
                image_out = to_source_geometry(label_map(model, probs, scan), scan)
                with atomic_path(target) as tmp:
                    sitk.WriteImage(image_out, str(tmp), useCompression=True)
                ok.append(entry(source.path, str(target), sid))
            except Exception as e:  # report and go on: one bad file never stops the batch
                failed.append(entry(source.path, _reason(e, source.path), sid))
    finally:
        bar.close()
    if model.task == "classification" and rows:
        with atomic_write(out / PREDICTIONS, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    report = {
        "model": str(cfg.model),
        "task": model.task,
        "tta": cfg.tta,
        "overlap": overlap,
        "counts": {"ok": len(ok), "skipped": len(skipped), "failed": len(failed)},
        "ok": ok,
        "skipped": skipped,
        "failed": failed,
    }
    write_json(out / REPORT, report)
    return report
