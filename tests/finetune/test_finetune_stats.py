"""Paired statistics of semgen evaluate / compare: equal to SciPy, to brute force, and calibrated."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from semgen.finetune.stats import (
    bootstrap_ci,
    delong_test,
    detectable_difference,
    holm,
    paired,
    paired_t_power,
    paired_ttest_p,
    wilcoxon_p,
)


@pytest.mark.parametrize("seed", range(4))
def test_paired_t_and_wilcoxon_equal_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5 + 3 * seed
    b = rng.normal(0.8, 0.03, n)
    a = b + rng.normal(0.01 * seed, 0.02, n)
    assert paired_ttest_p(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert wilcoxon_p(a, b) == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    assert paired_ttest_p(a, b) != stats.ttest_ind(a, b).pvalue  # pairing matters


def test_paired_tests_drop_incomplete_pairs_and_handle_degenerate_input() -> None:
    a, b = [0.9, None, 0.7, math.nan, 0.8], [0.8, 0.5, 0.6, 0.4, 0.75]
    x, y = paired(a, b)
    assert x.tolist() == [0.9, 0.7, 0.8] and y.tolist() == [0.8, 0.6, 0.75]
    assert paired_ttest_p(a, b) == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert paired_ttest_p([1, 2, 3], [1, 2, 3]) == 1.0 and wilcoxon_p([1, 2, 3], [1, 2, 3]) == 1.0
    assert paired_ttest_p([2, 3, 4], [1, 2, 3]) == 0.0  # a constant non-zero difference: the test's limit
    assert math.isnan(paired_ttest_p([1.0], [2.0])) and math.isnan(wilcoxon_p([1.0], [2.0]))
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1, 2], [1])


def test_holm_matches_its_definition() -> None:
    p = [0.01, 0.04, 0.03, math.nan, 0.2]
    adjusted = holm(p)
    valid = [v for v in p if not math.isnan(v)]
    m = len(valid)
    ordered = sorted(valid)
    for v, adj in zip(p, adjusted):
        if math.isnan(v):
            assert math.isnan(adj)
            continue
        k = ordered.index(v)
        assert adj == pytest.approx(min(1.0, max((m - j) * ordered[j] for j in range(k + 1))))
    assert adjusted[:3] == pytest.approx([0.04, 0.09, 0.09]) and adjusted[4] == pytest.approx(0.2)
    assert holm([]) == [] and holm([0.5]) == [0.5]


def test_bootstrap_ci_is_seeded_and_covers_a_known_difference_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(2026)
    true = 0.03
    covered = 0
    for k in range(200):
        d = rng.normal(true, 0.02, 6)
        lo, hi = bootstrap_ci(d, seed=k)
        assert lo < d.mean() < hi
        covered += lo <= true <= hi
    assert 0.88 <= covered / 200 <= 0.99
    d = rng.normal(true, 0.02, 6)
    assert bootstrap_ci(d, seed=5) == bootstrap_ci(d, seed=5)
    assert bootstrap_ci([0.1, 0.1, 0.1]) == (0.1, 0.1)
    assert all(math.isnan(v) for v in bootstrap_ci([0.1]))


def test_detectable_difference_has_80_percent_power_by_simulation() -> None:
    rng = np.random.default_rng(7)
    diffs = rng.normal(0.0, 0.02, 8)
    delta = detectable_difference(diffs)
    sd, n = float(np.std(diffs, ddof=1)), len(diffs)
    assert paired_t_power(delta, sd, n) == pytest.approx(0.8, abs=1e-6)
    # Monte Carlo: paired t-tests on data with that true difference reject 80 % of the time
    sims = rng.normal(delta, sd, (40000, n))
    t = sims.mean(axis=1) / (sims.std(axis=1, ddof=1) / math.sqrt(n))
    rejected = np.mean(np.abs(t) > stats.t.ppf(0.975, n - 1))
    assert rejected == pytest.approx(0.8, abs=0.01)
    # more pairs detect smaller differences; no spread detects anything
    assert detectable_difference(np.tile(diffs, 3)) < delta
    assert detectable_difference([0.01, 0.01, 0.01]) == 0.0 and math.isnan(detectable_difference([0.01]))


def _delong_brute_force(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """DeLong et al. (1988) with explicit loops over the structural components."""

    def psi(x: float, z: float) -> float:
        return 1.0 if x > z else (0.5 if x == z else 0.0)

    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m, n = len(pos), len(neg)
    v10, v01, aucs = [], [], []
    for s in (a, b):
        rows = [sum(psi(s[i], s[j]) for j in neg) / n for i in pos]
        cols = [sum(psi(s[i], s[j]) for i in pos) / m for j in neg]
        v10.append(rows)
        v01.append(cols)
        aucs.append(sum(rows) / m)
    s10 = [[sum((v10[r][i] - aucs[r]) * (v10[q][i] - aucs[q]) for i in range(m)) / (m - 1) for q in range(2)] for r in range(2)]
    s01 = [[sum((v01[r][j] - aucs[r]) * (v01[q][j] - aucs[q]) for j in range(n)) / (n - 1) for q in range(2)] for r in range(2)]
    var = sum(s10[r][q] * w / m + s01[r][q] * w / n for r in range(2) for q in range(2) for w in [(1 if r == q else -1)])
    z = (aucs[0] - aucs[1]) / math.sqrt(var)
    return aucs[0], aucs[1], 2 * stats.norm.sf(abs(z))


def test_delong_equals_brute_force_structural_components() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(40) < 0.4).astype(int)
    a = np.round(y * 0.8 + rng.normal(0, 0.6, 40), 1)  # rounded: ties inside and across classes
    b = np.round(y * 0.3 + rng.normal(0, 0.6, 40), 1)
    got = delong_test(y, a, b)
    auc_a, auc_b, p = _delong_brute_force(y, a, b)
    assert got["auc_a"] == pytest.approx(auc_a) == pytest.approx(roc_auc_score(y, a))
    assert got["auc_b"] == pytest.approx(auc_b)
    assert got["p"] == pytest.approx(p, rel=1e-10)
    assert 0 < got["p"] < 1
    assert delong_test(y, a, a)["p"] == 1.0
    with pytest.raises(ValueError, match="both classes"):
        delong_test(np.ones(5), a[:5], b[:5])
