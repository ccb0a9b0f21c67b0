"""Statistics of repeated fine-tuning trials, as reported in the paper (Sec. 3, Table 2,
Fig. 2): mean ± s.d. over trials and an independent two-sample t-test of the best
initialisation against each other one.

Choices: the paper's "independent two-sample t-test" is Student's (``equal_var=True``,
the default of :func:`ttest_p`); Welch's unequal-variance test is an option. Two-sided.
Significance marks: ``*`` p < 0.05 (the paper's level), ``**`` p < 0.01,
``***`` p < 0.001, ``n.s.`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
MARKS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def finite(values: Sequence[float | None]) -> list[float]:
    """The values that are numbers (None and NaN, i.e. undefined metrics, dropped)."""
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def mean_sd(values: Sequence[float | None]) -> tuple[float, float, int]:
    """``(mean, sample s.d. (ddof=1), n)`` over the finite values; s.d. is NaN for n < 2."""
    v = finite(values)
    if not v:
        return math.nan, math.nan, 0
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else math.nan
    return float(np.mean(v)), sd, len(v)


def ttest_p(a: Sequence[float | None], b: Sequence[float | None], *, equal_var: bool = True) -> float:
    """Two-sided p-value of ``scipy.stats.ttest_ind(a, b, equal_var=...)`` over the finite
    values; NaN when either side has fewer than 2 values. With zero variance on both
    sides (where SciPy returns NaN) it is the test's limit: 1.0 for equal means, else 0.0."""
    x, y = finite(a), finite(b)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 1.0 if x[0] == y[0] else 0.0
    return float(stats.ttest_ind(x, y, equal_var=equal_var).pvalue)


def significance_mark(p: float) -> str:
    """``***``/``**``/``*`` for p below 0.001/0.01/0.05, ``n.s.`` otherwise (or for NaN)."""
    if math.isnan(p):
        return "n.s."
    for level, mark in MARKS:
        if p < level:
            return mark
    return "n.s."


def nan_to_none(obj):
    """A copy of a JSON-bound structure with NaN floats replaced by None (strict JSON)."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [nan_to_none(v) for v in obj]
    return obj
