"""Patient-level data splits and label-fraction subsets for target tasks.

Splits are made over *patients*, never over images, so two scans of one patient never
land on both sides of an evaluation (paper Sec. 3: every method is fine-tuned on the
same target splits). A split is fixed by its own seed, saved to ``split.json`` and
shared by all trials and all initialisations, so results are paired on one test set.

``label_subset`` draws the training patients kept for a label fraction with the *split*
seed, not the trial seed: a fraction always means the same patients, and a smaller
fraction's patients are a subset of a larger one's (nested subsets, as in the
annotation-efficiency curves of Semantic Genesis / TransVW).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence

from semgen.utils.seeding import numpy_rng

SPLITS = ("train", "validation", "test")


class SplitError(ValueError):
    """A split cannot be made or does not match the data (e.g. one patient in two splits)."""


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    """How many of ``n`` patients go to each of the requested splits (largest remainder);
    every requested split with a positive fraction gets at least one when ``n`` allows."""
    raw = [n * f for f in fractions]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0 and n >= len(fractions):
            donor = max(range(len(counts)), key=lambda j: counts[j])
            counts[donor] -= 1
            counts[i] += 1
    return counts


def split_patients(
    patients: Mapping[str, str | None],
    *,
    seed: int,
    validation: float = 0.15,
    test: float = 0.2,
    strata: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Assign every patient to ``train``, ``validation`` or ``test``.

    ``patients`` maps a patient id to its preset split (``"train"``, ``"validation"``,
    ``"test"`` or None, e.g. from a CSV ``split`` column or a ``test/`` folder). Presets
    are honoured: when some patients are preset to test, the test split is exactly those
    and validation is carved (fraction ``validation`` of the rest) from the others; when
    some are preset to validation, validation is exactly those. ``strata`` (patient ->
    class key) makes the random part stratified, so small classification sets keep every
    class in every split. Deterministic for a given ``seed``; returns patient -> split.
    """
    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise SplitError(f"split fractions must leave room for training: validation={validation}, test={test}")
    bad = {p: s for p, s in patients.items() if s is not None and s not in SPLITS}
    if bad:
        raise SplitError(f"unknown split name(s) {sorted(set(bad.values()))}; use one of {', '.join(SPLITS)}")
    presets = {s for s in patients.values() if s is not None}
    out: dict[str, str] = {p: s for p, s in patients.items() if s in ("validation", "test")}
    free = sorted(p for p in patients if p not in out)
    targets: list[tuple[str, float]] = []
    if "test" not in presets:
        targets.append(("test", test))
    if "validation" not in presets:
        targets.append(("validation", validation))
    rng = numpy_rng(seed, "split")
    strata = strata or {}
    by_stratum: dict[str, list[str]] = {}
    for p in free:
        by_stratum.setdefault(str(strata.get(p, "")), []).append(p)
    for key in sorted(by_stratum):
        group = [by_stratum[key][i] for i in rng.permutation(len(by_stratum[key]))]
        if targets:
            fr = [f for _, f in targets]
            counts = _counts(len(group), [*fr, 1 - sum(fr)])
        else:
            counts = [len(group)]
        start = 0
        for (name, _), c in zip([*targets, ("train", 0.0)], counts):
            for p in group[start : start + c]:
                out[p] = name
            start += c
    if not any(s == "train" for s in out.values()):
        raise SplitError(f"no patient left for training ({len(patients)} patients)")
    return out


def label_subset(train_patients: Sequence[str], fraction: float, *, seed: int) -> list[str]:
    """The training patients kept for label fraction ``fraction`` (0 < f <= 1).

    One fixed permutation per ``seed`` (the split seed), cut at ``ceil(f * n)`` (at least
    one patient): subsets are deterministic and nested (a smaller fraction's patients are
    a prefix of a larger one's). Returns the kept patients, sorted.
    """
    if not 0 < fraction <= 1:
        raise SplitError(f"--label-fraction must be in (0, 1], got {fraction}")
    ordered = sorted(train_patients)
    perm = numpy_rng(seed, "label-fraction").permutation(len(ordered))
    keep = max(1, math.ceil(fraction * len(ordered) - 1e-9))
    return sorted(ordered[i] for i in perm[:keep])


def split_hash(assignment: Mapping[str, str]) -> str:
    """A short hash of a patient -> split assignment (equal hashes = same test set)."""
    text = json.dumps(sorted(assignment.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
