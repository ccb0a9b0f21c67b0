"""The patient-level validation split: patients never span both sides, counts, determinism."""

from __future__ import annotations

from semgen.utils.splits import validation_patients


def test_the_count_is_rounded_and_clamped_to_leave_both_sides():
    patients = [f"p{i}" for i in range(10)]
    assert len(validation_patients(patients, 0.3, 4, "s")) == 3
    assert len(validation_patients(["a", "b"], 0.1, 0, "s")) == 1  # at least one
    assert len(validation_patients(["a", "b"], 0.9, 0, "s")) == 1  # at most all but one
    assert validation_patients(["a", "b"], 0.0, 0, "s") == set()
    assert validation_patients(["a"], 0.2, 0, "s") == set()


def test_scans_of_one_patient_count_once_and_the_split_is_seeded():
    patients = ["a", "a", "b", "c", "c", "c", "d", "e"]
    chosen = validation_patients(patients, 0.4, 7, "s")
    assert len(chosen) == 2 and chosen <= set(patients)
    assert validation_patients(patients, 0.4, 7, "s") == chosen
    draws = {frozenset(validation_patients(patients, 0.4, seed, stream)) for seed in range(6) for stream in ("s", "t")}
    assert len(draws) > 1
