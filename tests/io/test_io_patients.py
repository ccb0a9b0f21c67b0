"""One patient-id rule for every stage: the name rule itself, the cohort's patient column
(which discover and pretrain split on) and fine-tuning's samples agree."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from semgen.cohort import Cohort, PrepareConfig, prepare
from semgen.finetune import discover_task
from semgen.io import patient_from_name

CXR_NAMES = {
    "person1000_bacteria_2931.jpeg": "person1000",
    "person1000_virus_1681.jpeg": "person1000",
    "person1_virus_6.jpeg": "person1",
    "person26_virus_60_1.jpeg": "person26",
    "IM-0023-0001.jpeg": "IM-0023",
    "IM-0011-0001-0002.jpeg": "IM-0011",
    "NORMAL2-IM-0381-0001.jpeg": "NORMAL2-IM-0381",
    "case_07.nii.gz": "case_07",
    "person.nii.gz": "person",
}


def test_rule_on_the_chest_xray_names() -> None:
    for name, patient in CXR_NAMES.items():
        assert patient_from_name(Path("some/folder") / name) == patient, name


def test_prepare_and_finetune_give_the_same_patients(tmp_path: Path) -> None:
    """person1000_bacteria_* and person1000_virus_* are one patient in the cohort (discover,
    pretrain) and in fine-tuning alike."""
    names = {"NORMAL": ["IM-0011-0001-0001", "IM-0011-0001-0002", "IM-0023-0001"],
             "PNEUMONIA": ["person1000_bacteria_2931", "person1000_virus_1681", "person1_virus_6"]}
    rng = np.random.default_rng(0)
    for cls, stems in names.items():
        (tmp_path / "data" / cls).mkdir(parents=True)
        for stem in stems:
            pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / cls / f"{stem}.png")
    prepare(PrepareConfig(inputs=(str(tmp_path / "data"),), out=str(tmp_path / "cohort"), workers=0))
    cohort = {Path(r.source).stem: r.patient for r in Cohort(tmp_path / "cohort").records}
    task = {Path(s.image).stem: s.patient for s in discover_task(tmp_path / "data").samples}
    assert cohort == task
    assert cohort["person1000_bacteria_2931"] == cohort["person1000_virus_1681"] == "person1000"
    assert len(set(cohort.values())) == 4


def test_every_real_chest_xray_name(shared_data: Path) -> None:
    """Every file of the real cxr-pneumonia set gets the person / IM number as its patient."""
    files = sorted((shared_data / "cxr-pneumonia").rglob("*.jpeg"))
    assert len(files) > 5000
    expected = re.compile(r"^(person\d+|(?:NORMAL\d+-)?IM-\d+)$")
    patients = {f.name: patient_from_name(f) for f in files}
    assert all(expected.match(p) for p in patients.values())
    persons = {f.name.split("_")[0] for f in files if f.name.startswith("person")}
    both = [p for p in persons if any(n.startswith(p + "_bacteria") for n in patients)
            and any(n.startswith(p + "_virus") for n in patients)]
    assert both, "the set has people with bacterial and viral images"
    for person in both:
        assert {v for n, v in patients.items() if n.startswith(person + "_")} == {person}
