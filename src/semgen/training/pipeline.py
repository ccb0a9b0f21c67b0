"""``pretrain(config)``: the whole of ``semgen pretrain`` as a function (also under ``torchrun``).

Order, so that bad input fails before any work: join the process group, resolve the
preset, check the run folder (another run there, ``--resume`` of another method or
model), then rank 0 runs the missing earlier stages (cached in the run folder) while the
other ranks wait, every rank opens the data (pattern classes and patch checked), and the
loop trains.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from semgen.training.config import PretrainConfig, resolve_config
from semgen.training.distributed import broadcast_object, init_distributed, shutdown
from semgen.training.inputs import load_training_data, prepare_inputs
from semgen.training.trainer import Trainer, prepare_run_dir


def pretrain(config: PretrainConfig, *, on_step: Callable[[int, int], None] | None = None) -> dict[str, Any] | None:
    """Run one pre-training; returns the summary on rank 0 (``None`` on the other ranks).

    Raises ``ValueError`` subclasses for bad input (before training starts) and
    :class:`~semgen.training.trainer.TrainingDiverged` when the loss stops being finite.
    """
    info = init_distributed(config.device)
    try:
        cfg = resolve_config(config, cuda=info.device.type == "cuda")
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        run_dir = Path(cfg.out)
        state = prepare_run_dir(run_dir, cfg, info)
        paths, error = None, None
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            try:
                paths = prepare_inputs(cfg, run_dir)
            except ValueError as e:
                if not info.distributed:
                    raise
                error = str(e)
        paths, error = broadcast_object((paths, error), info)
        if error is not None:
            raise ValueError(error)
        data = load_training_data(cfg, paths)
        summary = Trainer(cfg, data, run_dir, info, state=state, on_step=on_step).run()
        return summary if info.is_main else None
    finally:
        shutdown(info)
