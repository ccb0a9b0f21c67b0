"""Readers and writers for every scan format, canonical orientation, intensity windows.

``read_scan`` reads NIfTI, MetaImage, NRRD, DICOM series, NumPy and PNG/JPEG into a
:class:`Scan` in the canonical (X, Y[, Z]) LPS orientation; ``normalize_intensity``
maps it to [0, 1] per modality; ``find_sources`` finds every scan in a folder tree.
Bad input raises :class:`ScanError` (a ``ValueError``) naming the file and the problem.
"""

from semgen.io.dicom import DicomSeries, find_dicom_series, read_dicom_series
from semgen.io.intensity import DEFAULT_CT_WINDOW, DEFAULT_MR_PERCENTILES, guess_modality, normalize_intensity
from semgen.io.patients import patient_from_name
from semgen.io.readers import read_label, read_scan, scan_stem, scan_suffix
from semgen.io.scan import MODALITIES, Scan, ScanError, canonicalize, resample, write_scan
from semgen.io.sources import ScanSource, assign_ids, find_sources

__all__ = [
    "DEFAULT_CT_WINDOW",
    "DEFAULT_MR_PERCENTILES",
    "MODALITIES",
    "DicomSeries",
    "Scan",
    "ScanError",
    "ScanSource",
    "assign_ids",
    "canonicalize",
    "find_dicom_series",
    "find_sources",
    "guess_modality",
    "normalize_intensity",
    "patient_from_name",
    "read_dicom_series",
    "read_label",
    "read_scan",
    "resample",
    "scan_stem",
    "scan_suffix",
    "write_scan",
]
