"""Pre-training (paper Sec. 2-3): the loop, exact resume, DDP under torchrun, mixed precision, logging.

``pretrain(config)`` runs ``semgen pretrain``: it prepares the inputs (runs the earlier
stages as needed, cached in the run folder) and trains one method of
:mod:`semgen.tasks` with :class:`Trainer`. A run folder holds ``model.safetensors`` +
``model.json`` (best weights), ``last.pt`` (resumable state), ``metrics.csv``,
``curves.png``, ``triplets/``, ``config.yaml`` and ``summary.json``.
"""

from semgen.training.checkpoint import ResumeError
from semgen.training.config import PretrainConfig, resolve_config
from semgen.training.inputs import detect_input, load_training_data, prepare_inputs
from semgen.training.metrics import read_metrics
from semgen.training.pipeline import pretrain
from semgen.training.trainer import RunExistsError, Trainer, TrainingData, TrainingDiverged, prepare_run_dir

__all__ = [
    "PretrainConfig",
    "ResumeError",
    "RunExistsError",
    "Trainer",
    "TrainingData",
    "TrainingDiverged",
    "detect_input",
    "load_training_data",
    "prepare_inputs",
    "prepare_run_dir",
    "pretrain",
    "read_metrics",
    "resolve_config",
]
