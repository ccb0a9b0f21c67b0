"""``FinetuneConfig`` and ``CompareConfig``: every knob of ``semgen finetune`` / ``semgen compare``.

Defaults are CPU-sized (a few minutes per trial on 2 cores for the built-in recipes). The
paper runs 10 trials per method; the maintainer's fine-tuning recipe is Adam lr 1e-3 with
ReduceLROnPlateau and early stopping (reference Sec. 5). The input fields left ``None``
(patch, spacing, modality, CT window) are decided from the task alone, never from the
initialising checkpoint, by the rules of :mod:`semgen.finetune.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semgen.loggers import check_logger
from semgen.stage import ConfigError, StageConfig, check_at_least, require


@dataclass
class FinetuneConfig(StageConfig):
    """Configuration of one ``semgen finetune`` run (all trials of one initialisation).

    Identity (:mod:`semgen.stage`): every field that changes a trial or the saved model;
    not ``trials`` (a re-run with more trials continues, with fewer drops the extra ones),
    ``name`` (reports only), ``split_only``, ``device``, ``out`` and ``overwrite``.
    """

    IDENTITY = (
        "data", "task", "recipe", "init", "label_fraction", "seed", "split_seed", "split", "val_fraction", "test_fraction",
        "epochs", "patience", "batch_size", "lr", "width", "patch", "spacing", "resample", "modality",
        "ct_window", "patches_per_volume", "foreground_fraction", "overlap", "val_patches", "trial",
    )
    RENAMED = {"validation": "val_fraction", "test": "test_fraction"}

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
    val_fraction: float = 0.15
    test_fraction: float = 0.2  # unless the data gives a test split
    epochs: int = 30
    patience: int = 6  # early stopping on validation loss
    batch_size: int = 8
    lr: float = 1e-3
    width: int | None = None  # scratch: 32 on CUDA, 8 on CPU (the pre-training presets)
    patch: tuple[int, ...] | None = None
    spacing: tuple[float, ...] | None = None
    resample: bool = True  # resample 3D volumes to --spacing, else the recipe's, else the task's median spacing
    modality: str | None = None  # CT | MR | XR | OT: intensity normalisation kind (default: recipe/layout, else the images)
    ct_window: tuple[float, ...] | None = None  # CT: HU (low, high) mapped to [0, 1] (default -1000..1000)
    patches_per_volume: int = 2  # 3D segmentation: random patches per training volume per epoch
    foreground_fraction: float = 0.67  # share of training patches centred on a labelled voxel
    overlap: float = 0.5  # sliding-window overlap for whole-volume prediction
    val_patches: int = 0  # 3D segmentation: validate each epoch on N fixed patches per volume (0: whole volumes)
    device: str = "auto"
    dataset_name: tuple[str, ...] = ()  # dataset names for the model card (README.md front matter)
    log: str | None = None  # experiment logger (semgen.loggers): tensorboard, or None for none
    trial: int | None = None  # the trial saved as model.safetensors (default: the best on validation)
    overwrite: bool = False  # start again in a results folder made with other options

    def validate(self) -> None:
        """Raise :class:`~semgen.stage.ConfigError` naming the flag of an option out of range."""
        require(bool(self.data), "DATA is required: the task's images (folder or CSV)")
        require(bool(self.out), "--out is required")
        check_at_least(self, ("trials", "epochs", "batch_size", "width", "patches_per_volume"), 1)
        check_at_least(self, ("patience", "val_patches", "trial"), 0)
        check_logger(self.log)
        require(self.trial is None or self.trial < self.trials,
                f"--trial must be one of the trials 0..{self.trials - 1}, got {self.trial}")
        require(0 < self.label_fraction <= 1, f"--label-fraction must be in (0, 1], got {self.label_fraction}")
        require(0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1,
                f"--val-fraction and --test-fraction must leave room for training, got {self.val_fraction} and {self.test_fraction}")
        require(self.lr > 0, f"--lr must be positive, got {self.lr}")
        require(0 <= self.foreground_fraction <= 1, f"foreground_fraction must be in [0, 1], got {self.foreground_fraction}")
        require(0 <= self.overlap < 1, f"overlap must be in [0, 1), got {self.overlap}")
        require(self.task in (None, "classification", "segmentation"),
                f"--task must be classification or segmentation, got {self.task!r}")
        if self.patch is not None and (len(self.patch) not in (2, 3) or min(self.patch) < 1):
            raise ConfigError(f"--patch must be 2 or 3 positive sizes like 64x64x32, got {self.patch}")
        if self.spacing is not None and (len(self.spacing) != 3 or min(self.spacing) <= 0):
            raise ConfigError(f"--spacing must be 3 positive sizes in mm (e.g. 1x1x1), got {self.spacing}")
        if self.ct_window is not None and (len(self.ct_window) != 2 or not self.ct_window[0] < self.ct_window[1]):
            raise ConfigError(f"--ct-window needs LOW < HIGH in HU, got {self.ct_window}")
        if self.split is not None and not Path(self.split).is_file():
            raise ConfigError(f"--split {self.split}: no such file (give a split.json written by an earlier finetune)")


@dataclass
class CompareConfig(StageConfig):
    """Configuration of ``semgen compare``.

    Identity (:mod:`semgen.stage`): the results compared and every option that changes the
    report; not ``out`` and ``overwrite``. The same command again rewrites the report (the
    results may have gained trials); other results or options in the same ``--out`` are
    refused without ``--overwrite``.
    """

    IDENTITY = ("results", "welch", "unpaired", "seed", "reference", "allow_mixed")

    results: tuple[str, ...] = ()
    out: str = ""
    welch: bool = False  # Welch's unequal-variance t-test instead of Student's (the paper's), unpaired groups
    unpaired: bool = False  # the independent t-test of the best everywhere, even where trials pair up
    seed: int = 0  # the bootstrap confidence intervals' resampling
    reference: str = "scratch"  # paired groups: every initialisation is tested against this one (the best when absent)
    allow_mixed: bool = False  # compare results fine-tuned on different inputs (patch, spacing, normalisation), marked
    overwrite: bool = False  # replace a report in --out made from other results or options

    def validate(self) -> None:
        """Raise :class:`~semgen.stage.ConfigError` naming the argument or flag of an option out of range."""
        require(bool(self.results), "RESULTS: give at least one `semgen finetune` results folder")
        require(bool(self.out), "--out is required")
        require(bool(self.reference), "--reference must name an initialisation")
