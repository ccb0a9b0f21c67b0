"""The cohort store: a folder with a manifest and one memory-mappable array per scan.

Layout of COHORT/::

    manifest.csv        one row per prepared scan (columns: MANIFEST_COLUMNS)
    report.json         what the last ``semgen prepare`` did: lists ok / skipped / failed
    config.yaml         the resolved ``semgen prepare`` configuration
    arrays/<id>.npy     float16, canonical (X, Y[, Z]) LPS, intensities in [0, 1]
    masks/<id>.npy      uint8 0/1 body / foreground mask, same shape

Later stages read crops with ``Cohort.image(id)[x0:x1, y0:y1, z0:z1]`` from a
read-only memory map: only the touched pages are read, so RAM does not grow with the
number of scans (ARCHITECTURE.md Sec. 4). Shapes and spacings are written like
``128x128x64`` and ``0.7x0.7x2.5``; ``window`` is compact JSON.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from semgen.cohort.mask import body_mask
from semgen.io.scan import MODALITIES
from semgen.utils.io import atomic_write, save_npy, write_json

MANIFEST = "manifest.csv"
REPORT = "report.json"
CONFIG = "config.yaml"
ARRAYS = "arrays"
MASKS = "masks"
MANIFEST_COLUMNS = (
    "id",
    "patient",
    "source",
    "modality",
    "modality_source",
    "ndim",
    "shape",
    "spacing",
    "origin",
    "orientation",
    "source_orientation",
    "window",
    "checksum",
    "status",
    "foreground",
    "array",
    "mask",
    "series_uid",
    "description",
)


class CohortError(ValueError):
    """A cohort folder that cannot be used (missing or malformed manifest, unknown id...)."""


def format_tuple(values: Iterable[float]) -> str:
    """``(0.703125, 0.703125, 2.5)`` -> ``"0.703125x0.703125x2.5"`` (6 significant digits)."""
    return "x".join(f"{v:.6g}" for v in values)


def _parse_tuple(text: str, kind: type) -> tuple:
    return tuple(kind(v) for v in text.split("x")) if text else ()


@dataclasses.dataclass
class ScanRecord:
    """One prepared scan: one manifest row. ``shape``/``spacing``/``origin`` follow the
    canonical (X, Y[, Z]) axis order; ``window`` is the intensity mapping used (see
    :func:`semgen.io.normalize_intensity`); ``checksum`` is the SHA-256 (first 16 hex) of the
    stored float16 array; ``foreground`` the fraction of voxels in the body mask; ``array`` and
    ``mask`` the file paths relative to the cohort folder."""

    id: str
    patient: str
    source: str
    modality: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    orientation: str
    window: dict[str, Any]
    checksum: str
    status: str = "ok"
    modality_source: str = ""
    origin: tuple[float, ...] = ()
    source_orientation: str = ""
    foreground: float = 0.0
    array: str = ""
    mask: str = ""
    series_uid: str = ""
    description: str = ""

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to_row(self) -> dict[str, str]:
        """The manifest row (all strings)."""
        row = {k: str(v) for k, v in dataclasses.asdict(self).items()}
        row.update(
            ndim=str(self.ndim),
            shape=format_tuple(self.shape),
            spacing=format_tuple(self.spacing),
            origin=format_tuple(self.origin),
            window=json.dumps(self.window, separators=(",", ":")),
            foreground=f"{self.foreground:.4f}",
        )
        return {k: row[k] for k in MANIFEST_COLUMNS}

    @classmethod
    def from_row(cls, row: dict[str, str]) -> ScanRecord:
        """Parse a manifest row (extra columns are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: v for k, v in row.items() if k in names}
        values["shape"] = _parse_tuple(row["shape"], int)
        values["spacing"] = _parse_tuple(row["spacing"], float)
        values["origin"] = _parse_tuple(row.get("origin", ""), float)
        values["window"] = json.loads(row["window"]) if row.get("window") else {}
        values["foreground"] = float(row.get("foreground") or 0.0)
        return cls(**values)


def write_manifest(root: str | os.PathLike, records: Iterable[ScanRecord]) -> None:
    """Write ``COHORT/manifest.csv`` atomically, rows sorted by id."""
    with atomic_write(Path(root) / MANIFEST, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(r.to_row() for r in sorted(records, key=lambda r: r.id))


def read_manifest(root: str | os.PathLike) -> list[ScanRecord]:
    """The records of ``COHORT/manifest.csv``; raises :class:`CohortError` naming the file."""
    path = Path(root) / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CohortError(f"{root}: not a cohort (no {MANIFEST}; make one with `semgen prepare`)") from None
    except OSError as e:
        raise CohortError(f"{path}: cannot read ({e.strerror})") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = {"id", "shape", "spacing", "modality", "array", "mask"} - set(reader.fieldnames or ())
    if missing:
        raise CohortError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    try:
        return [ScanRecord.from_row(row) for row in reader]
    except (ValueError, KeyError, TypeError) as e:
        raise CohortError(f"{path}: malformed row ({e})") from None


def store_arrays(root: str | os.PathLike, scan_id: str, array01: np.ndarray, mask: np.ndarray) -> tuple[str, str, str]:
    """Write ``arrays/<id>.npy`` (float16) and ``masks/<id>.npy`` (uint8) atomically.

    Returns (array path, mask path, checksum), paths relative to ``root``."""
    image = np.ascontiguousarray(array01, dtype=np.float16)
    array_rel, mask_rel = f"{ARRAYS}/{scan_id}.npy", f"{MASKS}/{scan_id}.npy"
    save_npy(Path(root) / array_rel, image)
    save_npy(Path(root) / mask_rel, np.asarray(mask, dtype=np.uint8))
    return array_rel, mask_rel, hashlib.sha256(image.tobytes()).hexdigest()[:16]


class Cohort:
    """A prepared cohort folder (see the module docstring), opened read-only.

    ``cohort.records`` (manifest order), ``cohort.ids``, ``len(cohort)``, ``cohort[id]`` ->
    :class:`ScanRecord`, ``cohort.image(id)`` / ``cohort.mask(id)`` -> read-only memory maps.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.root = Path(path)
        self.records: list[ScanRecord] = read_manifest(self.root)
        self._by_id = {r.id: r for r in self.records}
        if len(self._by_id) != len(self.records):
            raise CohortError(f"{self.root / MANIFEST}: duplicate ids")
        dims = {r.ndim for r in self.records}
        if len(dims) > 1:
            raise CohortError(f"{self.root / MANIFEST}: mixes 2D and 3D scans")
        self._dims = dims.pop() if dims else None

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ScanRecord]:
        return iter(self.records)

    def __contains__(self, scan_id: object) -> bool:
        return scan_id in self._by_id

    def __getitem__(self, scan_id: str) -> ScanRecord:
        try:
            return self._by_id[scan_id]
        except KeyError:
            raise CohortError(f"{self.root}: no scan with id {scan_id!r}") from None

    def __repr__(self) -> str:
        return f"Cohort({str(self.root)!r}, {len(self)} scans, {self._dims}D)"

    @property
    def spatial_dims(self) -> int:
        """2 or 3 (a cohort never mixes); raises :class:`CohortError` for an empty cohort."""
        if self._dims is None:
            raise CohortError(f"{self.root}: empty cohort has no spatial dimension")
        return self._dims

    def _load(self, scan_id: str, relative: str) -> np.ndarray:
        path = self.root / relative
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise CohortError(f"{path}: cannot memory-map array of {scan_id!r} ({e})") from None

    def image(self, scan_id: str) -> np.ndarray:
        """Read-only float16 memory map (X, Y[, Z]), intensities in [0, 1]."""
        return self._load(scan_id, self[scan_id].array)

    def mask(self, scan_id: str) -> np.ndarray:
        """Read-only uint8 memory map (X, Y[, Z]): 1 inside the body/foreground."""
        return self._load(scan_id, self[scan_id].mask)

    def manifest_hash(self) -> str:
        """SHA-256 (hex) of what the scans are: ids, shapes, spacings, windows and array checksums
        (not paths, so a moved or copied cohort keeps its hash); recorded in checkpoints."""
        digest = hashlib.sha256()
        for r in sorted(self.records, key=lambda r: r.id):
            fields = (
                r.id,
                r.modality,
                format_tuple(r.shape),
                format_tuple(r.spacing),
                json.dumps(r.window, sort_keys=True),
                r.checksum,
            )
            digest.update(("\t".join(fields) + "\n").encode())
        return digest.hexdigest()


def create_cohort(
    root: str | os.PathLike,
    scans: Iterable[tuple[str, np.ndarray, tuple[float, ...]]],
    modality: str,
    patients: list[str] | None = None,
) -> Cohort:
    """Write a cohort from already-normalised arrays: ``scans`` yields (id, array (X, Y[, Z]) in
    [0, 1], spacing mm). Masks come from :func:`body_mask`; ``patients`` (one per scan, default
    the id) fill the patient column. For tests and for stages that make their own images."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
    root = Path(root)
    scans = list(scans)
    if patients is not None and len(patients) != len(scans):
        raise ValueError(f"{len(patients)} patients for {len(scans)} scans")
    records: list[ScanRecord] = []
    report: list[dict[str, str]] = []
    for index, (scan_id, array, spacing) in enumerate(scans):
        array = np.asarray(array, dtype=np.float32)
        if array.ndim not in (2, 3) or len(spacing) != array.ndim:
            raise ValueError(f"{scan_id}: need a 2D/3D array with one spacing per axis, got {array.shape}, {spacing}")
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError(f"{scan_id}: values must be finite and in [0, 1]")
        if records and array.ndim != records[0].ndim:
            raise ValueError(f"{scan_id}: a cohort cannot mix 2D and 3D scans")
        if any(r.id == scan_id for r in records):
            raise ValueError(f"{scan_id}: duplicate id")
        mask = body_mask(array, modality)
        array_rel, mask_rel, checksum = store_arrays(root, scan_id, array, mask)
        records.append(
            ScanRecord(
                id=scan_id,
                patient=patients[index] if patients else scan_id,
                source="create_cohort",
                modality=modality,
                shape=array.shape,
                spacing=tuple(float(s) for s in spacing),
                orientation="LPS"[: array.ndim],
                window={"kind": "given"},
                checksum=checksum,
                modality_source="given",
                origin=(0.0,) * array.ndim,
                foreground=float(mask.mean()),
                array=array_rel,
                mask=mask_rel,
            )
        )
        report.append({"path": "create_cohort", "id": scan_id, "reason": "given as a normalised array"})
    write_manifest(root, records)
    write_json(root / REPORT, {"ok": report, "skipped": [], "failed": []})
    return Cohort(root)
