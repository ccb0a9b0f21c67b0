"""The patient-level validation split used by self-discovery and pre-training.

Splits are over *patients*, never over scans: two scans of one patient never land on both
sides. (Fine-tuning's three-way train/validation/test split with presets and strata is
:func:`semgen.finetune.splits.split_patients`.)
"""

from __future__ import annotations

from collections.abc import Sequence

from semgen.utils.seeding import numpy_rng


def validation_patients(patients: Sequence[str], fraction: float, seed: int, stream: str) -> set[str]:
    """The patients (of the distinct values of ``patients``) held out for validation.

    ``round(fraction x number of patients)`` of them, drawn by a permutation of the sorted
    patient ids from the generator ``(seed, stream)``; with two or more patients and
    ``fraction > 0`` at least one and at most all but one. ``stream`` names the caller's
    random stream (self-discovery and pre-training draw independent splits).
    """
    unique = sorted(set(patients))
    n_val = round(fraction * len(unique))
    if fraction > 0 and len(unique) >= 2:
        n_val = min(max(n_val, 1), len(unique) - 1)
    order = numpy_rng(seed, stream).permutation(len(unique))
    return {unique[i] for i in order[:n_val]}
