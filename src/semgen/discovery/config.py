"""Configuration of self-discovery (`semgen discover`), with the published defaults.

Fields left as ``None`` are filled by :meth:`DiscoveryConfig.resolve` from the cohort
(2D or 3D, how many scans) and the device, and the resolved values are what
``PATTERNS/config.yaml`` records.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from semgen.stage import ConfigError, StageConfig, check_at_least, require

log = logging.getLogger(__name__)

ACCEPTANCE_RULES = ("lung", "generic", "none")
PLACEMENTS = ("body", "voxel")
PRESETS = ("auto", "paper", "cpu")

# Paper, Sec. 3: K = 200 / 1000 and C = 44 / 100 for 3D / 2D; crops 64x64x32 / 224x224.
PAPER_DEFAULTS = {
    3: {"classes": 44, "neighbors": 200, "patch": (64, 64, 32)},
    2: {"classes": 100, "neighbors": 1000, "patch": (224, 224)},
}
# Auto-encoder presets: "paper" is the published input grid and width (official code,
# train_autoencoder.py: 128x128x64, 32 base filters, early stopping patience 50);
# "cpu" is a small grid and width that trains in a minute or two on a few dozen scans on
# two CPU cores (a 3D conv auto-encoder at 64x64x32 takes ~4 s per batch of 8 there).
AE_PRESETS = {
    "paper": {3: (128, 128, 64), 2: (256, 256), "width": 32, "epochs": 1000, "patience": 50},
    "cpu": {3: (32, 32, 16), 2: (64, 64), "width": 8, "epochs": 30, "patience": 8},
}


@dataclass
class DiscoveryConfig(StageConfig):
    """Every option of self-discovery (paper Sec. 2, "Self-discovery of anatomical patterns").

    Sizes are in voxels, ordered (X, Y, Z) or (X, Y) like the cohort arrays. Identity
    (:mod:`semgen.stage`): every field but ``device`` and ``materialize``, which do not change
    what is discovered (a resumed run may change them).
    """

    IDENTITY = (
        "classes", "neighbors", "val_neighbors", "resolutions", "patch", "multires_scale", "multires_shift",
        "min_distance", "placement", "acceptance", "lung_threshold", "lung_max_dense", "min_foreground", "min_std",
        "retry_budget", "val_fraction", "preset", "ae_grid", "ae_width", "ae_depth", "ae_epochs", "ae_patience",
        "ae_batch_size", "ae_lr", "encoder", "features", "seed",
    )
    RENAMED = {"patch_size": "patch"}

    classes: int | None = None  # C, pattern classes (paper: 44 in 3D, 100 in 2D)
    neighbors: int | None = None  # K, training scans per class incl. the reference (paper: 200 / 1000)
    val_neighbors: int = 30  # validation scans per class (published nb_instances_val)
    resolutions: int = 3  # 1 = the native crop only; each further one is a random larger crop
    patch: tuple[int, ...] | None = None  # native crop size (paper: 64x64x32 / 224x224)
    multires_scale: tuple[float, float] = (0.78, 1.25)  # in-plane size range of extra crops, x patch
    multires_shift: int | None = None  # in-plane shift of extra crops (published 10 for a 64 patch)
    min_distance: float = 5.0  # between class coordinates, in voxels of the reference (published 5)
    placement: str = "body"  # "body": relative to each scan's body box; "voxel": same indices (published)
    acceptance: str = "generic"  # "generic" (any modality), "lung" (the published CT rule), "none"
    lung_threshold: float = 0.425  # HU -150 in the [-1000, 1000] window
    lung_max_dense: float = 0.15  # reject when the dense (>= threshold) weight exceeds this fraction
    min_foreground: float = 0.5  # generic rule: fraction of the crop inside the body mask
    min_std: float = 0.02  # generic rule: intensity standard deviation of the crop (texture)
    retry_budget: int = 200  # candidate coordinates tried per reference (published 200)
    val_fraction: float = 0.2  # patient-level validation split, seeded
    preset: str = "auto"  # auto-encoder preset: "paper", "cpu"; auto = paper on CUDA, cpu otherwise
    ae_grid: tuple[int, ...] | None = None  # whole-scan resize grid for the auto-encoder
    ae_width: int | None = None  # base filters; the bottleneck has width * 2**ae_depth channels
    ae_depth: int = 4  # levels (ae_depth - 1 poolings)
    ae_epochs: int | None = None
    ae_patience: int | None = None  # early stopping on validation loss
    ae_batch_size: int = 8
    ae_lr: float = 1e-3
    encoder: Path | None = None  # use this auto-encoder / encoder checkpoint instead of training one
    features: Path | None = None  # use these per-scan features (.npy, rows in cohort order) instead
    materialize: bool = False  # also write every crop into one float16 memory-mapped array
    device: str = "auto"  # "auto" = cuda when available
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`~semgen.stage.ConfigError` naming the flag of an option out of range."""
        require(self.acceptance in ACCEPTANCE_RULES,
                f"--acceptance must be one of {', '.join(ACCEPTANCE_RULES)}, got {self.acceptance!r}")
        require(self.placement in PLACEMENTS, f"--placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        require(self.preset in PRESETS, f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        check_at_least(self, ("classes", "neighbors", "resolutions", "ae_depth", "retry_budget", "ae_width", "ae_epochs",
                              "ae_patience", "ae_batch_size"), 1)
        check_at_least(self, ("val_neighbors",), 0)
        require(0.0 <= self.val_fraction < 1.0, f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        require(self.ae_lr > 0, f"--ae-lr must be positive, got {self.ae_lr}")
        lo, hi = self.multires_scale
        require(0 < lo < hi, f"--multires-scale must be two increasing positive numbers, got {self.multires_scale}")
        if self.patch is not None and (len(self.patch) not in (2, 3) or min(self.patch) < 1):
            raise ConfigError(f"--patch must be 2 or 3 positive sizes, got {self.patch}")
        require(self.encoder is None or self.features is None, "give either --encoder or --features, not both")

    def resolve(self, spatial_dims: int, cuda: bool) -> DiscoveryConfig:
        """A copy with every ``None``/"auto" filled for a cohort of ``spatial_dims`` on a
        machine with (``cuda=True``) or without a GPU.

        Clamping to the cohort's size happens later (:func:`semgen.discovery.pipeline.clamp_counts`).
        """
        paper = PAPER_DEFAULTS[spatial_dims]
        preset = self.preset if self.preset != "auto" else ("paper" if cuda else "cpu")
        ae = AE_PRESETS[preset]
        patch = tuple(self.patch) if self.patch is not None else paper["patch"]
        if len(patch) != spatial_dims:
            raise ConfigError(f"--patch {'x'.join(map(str, patch))} has {len(patch)} axes but the cohort is {spatial_dims}D")
        grid = tuple(self.ae_grid) if self.ae_grid is not None else ae[spatial_dims]
        if len(grid) != spatial_dims:
            raise ConfigError(f"--ae-grid {'x'.join(map(str, grid))} has {len(grid)} axes but the cohort is {spatial_dims}D")
        if any(g % 2 ** (self.ae_depth - 1) for g in grid):
            raise ConfigError(
                f"--ae-grid {'x'.join(map(str, grid))}: every size must be divisible by {2 ** (self.ae_depth - 1)} "
                f"for --ae-depth {self.ae_depth}"
            )
        shift = self.multires_shift if self.multires_shift is not None else round(10 * patch[0] / 64)
        return dataclasses.replace(
            self,
            classes=self.classes if self.classes is not None else paper["classes"],
            neighbors=self.neighbors if self.neighbors is not None else paper["neighbors"],
            patch=patch,
            multires_shift=shift,
            preset=preset,
            ae_grid=grid,
            ae_width=self.ae_width if self.ae_width is not None else ae["width"],
            ae_epochs=self.ae_epochs if self.ae_epochs is not None else ae["epochs"],
            ae_patience=self.ae_patience if self.ae_patience is not None else ae["patience"],
        )
