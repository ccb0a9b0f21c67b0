"""``PATTERNS/manifest.csv``: one row per crop, and reading a crop from the cohort.

Columns: ``class`` (pseudo label, 0..C-1), ``reference`` (cohort id of the class's
reference scan), ``scan`` (cohort id the crop is cut from), ``patient``, ``split``
(train / validation), ``resolution`` (1 = native crop, 2.. = larger crops resized back),
``start`` and ``size`` (the crop box in voxels of that scan, written like ``12x30x5`` and
``64x64x32``, axes X, Y[, Z]), ``distance`` (L2 feature distance to the reference).
The voxels themselves stay in the memory-mapped cohort.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from semgen.discovery.planning import CropTable
from semgen.utils.io import atomic_write
from semgen.utils.resize import resize

COLUMNS = ("class", "reference", "scan", "patient", "split", "resolution", "start", "size", "distance")


def _fmt(values: np.ndarray) -> str:
    return "x".join(str(int(v)) for v in values)


def write_manifest(path: str | Path, table: CropTable, ids: list[str], patients: list[str], references: list[int]) -> None:
    """Write ``table`` (cohort indices into ``ids``/``patients``; ``references[c]`` = reference
    index of class c) as ``manifest.csv``, atomically."""
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for k, s, v, r, start, size, d in zip(
            table.klass, table.scan, table.split, table.resolution, table.start, table.size, table.distance
        ):
            writer.writerow([int(k), ids[references[k]], ids[s], patients[s], "validation" if v else "train", int(r), _fmt(start), _fmt(size), f"{float(d):.6g}"])


def read_manifest(path: str | Path, ids: list[str]) -> CropTable:
    """Read ``manifest.csv`` back into a :class:`CropTable` (scan indices into ``ids``).
    Raises ``ValueError`` naming the file when a row does not parse."""
    position = {s: i for i, s in enumerate(ids)}
    path = Path(path)
    with open(path, newline="") as f:
        text = f.read()
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or any(c not in reader.fieldnames for c in COLUMNS):
        raise ValueError(f"{path}: not a pattern manifest (expected columns {', '.join(COLUMNS)})")
    klass, scan, split, res, start, size, dist = [], [], [], [], [], [], []
    for line, row in enumerate(reader, start=2):
        try:
            klass.append(int(row["class"]))
            scan.append(position[row["scan"]])
            split.append(row["split"] == "validation")
            res.append(int(row["resolution"]))
            start.append([int(v) for v in row["start"].split("x")])
            size.append([int(v) for v in row["size"].split("x")])
            dist.append(float(row["distance"]))
        except (KeyError, ValueError) as e:
            raise ValueError(f"{path}, line {line}: cannot read this row ({e!r})") from None
    ndim = len(start[0]) if start else 0
    return CropTable(
        klass=np.array(klass, dtype=np.int64),
        scan=np.array(scan, dtype=np.int64),
        split=np.array(split, dtype=bool),
        resolution=np.array(res, dtype=np.int64),
        start=np.array(start, dtype=np.int64).reshape(-1, ndim),
        size=np.array(size, dtype=np.int64).reshape(-1, ndim),
        distance=np.array(dist, dtype=np.float32),
    )


def read_crop(volume: np.ndarray, start: np.ndarray, size: np.ndarray, patch: tuple[int, ...] | None = None) -> torch.Tensor:
    """The crop ``volume[start : start + size]`` as a (1, *size) float32 tensor, resized to
    ``patch`` when given and different (the native crop is returned as cut)."""
    window = tuple(slice(int(a), int(a) + int(n)) for a, n in zip(start, size))
    crop = torch.from_numpy(np.array(volume[window], dtype=np.float32))[None]
    return crop if patch is None else resize(crop, patch)
