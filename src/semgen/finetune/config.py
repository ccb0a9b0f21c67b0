"""``FinetuneConfig`` and ``CompareConfig``: every knob of ``semgen finetune`` / ``semgen compare``.

Defaults are CPU-sized (a few minutes per trial on 2 cores for the built-in recipes). The
paper runs 10 trials per method; the maintainer's fine-tuning recipe is Adam lr 1e-3 with
ReduceLROnPlateau and early stopping (reference Sec. 5). Fields left ``None`` come from the
initialising checkpoint's metadata, then the recipe, then the built-in fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class FinetuneConfig:
    """Configuration of one ``semgen finetune`` run (all trials of one initialisation)."""

    data: str = ""
    out: str = ""
    task: str | None = None  # classification | segmentation (from the layout/recipe when None)
    recipe: str | None = None  # phantom-nodules | phantom-organs | cxr-pneumonia | hippocampus-mri
    init: str = "scratch"  # scratch | run folder | .safetensors checkpoint | published .pt
    name: str | None = None  # initialisation name in reports (default: derived from init)
    trials: int = 5
    label_fraction: float = 1.0
    seed: int = 0  # trial i seeds derive_seed(seed, "trial", i)
    split_seed: int = 0  # fixes the patient split and the label-fraction subsets
    split: str | None = None  # reuse a saved split.json instead of drawing one
    split_only: bool = False  # write split.json and stop (e.g. to pre-train on the training patients only)
    validation: float = 0.15
    test: float = 0.2
    epochs: int = 30
    patience: int = 6  # early stopping on validation loss
    batch_size: int = 8
    lr: float = 1e-3
    width: int | None = None  # scratch: 32 on CUDA, 8 on CPU (the pre-training presets)
    patch: tuple[int, ...] | None = None
    spacing: tuple[float, ...] | None = None
    resample: bool = True  # resample 3D volumes to the checkpoint's (or --spacing) spacing
    modality: str | None = None  # CT | MR | XR: intensity normalisation kind
    patches_per_volume: int = 2  # 3D segmentation: random patches per training volume per epoch
    foreground_fraction: float = 0.67  # share of training patches centred on a labelled voxel
    overlap: float = 0.5  # sliding-window overlap for whole-volume prediction
    val_patches: int = 0  # 3D segmentation: validate each epoch on N fixed patches per volume (0: whole volumes)
    device: str = "auto"
    trial: int | None = None  # the trial saved as model.safetensors (default: the best on validation)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the flag for an option out of range (before any work or file)."""
        for name in ("trials", "epochs", "batch_size", "patches_per_volume"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.trial is not None and not 0 <= self.trial < self.trials:
            raise ValueError(f"--trial must be one of the trials 0..{self.trials - 1}, got {self.trial}")
        if self.patience < 0 or self.val_patches < 0:
            raise ValueError(f"--patience and --val-patches must be >= 0, got {self.patience} and {self.val_patches}")
        if self.width is not None and self.width < 1:
            raise ValueError(f"--width must be at least 1, got {self.width}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        if self.patch is not None and (len(self.patch) not in (2, 3) or min(self.patch) < 1):
            raise ValueError(f"--patch must be 2 or 3 positive sizes (e.g. 64x64x32), got {'x'.join(map(str, self.patch))}")
        if self.spacing is not None and (len(self.spacing) != 3 or min(self.spacing) <= 0):
            raise ValueError(f"--spacing must be 3 positive sizes in mm (e.g. 1x1x1), got {self.spacing}")
        if not 0.0 < self.label_fraction <= 1.0:
            raise ValueError(f"--label-fraction must be in (0, 1], got {self.label_fraction}")
        if not (0.0 <= self.validation < 1.0 and 0.0 <= self.test < 1.0 and self.validation + self.test < 1.0):
            raise ValueError(f"--validation and --test must be shares in [0, 1) summing below 1, got {self.validation} and {self.test}")
        if not 0.0 <= self.foreground_fraction <= 1.0 or not 0.0 <= self.overlap < 1.0:
            raise ValueError("foreground_fraction must be in [0, 1] and overlap in [0, 1)")
        if self.split is not None and not Path(self.split).is_file():
            raise ValueError(f"--split {self.split}: no such file (give a split.json written by an earlier finetune)")


@dataclass
class CompareConfig:
    """Configuration of ``semgen compare``."""

    results: tuple[str, ...] = ()
    out: str = ""
    welch: bool = False  # Welch's unequal-variance t-test instead of Student's (the paper's), unpaired groups
    seed: int = 0  # the bootstrap confidence intervals' resampling
    reference: str = "scratch"  # paired groups: every initialisation is tested against this one (the best when absent)
