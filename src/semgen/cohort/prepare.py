"""``semgen prepare``: any folder of scans in, a cohort store out.

Each scan is read into canonical (X, Y[, Z]) LPS form (:mod:`semgen.io`), optionally
resampled to a target spacing, normalised to [0, 1] per modality, given a body mask
(:mod:`semgen.cohort.mask`) and written as float16 + uint8 ``.npy`` files, in a pool
of worker processes. A scan that cannot be used is reported (skipped or failed, with
the reason) and never stops the others. Every file is written atomically; the
manifest is rewritten every few seconds and at the end (also on Ctrl-C), so a re-run
resumes: sources already in the manifest with their arrays on disk are skipped.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import yaml

from semgen.cohort.mask import body_mask
from semgen.cohort.store import (
    CONFIG,
    MANIFEST,
    REPORT,
    CohortError,
    ScanRecord,
    format_tuple,
    read_manifest,
    store_arrays,
    write_manifest,
)
from semgen.io.intensity import DEFAULT_CT_WINDOW, DEFAULT_MR_PERCENTILES, normalize_intensity
from semgen.io.scan import ScanError, resample
from semgen.io.sources import ScanSource, assign_ids, entry, find_sources, read_source
from semgen.utils.config import config_to_dict, save_config
from semgen.utils.io import write_json
from semgen.utils.progress import progress

ALREADY_PREPARED = "already prepared (use --overwrite to redo)"
# options that change what a prepared array holds: resuming a cohort must not change them
PROCESSING_OPTIONS = ("modality", "ct_window", "mr_percentiles", "spacing", "array_spacing", "array_axes")
_MANIFEST_EVERY_S = 10.0


@dataclasses.dataclass
class PrepareConfig:
    """Resolved options of ``semgen prepare`` (saved as COHORT/config.yaml).

    ``modality``: "auto" (DICOM tag; pictures -> XR; other files: minimum below -500 -> CT,
    else MR) or "CT", "MR", "XR" to force it (and to keep only DICOM series of it).
    ``ct_window``: HU (low, high) mapped to [0, 1]. ``mr_percentiles``: per-volume percentiles
    mapped to [0, 1]. ``spacing``: optional target spacing in mm (one value: isotropic).
    ``array_spacing`` / ``array_axes``: geometry of NumPy inputs (spacing in x, y[, z] order;
    axis order like "zyx"). ``workers``: processes (0: min(4, CPU count)).
    """

    inputs: tuple[str, ...] = ()
    out: str = "cohort"
    modality: str = "auto"
    ct_window: tuple[float, ...] = DEFAULT_CT_WINDOW
    mr_percentiles: tuple[float, ...] = DEFAULT_MR_PERCENTILES
    spacing: tuple[float, ...] | None = None
    array_spacing: tuple[float, ...] | None = None
    array_axes: str | None = None
    workers: int = 0
    overwrite: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.modality not in ("auto", "CT", "MR", "XR"):
            raise ValueError(f"--modality must be auto, CT, MR or XR, got {self.modality!r}")
        if len(self.ct_window) != 2 or not self.ct_window[0] < self.ct_window[1]:
            raise ValueError(f"--ct-window needs LOW < HIGH, got {self.ct_window}")
        if len(self.mr_percentiles) != 2 or not 0.0 <= self.mr_percentiles[0] < self.mr_percentiles[1] <= 100.0:
            raise ValueError(f"--mr-percentiles needs 0 <= LO < HI <= 100, got {self.mr_percentiles}")
        for name in ("spacing", "array_spacing"):
            value = getattr(self, name)
            if value is not None and (not 1 <= len(value) <= 3 or min(value) <= 0):
                raise ValueError(f"--{name.replace('_', '-')} needs 1 to 3 positive values in mm, got {value}")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What a worker needs to prepare one source (picklable)."""

    root: str
    modality: str | None
    ct_window: tuple[float, ...]
    mr_percentiles: tuple[float, ...]
    spacing: tuple[float, ...] | None
    array_spacing: tuple[float, ...] | None
    array_axes: str | None
    expected_ndim: int | None


def prepare_one(source: ScanSource, scan_id: str, settings: _Settings) -> dict[str, Any]:
    """Prepare one source into the cohort. Never raises: returns ``{"status": "ok" | "skipped"
    | "failed", "entry": {"path", "id", "reason"}, "record": ScanRecord | None}``."""

    def outcome(status: str, reason: str, record: ScanRecord | None = None) -> dict[str, Any]:
        return {"status": status, "entry": entry(source.path, reason, scan_id), "record": record}

    try:
        scan = read_source(source, settings.modality, settings.array_spacing, settings.array_axes)
        if settings.expected_ndim is not None and scan.ndim != settings.expected_ndim:
            return outcome("skipped", f"{scan.ndim}D scan, but the cohort is {settings.expected_ndim}D")
        if settings.spacing is not None:
            target = settings.spacing * scan.ndim if len(settings.spacing) == 1 else settings.spacing
            scan = resample(scan, target)
        window = {"CT": settings.ct_window, "MR": settings.mr_percentiles}.get(scan.modality)
        array01, window_info = normalize_intensity(scan.array, scan.modality, window)
        mask = body_mask(array01, scan.modality, window_info)
        array_rel, mask_rel, checksum = store_arrays(settings.root, scan_id, array01, mask)
    except ScanError as e:
        return outcome("failed", e.problem)
    except ValueError as e:
        return outcome("failed", str(e))
    except OSError as e:
        return outcome("failed", f"{e.strerror or e} ({e.filename or source.path})")
    except MemoryError:
        return outcome("failed", "out of memory")
    except Exception as e:  # one bad file must never stop the batch: report anything unforeseen
        return outcome("failed", f"unexpected {type(e).__name__}: {e}")
    record = ScanRecord(
        id=scan_id,
        patient=str(scan.meta.get("patient", "")),
        source=source.path,
        modality=scan.modality,
        shape=scan.shape,
        spacing=scan.spacing,
        orientation=scan.meta["orientation"],
        window=window_info,
        checksum=checksum,
        status="ok",
        modality_source=str(scan.meta.get("modality_source", "")),
        origin=scan.origin,
        source_orientation=scan.meta["source_orientation"],
        foreground=float(mask.mean()),
        array=array_rel,
        mask=mask_rel,
        series_uid=source.series_uid,
        description=str(scan.meta.get("description", "")),
    )
    reason = (
        f"{scan.modality} ({record.modality_source}), {format_tuple(scan.shape)} at "
        f"{format_tuple(scan.spacing)} mm, {record.orientation} from {record.source_orientation}"
    )
    return outcome("ok", reason, record)


def _worker_count(requested: int, tasks: int) -> int:
    available = requested or min(4, os.cpu_count() or 1)
    return max(1, min(available, tasks))


def _outcomes(tasks: list[tuple[ScanSource, str]], settings: _Settings, workers: int):
    """Yield each task's outcome as it finishes: in this process for one worker, else in a pool
    of fresh ("spawn") processes, so no thread state of the caller is inherited."""
    if workers == 1:
        for source, scan_id in tasks:
            yield prepare_one(source, scan_id, settings)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(prepare_one, source, scan_id, settings) for source, scan_id in tasks]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _check_resumable(root: Path, cfg: PrepareConfig) -> None:
    """Refuse to add scans prepared with other processing options to an existing cohort."""
    try:
        saved = yaml.safe_load((root / CONFIG).read_text()) or {}
    except (OSError, yaml.YAMLError):
        raise CohortError(
            f"{root}: has a {MANIFEST} but no readable {CONFIG} (not made by semgen prepare?); "
            "use --overwrite or another --out"
        ) from None
    current = config_to_dict(cfg)
    changed = [k for k in PROCESSING_OPTIONS if saved.get(k) != current.get(k)]
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)} -> {current.get(k)}" for k in changed)
        raise CohortError(f"{root}: was prepared with other options ({details}); use --overwrite or another --out")


def prepare(cfg: PrepareConfig) -> dict[str, Any]:
    """Prepare every scan under ``cfg.inputs`` into the cohort folder ``cfg.out``.

    Returns the report (also written to COHORT/report.json): lists ``ok``, ``skipped`` and
    ``failed`` of ``{"path", "id", "reason"}``, plus ``counts`` (also of skipped as
    ``already_prepared_reason``), ``cohort`` and ``scans`` (rows in the manifest, including
    those prepared by earlier runs). Raises :class:`CohortError`
    when an existing cohort was made with other processing options (without ``overwrite``).
    """
    if not cfg.inputs:
        raise ValueError("no inputs: give at least one file or folder to prepare")
    root = Path(cfg.out)
    previous = read_manifest(root) if (root / MANIFEST).exists() else []
    if previous and not cfg.overwrite:
        _check_resumable(root, cfg)
    kept = [] if cfg.overwrite else previous
    forced = None if cfg.modality == "auto" else cfg.modality
    sources, skipped, failed = find_sources(cfg.inputs, modality=forced)
    ids = assign_ids(sources, {(r.source, r.series_uid): r.id for r in kept})
    records = {r.id: r for r in kept}
    tasks = []
    for source, scan_id in zip(sources, ids, strict=True):
        done = records.get(scan_id)
        if done is not None and (root / done.array).is_file() and (root / done.mask).is_file():
            skipped.append(entry(source.path, ALREADY_PREPARED, scan_id))
        else:
            tasks.append((source, scan_id))
    dims = {r.ndim for r in records.values()}
    settings = _Settings(
        root=str(root),
        modality=forced,
        ct_window=tuple(cfg.ct_window),
        mr_percentiles=tuple(cfg.mr_percentiles),
        spacing=cfg.spacing,
        array_spacing=cfg.array_spacing,
        array_axes=cfg.array_axes,
        expected_ndim=dims.pop() if len(dims) == 1 else None,
    )
    root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, root / CONFIG)
    ok: list[dict[str, str]] = []
    last_write = time.monotonic()
    bar = progress(total=len(tasks), desc="prepare", unit="scan")
    try:
        for result in _outcomes(tasks, settings, _worker_count(cfg.workers, len(tasks))):
            bar.update()
            if result["status"] == "ok":
                records[result["record"].id] = result["record"]
                ok.append(result["entry"])
            else:
                (skipped if result["status"] == "skipped" else failed).append(result["entry"])
            if time.monotonic() - last_write > _MANIFEST_EVERY_S:
                write_manifest(root, records.values())
                last_write = time.monotonic()
    finally:
        bar.close()
        write_manifest(root, records.values())
    _keep_one_dimension(root, records, ok, skipped, settings.expected_ndim)
    write_manifest(root, records.values())
    if cfg.overwrite:
        _remove_stale(root, previous, records)
    report = {
        "cohort": str(root),
        "scans": len(records),
        "counts": {
            "ok": len(ok),
            "skipped": len(skipped),
            "failed": len(failed),
            "already_prepared": sum(e["reason"] == ALREADY_PREPARED for e in skipped),
        },
        "already_prepared_reason": ALREADY_PREPARED,
        "ok": ok,
        "skipped": skipped,
        "failed": failed,
    }
    write_json(root / REPORT, report)
    return report


def _keep_one_dimension(
    root: Path, records: dict[str, ScanRecord], ok: list[dict], skipped: list[dict], expected: int | None
) -> None:
    """A cohort never mixes 2D and 3D: keep the dimension of the earlier scans, else the one
    most scans have (3D on a tie); the others are removed and reported as skipped."""
    counts = {d: sum(r.ndim == d for r in records.values()) for d in (2, 3)}
    if min(counts.values()) == 0:
        return
    keep = expected or (2 if counts[2] > counts[3] else 3)
    for entry_ in list(ok):
        record = records[entry_["id"]]
        if record.ndim != keep:
            for relative in (record.array, record.mask):
                (root / relative).unlink(missing_ok=True)
            del records[record.id]
            ok.remove(entry_)
            skipped.append(
                {**entry_, "reason": f"{record.ndim}D scan, but the cohort is {keep}D (a cohort never mixes them)"}
            )


def _remove_stale(root: Path, previous: list[ScanRecord], records: dict[str, ScanRecord]) -> None:
    """After --overwrite, delete the arrays of earlier scans that are no longer in the manifest."""
    for record in previous:
        if record.id not in records:
            for relative in (record.array, record.mask):
                (root / relative).unlink(missing_ok=True)
