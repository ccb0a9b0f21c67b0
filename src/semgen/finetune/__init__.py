"""Target tasks, fine-tuning, evaluation protocol and comparison (paper Sec. 3).

- :func:`finetune` (``semgen finetune``): fine-tune ``scratch`` or pre-trained weights on a
  classification or segmentation task over several seeded trials; writes ``summary.json``.
- :func:`write_report` (``semgen compare``): mean ± s.d., paired or unpaired tests, bar and label-efficiency charts.
- :func:`evaluate` (``semgen evaluate``): every initialisation on the same split, label subsets
  and seeds (fine-tuned, probed, against converged scratch), paired statistics and a verdict.
- Building blocks: :func:`discover_task` (layouts, recipes), :func:`split_patients`,
  :func:`label_subset`, :func:`classification_metrics`, :func:`segmentation_metrics`,
  :func:`ttest_p`, :func:`sliding_window`.
"""

from semgen.finetune.compare import ResultsError, compare, write_report
from semgen.finetune.config import CompareConfig, FinetuneConfig
from semgen.finetune.evaluation import EvaluateConfig, evaluate
from semgen.finetune.data import RECIPES, Sample, TaskData, TaskDataError, discover_task, patient_from_name
from semgen.finetune.metrics import classification_metrics, overlap_per_class, segmentation_metrics
from semgen.finetune.pipeline import finetune
from semgen.finetune.result import FinetuneResult, FinetuneSummary
from semgen.finetune.splits import SplitError, label_subset, split_patients
from semgen.finetune.stats import mean_sd, significance_mark, ttest_p
from semgen.finetune.train import sliding_window

__all__ = [
    "RECIPES",
    "CompareConfig",
    "EvaluateConfig",
    "FinetuneConfig",
    "FinetuneResult",
    "FinetuneSummary",
    "ResultsError",
    "Sample",
    "SplitError",
    "TaskData",
    "TaskDataError",
    "classification_metrics",
    "compare",
    "discover_task",
    "evaluate",
    "finetune",
    "label_subset",
    "mean_sd",
    "overlap_per_class",
    "patient_from_name",
    "segmentation_metrics",
    "significance_mark",
    "sliding_window",
    "split_patients",
    "ttest_p",
    "write_report",
]
