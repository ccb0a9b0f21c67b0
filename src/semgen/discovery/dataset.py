"""Reading a discovered pattern set: :class:`PatternSet` and the torch :class:`PatternDataset`.

Crops are cut from the memory-mapped cohort when asked for (RAM does not grow with the
number of patterns), or read from ``PATTERNS/crops.npy`` when discovery materialised
them (``--materialize``: one float16 array (rows, *patch) in manifest order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from semgen.discovery.manifest import read_crop, read_manifest
from semgen.discovery.planning import CropTable
from semgen.utils.io import read_json

SPLITS = ("train", "validation")


class PatternSet:
    """A finished ``PATTERNS/`` folder.

    Attributes: ``root``, ``num_classes``, ``patch_size`` (native crop size, (X, Y[, Z])),
    ``spatial_dims``, ``cohort_path`` (the cohort the crops come from; pass
    ``cohort_path`` when it moved), ``scan_ids`` (cohort ids, the manifest's ``scan``
    indices point here), ``info`` (all of ``classes.json``), ``table`` (the manifest as
    a :class:`~semgen.discovery.planning.CropTable`).
    """

    def __init__(self, patterns_dir: str | Path, cohort_path: str | Path | None = None) -> None:
        self.root = Path(patterns_dir)
        classes = self.root / "classes.json"
        if not classes.is_file():
            raise FileNotFoundError(f"{self.root}: no classes.json; run `semgen discover` to completion first")
        self.info: dict[str, Any] = read_json(classes)
        self.num_classes: int = int(self.info["num_classes"])
        self.patch_size: tuple[int, ...] = tuple(self.info["patch_size"])
        self.spatial_dims: int = int(self.info["spatial_dims"])
        self.cohort_path = Path(cohort_path) if cohort_path is not None else Path(self.info["cohort"])
        self.scan_ids: list[str] = list(self.info["scans"])
        self.table: CropTable = read_manifest(self.root / "manifest.csv", self.scan_ids)
        self._cohort = None

    def __len__(self) -> int:
        return len(self.table)

    @property
    def cohort(self):
        """The :class:`semgen.cohort.Cohort` the crops are cut from (opened on first use)."""
        if self._cohort is None:
            from semgen.cohort.store import Cohort

            self._cohort = Cohort(self.cohort_path)
        return self._cohort

    def indices(self, split: str) -> np.ndarray:
        """Manifest row indices of ``split`` ("train" or "validation")."""
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
        return np.flatnonzero(self.table.split == (split == "validation"))

    def rows(self, split: str | None = None) -> list[dict]:
        """Manifest rows (of ``split``, or all) as dicts: class, scan, split, resolution, start, size, distance."""
        t = self.table
        idx = np.arange(len(t)) if split is None else self.indices(split)
        return [
            {
                "class": int(t.klass[i]), "scan": self.scan_ids[t.scan[i]],
                "split": "validation" if t.split[i] else "train", "resolution": int(t.resolution[i]),
                "start": tuple(int(v) for v in t.start[i]), "size": tuple(int(v) for v in t.size[i]),
                "distance": float(t.distance[i]),
            }
            for i in idx
        ]

    def crop(self, row: int, patch_size: tuple[int, ...] | None = None) -> torch.Tensor:
        """Crop of manifest row ``row`` as (1, *size) float32 in [0, 1], resized to ``patch_size`` if given."""
        t = self.table
        return read_crop(self.cohort.image(self.scan_ids[t.scan[row]]), t.start[row], t.size[row], patch_size)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cohort": None}


class PatternDataset(Dataset):
    """Pattern crops of one split for self-classification / self-restoration pre-training.

    ``dataset[i]`` = (crop (1, *patch_size) float32 in [0, 1], class index int).
    ``patch_size`` defaults to the native crop size; crops of other sizes (the extra
    resolutions) are resized to it (trilinear / bilinear, align_corners=False); a
    native crop of that size is read as cut. Picklable: the cohort (or the
    materialised array) is opened lazily in each DataLoader worker.
    """

    def __init__(
        self,
        patterns_dir: str | Path,
        split: str = "train",
        patch_size: tuple[int, ...] | None = None,
        cohort_path: str | Path | None = None,
    ) -> None:
        self.patterns = PatternSet(patterns_dir, cohort_path)
        self.split = split
        self.rows = self.patterns.indices(split)
        self.patch_size = tuple(patch_size) if patch_size is not None else self.patterns.patch_size
        if len(self.patch_size) != self.patterns.spatial_dims:
            raise ValueError(f"patch_size {self.patch_size} does not match the {self.patterns.spatial_dims}D pattern set")
        self.labels = self.patterns.table.klass[self.rows]
        materialized = self.patterns.info.get("materialized")
        use = materialized and self.patch_size == self.patterns.patch_size
        self._materialized_path = self.patterns.root / materialized if use else None
        self._crops: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        return self.patterns.num_classes

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        row = int(self.rows[index])
        if self._materialized_path is not None:
            if self._crops is None:
                self._crops = np.load(self._materialized_path, mmap_mode="r")
            crop = torch.from_numpy(np.asarray(self._crops[row], dtype=np.float32))[None]
        else:
            crop = self.patterns.crop(row, self.patch_size)
        return crop, int(self.labels[index])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_crops": None}
