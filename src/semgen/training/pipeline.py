"""``pretrain(config)``: the pre-training stage as a function (also under ``torchrun``).

Order, so that bad input fails before any work: join the process group, resolve the
preset, claim the run folder (rank 0; :mod:`semgen.stage`: another run there, a live owner,
``--resume`` with other options), load the state to resume from, then rank 0 gets the inputs
from the ``inputs`` function (the chain of earlier stages lives in :mod:`semgen.pipeline`)
while the other ranks wait, every rank opens the data (pattern classes and patch checked),
and the loop trains.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

from semgen.stage import claim_folder
from semgen.training.checkpoint import STATE_FILE, load_state
from semgen.training.config import PretrainConfig, resolve_config
from semgen.training.distributed import DistInfo, barrier, broadcast_object, init_distributed, shutdown
from semgen.training.inputs import given_inputs, load_training_data
from semgen.training.result import PretrainResult
from semgen.training.trainer import Trainer

# what a run folder holds besides config.yaml (removed by --overwrite)
OUTPUTS = (STATE_FILE, "model.safetensors", "model.json", "README.md", "metrics.csv", "curves.png", "summary.json", "triplets", "epochs", "tensorboard")
InputsFn = Callable[[PretrainConfig, Path], dict[str, str | None]]
T = TypeVar("T")


def _on_main(info: DistInfo, work: Callable[[], T]) -> T:
    """``work()`` on rank 0, its result on every rank; a ``ValueError`` there is raised on every rank."""
    if not info.distributed:
        return work()
    result, error = None, None
    if info.is_main:
        try:
            result = work()
        except ValueError as e:
            error = str(e)
    result, error = broadcast_object((result, error), info)
    if error is not None:
        raise ValueError(error)
    return result


@contextlib.contextmanager
def claim_run(cfg: PretrainConfig, info: DistInfo | None = None) -> Iterator[dict[str, Any] | None]:
    """Claim ``cfg.out`` for this run (rank 0 only) and yield the state to resume from (``None``
    for a new run). A folder holding a run is refused unless ``cfg.resume`` (same identity) or
    ``cfg.overwrite``; ``resume`` needs ``last.pt`` (:class:`~semgen.training.checkpoint.ResumeError`)."""
    info = info or DistInfo()
    run_dir = Path(cfg.out)
    with contextlib.ExitStack() as stack:

        def claim() -> None:
            stack.enter_context(claim_folder(
                run_dir, stage="pretrain", identity=cfg.identity(), outputs=OUTPUTS,
                config=dataclasses.replace(cfg, resume=False, overwrite=False), overwrite=cfg.overwrite,
                resume=cfg.resume, resume_hint=f"pass --resume {run_dir} to continue it or --overwrite to start again",
            ))

        _on_main(info, claim)
        yield load_state(run_dir / STATE_FILE) if cfg.resume else None


def pretrain(
    config: PretrainConfig,
    *,
    inputs: InputsFn = given_inputs,
    on_step: Callable[[int, int], None] | None = None,
) -> PretrainResult | None:
    """Run one pre-training; returns its :class:`PretrainResult` on rank 0 (``None`` on the other ranks).

    ``inputs(cfg, run_dir)`` returns ``{"cohort", "patterns"}`` paths (rank 0 only; the default
    takes a pattern set or a cohort as ``cfg.input``). Raises ``ValueError`` subclasses for
    bad input (before training starts) and :class:`~semgen.training.trainer.TrainingDiverged`
    when the loss stops being finite.
    """
    info = init_distributed(config.device)
    try:
        cfg = resolve_config(config, cuda=info.device.type == "cuda")
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        run_dir = Path(cfg.out)
        with claim_run(cfg, info) as state:
            paths = _on_main(info, lambda: inputs(cfg, run_dir))
            data = load_training_data(cfg, paths)
            result = Trainer(cfg, data, run_dir, info, state=state, on_step=on_step).run()
        # every rank done with its collectives before any leaves the group (a rank that tore
        # its gloo group down while another still used it aborted at exit, now and then)
        barrier(info)
        return result if info.is_main else None
    finally:
        shutdown(info)
