"""``semgen prepare``: any folder of scans in, a cohort store out.

Each scan is read into canonical (X, Y[, Z]) LPS form (:mod:`semgen.io`), optionally
resampled to a target spacing, normalised to [0, 1] per modality, given a body mask
(:mod:`semgen.cohort.mask`) and written as float16 + uint8 ``.npy`` files, in a pool
of worker processes. A scan that cannot be used is reported (skipped or failed, with
the reason) and never stops the others. Every file is written atomically; the
manifest is rewritten every few seconds and at the end (also on Ctrl-C), so a re-run
resumes: sources already in the manifest with their arrays on disk are skipped.

The cohort folder is claimed through the stage contract (:mod:`semgen.stage`): its identity is
the inputs and every option that changes what a prepared array holds, so a second
``prepare`` with other inputs or options into the same folder is refused (without
``--overwrite``), and one running at the same time is refused by the folder's lock.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from semgen.cohort.mask import body_mask
from semgen.cohort.store import (
    MANIFEST,
    CohortError,
    REPORT,
    ScanRecord,
    format_tuple,
    read_manifest,
    store_arrays,
    write_manifest,
)
from semgen.io.intensity import DEFAULT_CT_WINDOW, DEFAULT_MR_PERCENTILES, normalize_intensity
from semgen.io.scan import ScanError, resample
from semgen.io.sources import ScanSource, assign_ids, entry, find_sources, read_source
from semgen.stage import ConfigError, StageConfig, claim_folder, flag, require
from semgen.utils.io import write_json
from semgen.utils.progress import Pace, progress
from semgen.utils.workers import process_pool

log = logging.getLogger(__name__)

ALREADY_PREPARED = "already prepared (use --overwrite to redo)"
OUTPUTS = (MANIFEST, REPORT, "arrays", "masks")
_MANIFEST_EVERY_S = 10.0


@dataclasses.dataclass
class PrepareConfig(StageConfig):
    """Resolved options of ``semgen prepare`` (saved as COHORT/config.yaml).

    ``modality``: "auto" (DICOM tag; pictures -> XR; other files: minimum below -500 -> CT,
    else MR) or "CT", "MR", "XR" to force it (and to keep only DICOM series of it).
    ``ct_window``: HU (low, high) mapped to [0, 1]. ``mr_percentiles``: per-volume percentiles
    mapped to [0, 1]. ``spacing``: optional target spacing in mm (one value: isotropic).
    ``array_spacing`` / ``array_axes``: geometry of NumPy inputs (spacing in x, y[, z] order;
    axis order like "zyx"). ``workers``: processes (0: min(4, CPU count)).
    """

    # the inputs and the options that change what a prepared array holds
    IDENTITY = ("inputs", "modality", "ct_window", "mr_percentiles", "spacing", "array_spacing", "array_axes")

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

    def validate(self) -> None:
        require(bool(self.inputs), "no inputs: give at least one file or folder to prepare")
        require(self.modality in ("auto", "CT", "MR", "XR"), f"--modality must be auto, CT, MR or XR, got {self.modality!r}")
        require(len(self.ct_window) == 2 and self.ct_window[0] < self.ct_window[1],
                f"--ct-window needs LOW < HIGH, got {self.ct_window}")
        require(len(self.mr_percentiles) == 2 and 0.0 <= self.mr_percentiles[0] < self.mr_percentiles[1] <= 100.0,
                f"--mr-percentiles needs 0 <= LO < HI <= 100, got {self.mr_percentiles}")
        for name in ("spacing", "array_spacing"):
            value = getattr(self, name)
            if value is not None and (not 1 <= len(value) <= 3 or min(value) <= 0):
                raise ConfigError(f"{flag(name)} needs 1 to 3 positive values in mm, got {value}")
        require(self.workers >= 0, f"--workers must be >= 0, got {self.workers}")

    def identity(self) -> dict[str, Any]:
        """:attr:`IDENTITY` with the inputs as absolute paths (the same folders named from elsewhere match)."""
        return {**super().identity(), "inputs": [str(Path(p).resolve()) for p in self.inputs]}


@dataclasses.dataclass
class PrepareResult:
    """What ``prepare`` did. ``ok`` / ``skipped`` / ``failed``: ``{"path", "id", "reason"}`` per
    input of this run; ``scans``: rows in the manifest (earlier runs included);
    ``spatial_dims`` (``None`` for an empty cohort) and ``modalities`` of the cohort."""

    cohort: Path
    scans: int
    ok: list[dict[str, str]]
    skipped: list[dict[str, str]]
    failed: list[dict[str, str]]
    spatial_dims: int | None
    modalities: list[str]

    @property
    def already_prepared(self) -> int:
        """Inputs skipped because an earlier run prepared them."""
        return sum(e["reason"] == ALREADY_PREPARED for e in self.skipped)

    @property
    def counts(self) -> dict[str, int]:
        return {"ok": len(self.ok), "skipped": len(self.skipped), "failed": len(self.failed),
                "already_prepared": self.already_prepared}

    def to_json(self) -> dict[str, Any]:
        """The document written as COHORT/report.json."""
        return {"cohort": str(self.cohort), "scans": self.scans, "counts": self.counts,
                "already_prepared_reason": ALREADY_PREPARED, "ok": self.ok, "skipped": self.skipped, "failed": self.failed}


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
    of fresh processes that end with this one (:func:`~semgen.utils.workers.process_pool`)."""
    if workers == 1:
        for source, scan_id in tasks:
            yield prepare_one(source, scan_id, settings)
        return
    with process_pool(workers) as pool:
        futures = [pool.submit(prepare_one, source, scan_id, settings) for source, scan_id in tasks]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _pending(sources: list[ScanSource], kept: list[ScanRecord], root: Path, skipped: list[dict]) -> list[tuple[ScanSource, str]]:
    """(source, id) of every source still to prepare; those already in the cohort (arrays on
    disk) are reported in ``skipped``."""
    ids = assign_ids(sources, {(r.source, r.series_uid): r.id for r in kept})
    done = {r.id: r for r in kept}
    tasks = []
    for source, scan_id in zip(sources, ids, strict=True):
        record = done.get(scan_id)
        if record is not None and (root / record.array).is_file() and (root / record.mask).is_file():
            skipped.append(entry(source.path, ALREADY_PREPARED, scan_id))
        else:
            tasks.append((source, scan_id))
    return tasks


def _run(tasks: list[tuple[ScanSource, str]], settings: _Settings, workers: int, records: dict[str, ScanRecord],
         skipped: list[dict], failed: list[dict]) -> list[dict[str, str]]:
    """Prepare ``tasks`` into ``records`` (the manifest rewritten every few seconds and at the
    end, also on Ctrl-C); returns the entries of the scans prepared."""
    root = Path(settings.root)
    ok: list[dict[str, str]] = []
    last_write = time.monotonic()
    bar = progress(total=len(tasks), desc="prepare", unit="scan")
    pace = Pace(log, "prepared", len(tasks), unit="scan", every=10)
    try:
        for done, result in enumerate(_outcomes(tasks, settings, _worker_count(workers, len(tasks))), 1):
            bar.update()
            if result["status"] == "ok":
                records[result["record"].id] = result["record"]
                ok.append(result["entry"])
            else:
                (skipped if result["status"] == "skipped" else failed).append(result["entry"])
            pace.step(done, f"{len(ok)} ok, {len(skipped)} skipped, {len(failed)} failed")
            if time.monotonic() - last_write > _MANIFEST_EVERY_S:
                write_manifest(root, records.values())
                last_write = time.monotonic()
    finally:
        bar.close()
        write_manifest(root, records.values())
    return ok


def prepare(cfg: PrepareConfig) -> PrepareResult:
    """Prepare every scan under ``cfg.inputs`` into the cohort folder ``cfg.out``.

    Returns a :class:`PrepareResult` (also written as COHORT/report.json). Raises
    :class:`~semgen.stage.FolderClaimError` when the folder holds a cohort of other inputs or
    options (without ``overwrite``) and :class:`~semgen.stage.FolderInUseError` while another
    process prepares into it.
    """
    root = Path(cfg.out)
    forced = None if cfg.modality == "auto" else cfg.modality
    sources, skipped, failed = find_sources(cfg.inputs, modality=forced)
    if not sources and failed:
        reasons = "; ".join(f"{e['path']}: {e['reason']}" for e in failed[:3])
        raise CohortError(f"nothing to prepare ({reasons})")
    with claim_folder(root, stage="prepare", identity=cfg.identity(), outputs=OUTPUTS, config=cfg,
                      overwrite=cfg.overwrite) as claim:
        kept = read_manifest(root) if claim.resumed and (root / MANIFEST).exists() else []
        tasks = _pending(sources, kept, root, skipped)
        records = {r.id: r for r in kept}
        dims = {r.ndim for r in kept}
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
        ok = _run(tasks, settings, cfg.workers, records, skipped, failed)
        _keep_one_dimension(root, records, ok, skipped, settings.expected_ndim)
        write_manifest(root, records.values())
        result = PrepareResult(
            cohort=root, scans=len(records), ok=ok, skipped=skipped, failed=failed,
            spatial_dims=next(iter({r.ndim for r in records.values()}), None),
            modalities=sorted({r.modality for r in records.values()}),
        )
        write_json(root / REPORT, result.to_json())
    return result


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
