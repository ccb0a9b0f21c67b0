"""The one rule that turns a file name into a patient id, used by every stage.

``semgen prepare`` writes it into a cohort's ``patient`` column (which ``discover`` and
``pretrain`` split on), and ``semgen finetune`` uses it for folder layouts, so a patient's
images land in the same split at every stage. A DICOM PatientID, a CSV ``patient`` column or
a phantom id wins over the file name where a stage has one.
"""

from __future__ import annotations

import os
import re

from semgen.io.readers import scan_stem

# (pattern on the file stem, example) - the first match's group 1 is the patient id
PATIENT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(person\d+)_"), "person1000_bacteria_2931 and person1000_virus_1681 -> person1000"),
    (re.compile(r"^((?:[A-Za-z]+\d*-)?IM-\d+)-"), "IM-0011-0001-0002 -> IM-0011; NORMAL2-IM-0381-0001 -> NORMAL2-IM-0381"),
)


def patient_from_name(path: str | os.PathLike) -> str:
    """The patient id in a scan's file name: the Kermany chest X-ray patterns
    (``person1000_bacteria_2931.jpeg`` and ``person1000_virus_1681.jpeg`` -> ``person1000``;
    ``IM-0023-0001.jpeg`` -> ``IM-0023``; ``NORMAL2-IM-0381-0001.jpeg`` -> ``NORMAL2-IM-0381``),
    otherwise the file name without its format suffix (one patient per file:
    ``case_07.nii.gz`` -> ``case_07``)."""
    stem = scan_stem(path)
    for rule, _ in PATIENT_RULES:
        if m := rule.match(stem):
            return m.group(1)
    return stem
