"""``PretrainConfig``: every knob of ``semgen pretrain``, with the published values and a CPU preset.

Fields left ``None`` are filled from the preset by :func:`resolve_config`:

| field | ``paper`` (published SG PyTorch code / paper) | ``cpu`` (the main job in under 3 min on 2 AVX2 cores) |
|---|---|---|
| width | 32 | 8 |
| epochs | 10000 (early stopping ends it) | 4; 8 for a method with both branches when neither `--epochs` nor `--warmup-epochs` is given |
| batch_size | 64 | 8 |
| patience (early stopping) | 50 | 10 |
| warmup_epochs | the method's (20 with both branches, else 0) | at most 2; 6 in the 8-epoch schedule |
| lr_step | 40 (StepLR(40, 0.5)) | 40 |
| plateau_patience | 20 (Keras ReduceLROnPlateau) | 3 |
| num_workers | 4 | 0 |
| subvolumes_per_scan | 32 (the MG generator's cubes per scan) | 16 |
| pictures_every | 1 | 5 |

``pictures_every``: ``curves.png`` and the restoration triplets are drawn every N-th epoch and
after the last one (drawing both costs about 0.5 s, a few per cent of a CPU-preset epoch;
``metrics.csv`` and ``last.pt`` are written every epoch either way).

The CPU preset's own schedule for a method with both branches (the main job's): 6 epochs of
classification alone, then 2 joint epochs. A warm-up epoch costs about a quarter of a joint
one, and the pattern accuracy is what a short run learns least: on the main job's 32
phantoms (one thread, seeds 0-3, 24 validation crops) 2 warm-up + 2 joint epochs ended at
33-58 % validation pattern accuracy (chance 12.5 %), 6 + 2 at 58-83 %, for about 40 % more
pre-training time. With `--epochs` or `--warmup-epochs` given, the table's values apply.

``preset="auto"`` picks ``paper`` on a CUDA device when an input is given, ``cpu`` otherwise
(the built-in synthetic chain is CPU-sized everywhere).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semgen.loggers import check_logger
from semgen.stage import ConfigError, StageConfig, check_at_least, require

PRESETS: dict[str, dict[str, int]] = {
    "paper": {
        "width": 32,
        "epochs": 10000,
        "batch_size": 64,
        "patience": 50,
        "warmup_epochs": 20,
        "lr_step": 40,
        "plateau_patience": 20,
        "num_workers": 4,
        "subvolumes_per_scan": 32,
        "pictures_every": 1,
    },
    "cpu": {
        "width": 8,
        "epochs": 4,
        "batch_size": 8,
        "patience": 10,
        "warmup_epochs": 2,
        "lr_step": 40,
        "plateau_patience": 3,
        "num_workers": 0,
        "subvolumes_per_scan": 16,
        "pictures_every": 5,
    },
}

# the CPU preset's schedule for a method with both branches when neither --epochs nor
# --warmup-epochs is given: (warm-up epochs, joint epochs after them)
CPU_SCHEDULE = (6, 2)

LR_SCHEDULES = ("step", "plateau", "none")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")



@dataclass
class PretrainConfig(StageConfig):
    """Configuration of one pre-training run (``semgen pretrain``); see the module table for presets.

    ``patch`` is the training crop size (X, Y[, Z]); ``None`` = the crop size of the pattern
    set (or, for sub-volume methods, the crop size discovery would use). ``lr_schedule`` is
    ``step`` (StepLR(``lr_step``, ``lr_gamma``) per epoch, the published PyTorch default),
    ``plateau`` (ReduceLROnPlateau(``lr_gamma``, ``plateau_patience``) on the validation
    loss, the published Keras one) or ``none``. ``precision``: ``auto`` = the models
    area's fast path (bf16 autocast + channels_last where the hardware supports it).
    ``schedule``: a corruption schedule of :data:`semgen.transforms.SCHEDULES` used instead of the
    method's (``None``), e.g. one corruption alone (``nonlinear``, ``local-shuffle``, ``inpaint``,
    ``outpaint``) or ``identity`` (no corruption). ``threads``: torch intra-op threads per process
    (``None`` = the ``--threads`` default; 1 is much faster on a machine whose cores other jobs are using).

    Identity (:mod:`semgen.stage`): every field that changes the weights, except the
    stopping rule (``epochs``, ``patience``, ``min_delta``: a resumed run may extend it) and
    the machine (``device``, ``threads``, ``num_workers``, ``deterministic``).
    """

    IDENTITY = (
        "input", "method", "schedule", "preset", "seed", "backbone", "backbone_args", "width", "patch", "norm", "encoder",
        "batch_size", "lr", "lr_schedule",
        "lr_step", "lr_gamma", "plateau_patience", "min_lr", "warmup_epochs", "lambda_rec", "lambda_cls",
        "subvolumes_per_scan", "val_fraction", "precision", "phantoms", "discovery_config",
    )
    RENAMED = {"validation_fraction": "val_fraction"}

    input: str | None = None
    out: str = "runs/pretrain"
    method: str = "semantic-genesis"
    schedule: str | None = None
    preset: str = "auto"
    seed: int = 0
    backbone: str = "semgen"  # semgen (the published U-Net) or a framework network of semgen.models.BACKBONES
    backbone_args: dict[str, Any] | None = None  # that network's own arguments (over its defaults at --width)
    width: int | None = None
    patch: tuple[int, ...] | None = None
    norm: str = "batch"
    encoder: str = "unet"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 1e-3
    lr_schedule: str = "step"
    lr_step: int | None = None
    lr_gamma: float = 0.5
    plateau_patience: int | None = None
    min_lr: float = 1e-6
    patience: int | None = None
    min_delta: float = 1e-4
    warmup_epochs: int | None = None
    lambda_rec: float = 1.0
    lambda_cls: float = 0.01
    num_workers: int | None = None
    subvolumes_per_scan: int | None = None
    val_fraction: float = 0.2
    precision: str = "auto"
    device: str = "auto"
    threads: int | None = None
    deterministic: bool = False
    triplets: int = 4
    pictures_every: int | None = None  # draw curves.png and triplets every N-th epoch and after the last
    keep_every: int = 0  # also keep the weights of every N-th epoch in RUN/epochs/epoch_<n>/ (0: only the best)
    phantoms: int = 32
    discovery_config: str | None = None
    resume: bool = False
    overwrite: bool = False
    dataset_name: tuple[str, ...] = ()  # dataset names for the model card (README.md front matter)
    log: str | None = None  # experiment logger (semgen.loggers): tensorboard, or None for none

    def validate(self) -> None:
        """Every option in range (fields still ``None`` are filled from the preset later)."""
        check_at_least(self, ("width", "epochs", "batch_size", "patience", "lr_step", "plateau_patience",
                              "subvolumes_per_scan", "phantoms", "threads", "pictures_every"), 1)
        check_at_least(self, ("warmup_epochs", "num_workers", "keep_every"), 0)
        require(self.triplets >= 0, f"triplets (a --config key) must be >= 0, got {self.triplets}")
        require(self.lr > 0, f"--lr must be positive, got {self.lr}")
        require(self.lr_schedule in LR_SCHEDULES, f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        require(self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        require(self.preset in ("auto", *PRESETS), f"--preset: unknown preset {self.preset!r}; known: auto, {', '.join(PRESETS)}")
        require(0.0 < self.val_fraction < 1.0, f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        if self.schedule is not None:
            from semgen.transforms import SCHEDULES

            require(self.schedule in SCHEDULES, f"--schedule {self.schedule!r}: unknown; known: {', '.join(SCHEDULES)}")
        if self.patch is not None and (len(self.patch) not in (2, 3) or min(self.patch) < 1):
            raise ConfigError(f"--patch must be 2 or 3 positive sizes (X Y [Z]), got {self.patch}")
        require(not (self.resume and self.overwrite), "--resume and --overwrite exclude each other")
        check_logger(self.log)
        from semgen.models.backbones import DEFAULT_BACKBONE, backbone_names, get_backbone, parse_backbone_args, require_extra

        require(self.backbone in backbone_names(), f"--backbone must be one of {', '.join(backbone_names())}; got {self.backbone!r}")
        try:
            self.backbone_args = parse_backbone_args(self.backbone_args) or None
            if self.backbone != DEFAULT_BACKBONE:
                require_extra(get_backbone(self.backbone).family)
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def identity(self) -> dict[str, Any]:
        """:attr:`IDENTITY` with ``input`` and ``discovery_config`` as absolute paths."""
        values = super().identity()
        for name in ("input", "discovery_config"):
            if values[name] is not None:
                values[name] = str(Path(values[name]).resolve())
        return values


def resolve_config(cfg: PretrainConfig, *, cuda: bool) -> PretrainConfig:
    """A copy of ``cfg`` with the preset filled in (checked again at construction)."""
    from semgen.tasks import get_method

    method = get_method(cfg.method)
    preset = cfg.preset
    if preset == "auto":
        preset = "paper" if (cuda and cfg.input is not None) else "cpu"
    values = dataclasses.asdict(cfg)
    values["preset"] = preset
    for key, default in PRESETS[preset].items():
        if values[key] is None:
            values[key] = default
    if cfg.warmup_epochs and not method.joint and not cfg.resume:  # a resumed run's method check says more
        raise ConfigError(
            f"--warmup-epochs {cfg.warmup_epochs}: the warm-up trains the classification branch alone before joint "
            f"training, and {method.name} has only a {'classification' if method.classification else 'restoration'} "
            "branch; drop the flag (or set it to 0)"
        )
    if preset == "cpu" and method.joint and cfg.epochs is None and cfg.warmup_epochs is None:
        warmup = min(CPU_SCHEDULE[0], method.warmup_epochs)
        values["warmup_epochs"], values["epochs"] = warmup, warmup + CPU_SCHEDULE[1]
    elif cfg.warmup_epochs is None:
        values["warmup_epochs"] = min(values["warmup_epochs"], method.warmup_epochs) if method.joint else 0
    return PretrainConfig(**values)
