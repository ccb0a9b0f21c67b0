from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from semgen.phantoms import LABELS, PATIENT_TYPES, PRESETS, make_phantom


@pytest.fixture(scope="module")
def cohort() -> list:
    """Twelve tiny patients, three of each type."""
    return [make_phantom(100 + i, "tiny", i % len(PATIENT_TYPES)) for i in range(12)]


def test_same_seed_same_patient_other_seed_differs() -> None:
    a, b, c = make_phantom(7, "tiny", 1), make_phantom(7, "tiny", 1), make_phantom(8, "tiny", 1)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.nodule_mask, b.nodule_mask)
    assert a.nodules == b.nodules and a.lookalikes == b.lookalikes
    assert not np.array_equal(a.image, c.image)
    assert make_phantom(9, "tiny").patient_type == make_phantom(9, "tiny").patient_type


def test_shapes_dtypes_and_label_values(cohort: list) -> None:
    preset = PRESETS["tiny"]
    for ph in cohort[:4]:
        assert ph.image.shape == preset.shape and ph.image.dtype == np.float32
        assert ph.labels.shape == preset.shape and ph.labels.dtype == np.uint8
        assert ph.nodule_mask.dtype == np.uint8 and set(np.unique(ph.nodule_mask)) <= {0, 1}
        assert ph.spacing == preset.spacing
        assert set(np.unique(ph.labels)) == set(LABELS)
        assert -1024 <= ph.image.min() and ph.image.max() <= 3071


def test_plausible_hounsfield_units_per_label(cohort: list) -> None:
    for ph in cohort:
        mean = {k: float(ph.image[ph.labels == k].mean()) for k in LABELS}
        assert -900 < mean[1] < -650, mean  # aerated lung (with its vessels)
        assert mean[0] < -900  # air around the patient
        for organ in (2, 3, 5):  # heart, liver, aorta: soft tissue
            assert 0 < mean[organ] < 70, (LABELS[organ], mean)
        assert mean[4] > 200  # bone
        assert mean[6] < -300  # airways are mostly air


def test_canonical_lps_orientation(cohort: list) -> None:
    """Spine posterior (large y), heart to the patient's left (large x), liver right and
    inferior, lung apices superior."""
    ph = cohort[0]
    centre = {k: np.argwhere(ph.labels == k).mean(axis=0) for k in (1, 2, 3, 4)}
    body = np.argwhere(ph.labels > 0).mean(axis=0)
    assert centre[2][0] > body[0]  # heart left of the midline
    assert centre[3][0] < body[0]  # liver right
    assert centre[3][2] < centre[1][2]  # liver below the lungs
    lung_z = np.flatnonzero((ph.labels == 1).any(axis=(0, 1)))
    liver_z = np.flatnonzero((ph.labels == 3).any(axis=(0, 1)))
    assert lung_z.max() > liver_z.max()
    vertebrae = (ph.labels == 4) & (np.abs(np.arange(ph.labels.shape[0]) - body[0])[:, None, None] < 3)
    assert np.argwhere(vertebrae)[:, 1].mean() > body[1]  # midline bone (spine) is posterior


def test_nodules_in_lung_and_match_their_mask(cohort: list) -> None:
    total = 0
    for ph in cohort:
        assert 1 <= len(ph.nodules) <= 4
        components, count = ndimage.label(ph.nodule_mask)
        assert count == len(ph.nodules)
        hit = {int(components[c.center]) for c in ph.nodules}
        assert 0 not in hit and len(hit) == len(ph.nodules)  # one nodule per component
        for c in ph.nodules:
            assert ph.labels[c.center] == 1
            assert 1.5 <= c.radius_mm <= 7.5
        total += len(ph.nodules)
    assert total >= 12


def test_lookalikes_sit_on_vessels_in_lung(cohort: list) -> None:
    for ph in cohort:
        assert len(ph.lookalikes) >= 3
        parenchyma = np.median(ph.image[ph.labels == 1])
        for c in ph.lookalikes:
            assert c.kind == "bifurcation"
            assert ph.labels[c.center] == 1 and ph.nodule_mask[c.center] == 0
            assert ph.image[c.center] > parenchyma + 250  # a vessel, not air
        nodule_r = [c.radius_mm for c in ph.nodules]
        look_r = [c.radius_mm for c in ph.lookalikes]
        assert min(look_r) < max(nodule_r) + 3 and max(look_r) > min(nodule_r) - 3  # similar sizes


def test_patients_vary_and_types_differ(cohort: list) -> None:
    lung_slices = {int((ph.labels == 1).any(axis=(0, 1)).sum()) for ph in cohort}
    assert len(lung_slices) >= 3  # lung z-extent varies
    starts = {ph.params["fov_start"] for ph in cohort}
    assert len(starts) == len(cohort)
    by_type = {t: [ph for ph in cohort if ph.patient_type == t] for t in range(len(PATIENT_TYPES))}
    heart = {t: np.mean([ph.params["heart_volume_ml"] for ph in phs]) for t, phs in by_type.items()}
    lung = {t: np.mean([ph.params["lung_volume_ml"] for ph in phs]) for t, phs in by_type.items()}
    assert heart[3] > heart[0] > heart[2]  # cardiomegaly > average > slim
    assert lung[2] > lung[3]  # deep inspiration > expiration


def test_nearest_neighbour_groups_patients_of_a_type(cohort: list) -> None:
    def feature(ph) -> np.ndarray:
        a = np.clip((ph.image + 1000.0) / 2000.0, 0, 1)
        return a.reshape(16, 4, 16, 4, 8, 4).mean(axis=(1, 3, 5)).ravel()

    f = np.stack([feature(ph) for ph in cohort])
    types = np.array([ph.patient_type for ph in cohort])
    d = ((f[:, None] - f[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    agreement = (types[d.argmin(axis=1)] == types).mean()
    assert agreement >= 0.75  # chance is 2/11


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="preset"):
        make_phantom(0, "huge")
    with pytest.raises(ValueError, match="patient_type"):
        make_phantom(0, "tiny", patient_type=len(PATIENT_TYPES))
