"""Pre-training (paper Sec. 2-3): the loop, exact resume, DDP under torchrun, mixed precision, logging.

``pretrain(config)`` is the pre-training stage: it claims the run folder, takes a pattern
set (or, for sub-volume methods, a cohort) and trains one method of :mod:`semgen.tasks`
with :class:`Trainer`. The chain that runs the earlier stages first (``semgen pretrain``
with scans or no input) is :func:`semgen.pipeline.pretrain`. A run folder holds ``model.safetensors`` +
``model.json`` (best weights), ``last.pt`` (resumable state), ``metrics.csv``,
``curves.png``, ``triplets/``, ``config.yaml`` and ``summary.json``.
"""

from semgen.training.checkpoint import ResumeError
from semgen.training.config import PretrainConfig, resolve_config
from semgen.training.inputs import detect_input, given_inputs, load_training_data
from semgen.training.metrics import read_metrics
from semgen.training.pipeline import claim_run, pretrain
from semgen.training.result import PretrainResult
from semgen.training.trainer import Trainer, TrainingData, TrainingDiverged

__all__ = [
    "PretrainConfig",
    "PretrainResult",
    "ResumeError",
    "Trainer",
    "TrainingData",
    "TrainingDiverged",
    "claim_run",
    "detect_input",
    "given_inputs",
    "load_training_data",
    "pretrain",
    "read_metrics",
    "resolve_config",
]
