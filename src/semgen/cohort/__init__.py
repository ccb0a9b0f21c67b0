"""The cohort store: a manifest plus one memory-mappable float16 array and body mask per scan.

``Cohort(path)`` opens one; ``create_cohort`` writes one from normalised arrays (tests,
other stages); ``prepare`` (``semgen prepare``) makes one from any folder of scans.
"""

from semgen.cohort.mask import body_mask, otsu_threshold
from semgen.cohort.prepare import PrepareConfig, prepare
from semgen.cohort.store import MANIFEST_COLUMNS, Cohort, CohortError, ScanRecord, create_cohort, read_manifest

__all__ = [
    "MANIFEST_COLUMNS",
    "Cohort",
    "CohortError",
    "PrepareConfig",
    "ScanRecord",
    "body_mask",
    "create_cohort",
    "otsu_threshold",
    "prepare",
    "read_manifest",
]
