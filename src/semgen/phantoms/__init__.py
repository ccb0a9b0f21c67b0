"""The built-in synthetic chest-CT cohort: procedural anatomy in Hounsfield units with organ
labels, lung nodules and their vessel-bifurcation look-alikes (the embedded default that
``semgen pretrain`` runs on when given no data).

- :func:`make_phantom` builds one patient in memory (pure, deterministic for a seed).
- :func:`write_cohort` writes a cohort as NIfTI + ``manifest.csv`` + ``candidates.csv``.
"""

from semgen.phantoms.anatomy import (
    LABELS,
    PATIENT_TYPES,
    PRESETS,
    Candidate,
    PatientType,
    Phantom,
    Preset,
    make_phantom,
)
from semgen.phantoms.writer import PhantomsConfig, PhantomsResult, patient_plan, phantoms, write_cohort

__all__ = [
    "LABELS",
    "PATIENT_TYPES",
    "PRESETS",
    "Candidate",
    "PatientType",
    "Phantom",
    "PhantomsConfig",
    "PhantomsResult",
    "Preset",
    "make_phantom",
    "patient_plan",
    "phantoms",
    "write_cohort",
]
