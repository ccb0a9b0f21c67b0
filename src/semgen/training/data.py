"""Training data: random sub-volumes of a cohort, index-carrying wrappers, seeded loaders.

Workers only read crops (from memory-mapped cohort arrays); corruption happens on the
whole batch in the training process, on its device. Every random choice a dataset makes
is a pure function of ``(seed, epoch, index)``, so the crops do not depend on how many
workers read them or on which rank, and a resumed run reads the same crops.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from semgen.utils.seeding import derive_seed, numpy_rng, torch_generator


class IndexedDataset(Dataset):
    """Yields ``(index, *item)`` so a failing batch can be named by its sample indices."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        crop, label = self.dataset[index]
        return index, crop, label


class SubvolumeDataset(Dataset):
    """Random sub-volumes from inside the body mask of cohort scans (the Models Genesis data).

    ``per_scan`` crops per scan per epoch; crop ``index`` of ``epoch`` comes from
    ``numpy_rng(seed, "subvolume", "epoch", epoch, index)`` (``"fixed", 0`` when ``fixed``):
    up to ``tries`` uniformly placed boxes of size ``patch``, the first whose body-mask
    fraction reaches ``min_foreground`` (the published generator's foreground check), else
    the most-foreground one. With
    ``fixed=True`` (validation) the epoch is ignored, so every epoch sees the same crops.
    Yields ``(crop: FloatTensor (1, *patch) in [0, 1], -1)``.
    """

    def __init__(
        self,
        cohort_root: str | Path,
        ids: Sequence[str],
        shapes: Sequence[tuple[int, ...]],
        patch: tuple[int, ...],
        per_scan: int,
        seed: int,
        *,
        fixed: bool = False,
        min_foreground: float = 0.5,
        tries: int = 20,
    ):
        if not ids:
            raise ValueError(f"{cohort_root}: no scans to cut sub-volumes from")
        for scan_id, shape in zip(ids, shapes):
            if len(shape) != len(patch) or any(p > s for p, s in zip(patch, shape)):
                raise ValueError(f"{cohort_root}: patch {patch} does not fit in scan {scan_id} of shape {shape}")
        self.root = Path(cohort_root)
        self.ids = list(ids)
        self.shapes = [tuple(s) for s in shapes]
        self.patch = tuple(patch)
        self.per_scan = per_scan
        self.seed = seed
        self.fixed = fixed
        self.min_foreground = min_foreground
        self.tries = tries
        self.epoch = 0
        self._cohort = None

    def set_epoch(self, epoch: int) -> None:
        """Choose the crops of ``epoch`` (ignored when ``fixed``); call before building a loader."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids) * self.per_scan

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cohort"] = None
        return state

    def box(self, index: int) -> tuple[int, ...]:
        """The corner of crop ``index`` in its scan (deterministic for the current epoch)."""
        scan = self.ids[index // self.per_scan]
        shape = self.shapes[index // self.per_scan]
        stream = ("fixed", 0) if self.fixed else ("epoch", self.epoch)
        rng = numpy_rng(self.seed, "subvolume", *stream, index)
        mask = self._open().mask(scan)
        best, best_fraction = None, -1.0
        for _ in range(self.tries):
            corner = tuple(int(rng.integers(0, s - p + 1)) for s, p in zip(shape, self.patch))
            window = tuple(slice(c, c + p) for c, p in zip(corner, self.patch))
            fraction = float(np.count_nonzero(mask[window])) / mask[window].size
            if fraction >= self.min_foreground:
                return corner
            if fraction > best_fraction:
                best, best_fraction = corner, fraction
        return best

    def __getitem__(self, index: int):
        corner = self.box(index)
        window = tuple(slice(c, c + p) for c, p in zip(corner, self.patch))
        crop = np.asarray(self._open().image(self.ids[index // self.per_scan])[window], dtype=np.float32)
        return torch.from_numpy(crop)[None], -1

    def _open(self):
        if self._cohort is None:
            from semgen.cohort.store import Cohort

            self._cohort = Cohort(self.root)
        return self._cohort


def _seed_worker(seed: int, rank: int, epoch: int, worker_id: int) -> None:
    # a worker's own torch stream, derived from (seed, rank, epoch, worker): anything a dataset
    # draws from torch's default generator in a worker is reproducible
    torch.manual_seed(derive_seed(seed, "worker", rank, epoch, worker_id))


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    rank: int,
    world_size: int,
    seed: int,
    epoch: int,
    shuffle: bool,
    num_workers: int,
    pin_memory: bool = False,
) -> DataLoader:
    """A loader over ``IndexedDataset(dataset)`` for this rank and epoch.

    Training (``shuffle=True``): a :class:`DistributedSampler` (also in a single process)
    shuffles with a seed derived from ``seed`` and the epoch, so the order is a function of
    (seed, epoch, rank), and the last incomplete batch is dropped when every rank has a full
    one. Validation (``shuffle=False``): rank ``r`` reads samples ``r, r + world_size, ...``
    in order, each exactly once.
    """
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    indexed = IndexedDataset(dataset)
    if shuffle:
        sampler = DistributedSampler(
            indexed,
            num_replicas=world_size,
            rank=rank,
            shuffle=True,
            seed=derive_seed(seed, "shuffle") % 2**31,
        )
        sampler.set_epoch(epoch)
        drop_last = len(sampler) >= batch_size
    else:
        sampler = range(rank, len(indexed), world_size)
        drop_last = False
    return DataLoader(
        indexed,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        worker_init_fn=functools.partial(_seed_worker, seed, rank, epoch) if num_workers else None,
        generator=torch_generator(seed, "loader", rank, epoch),
        persistent_workers=False,
    )
