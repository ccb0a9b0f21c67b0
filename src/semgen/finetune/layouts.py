"""Segmentation datasets described by a ``dataset.json``: the nnU-Net v2 raw layout and the
Medical Segmentation Decathlon (MSD), read as they are.

- **nnU-Net v2** (``nnUNet_raw/DatasetXXX_Name``): ``imagesTr/<case>_<CCCC><file_ending>``
  (one file per input channel), ``labelsTr/<case><file_ending>`` and ``dataset.json`` with
  ``channel_names``, ``labels`` (name -> value, background 0) and ``file_ending``. semgen's
  networks take one channel: channel ``0000`` is used (a warning says so when there are more).
- **MSD** (``TaskXX_Name``): ``dataset.json`` with ``modality`` ({"0": "MRI"}), ``labels``
  (value -> name) and ``training`` ([{"image": "./imagesTr/x.nii.gz", "label":
  "./labelsTr/x.nii.gz"}]); cases listed under ``test`` have no labels and are not used.
- **imagesTr/ + labelsTr/ without dataset.json**: image names with a ``_0000`` channel suffix
  pair with the label of the same case name.

The modality comes from the first channel's name (``CT`` -> CT; MRI, T1, T2, FLAIR, ADC... -> MR).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from semgen.finetune.data import Sample, TaskData, TaskDataError, is_image
from semgen.io.readers import scan_stem

log = logging.getLogger(__name__)

DATASET_JSON = "dataset.json"
CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_MR_NAMES = ("MR", "T1", "T2", "FLAIR", "ADC", "DWI", "PD", "SWI")


def modality_of(channel_name: str) -> str | None:
    """CT / MR from a channel or modality name of a dataset.json (None when it says neither)."""
    name = channel_name.upper()
    if name == "CT" or name.startswith("CT"):
        return "CT"
    if any(tag in name for tag in _MR_NAMES):
        return "MR"
    return None


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TaskDataError(f"{path}: not a readable dataset.json ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("labels"), dict):
        raise TaskDataError(f"{path}: a dataset.json needs a 'labels' object (nnU-Net v2 or Medical Segmentation Decathlon)")
    return doc


def _case_files(folder: Path, ending: str | None) -> dict[str, dict[str, Path]]:
    """case -> channel ("0000", ...) -> file for ``folder`` of ``<case>_<CCCC><ending>`` images."""
    cases: dict[str, dict[str, Path]] = {}
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not is_image(p) or (ending and not p.name.endswith(ending)):
            continue
        stem = p.name[: -len(ending)] if ending else scan_stem(p)
        m = CHANNEL.match(stem)
        case, channel = (m["case"], m["channel"]) if m else (stem, "0000")
        cases.setdefault(case, {})[channel] = p
    return cases


def _labels(folder: Path, ending: str | None) -> dict[str, Path]:
    return {(p.name[: -len(ending)] if ending else scan_stem(p)): p
            for p in (sorted(folder.iterdir()) if folder.is_dir() else []) if is_image(p) and (not ending or p.name.endswith(ending))}


def _pair(root: Path, ending: str | None, skipped: list[dict]) -> list[Sample]:
    images = _case_files(root / "imagesTr", ending)
    labels = _labels(root / "labelsTr", ending)
    channels = sorted({c for files in images.values() for c in files})
    if len(channels) > 1:
        log.warning("%s: %d input channels per case; semgen's networks take one, channel 0000 is used", root, len(channels))
    samples = []
    for case in sorted(images):
        if "0000" not in images[case]:
            skipped.append({"path": str(next(iter(images[case].values()))), "reason": f"case {case} has no channel 0000 image"})
        elif case not in labels:
            skipped.append({"path": str(images[case]["0000"]), "reason": f"no label map labelsTr/{case}{ending or '.*'} for this case"})
        else:
            samples.append(Sample(case, images[case]["0000"], case, labels[case]))
    for case in sorted(set(labels) - set(images)):
        skipped.append({"path": str(labels[case]), "reason": f"no image imagesTr/{case}_0000{ending or '.*'} for this label map"})
    return samples


def read_nnunet_or_msd(root: Path) -> TaskData:
    """A segmentation task from an nnU-Net v2 raw dataset folder or an MSD task folder (see the
    module docstring); label names and the modality come from ``dataset.json`` when present."""
    root = Path(root)
    skipped: list[dict] = []
    label_names: dict[int, str] = {}
    modality = None
    path = root / DATASET_JSON
    if path.is_file():
        doc = _load(path)
        if isinstance(doc.get("training"), list):  # MSD: value -> name, an explicit list of training cases
            label_names = {int(v): str(n) for v, n in doc["labels"].items() if int(v) != 0}
            names = doc.get("modality") or {}
            modality = modality_of(str(names.get("0", ""))) if isinstance(names, dict) else None
            samples = []
            for i, case in enumerate(doc["training"]):
                image, label = (root / str(case.get(k, "")) for k in ("image", "label"))
                if not image.is_file() or not label.is_file():
                    missing = image if not image.is_file() else label
                    skipped.append({"path": str(missing), "reason": f"{DATASET_JSON} training[{i}]: file does not exist"})
                    continue
                samples.append(Sample(scan_stem(image), image, scan_stem(image), label))
        else:  # nnU-Net v2: name -> value (region-based training lists several values: not a label map class)
            label_names = {int(v): str(n) for n, v in doc["labels"].items() if isinstance(v, int) and v != 0}
            channels = doc.get("channel_names") or doc.get("modality") or {}
            modality = modality_of(str(channels.get("0", ""))) if isinstance(channels, dict) else None
            samples = _pair(root, doc.get("file_ending"), skipped)
    else:
        samples = _pair(root, None, skipped)
    if not samples:
        raise TaskDataError(f"{root}: no training case has both an image and a label map")
    return TaskData("segmentation", root, samples, label_names=label_names, skipped=skipped, modality=modality)


def is_nnunet_or_msd(root: Path) -> bool:
    """A folder with ``dataset.json`` or with ``imagesTr/`` whose images carry a ``_0000``
    channel suffix (a plain ``images/`` + ``labels/`` pair is the generic layout)."""
    root = Path(root)
    if not root.is_dir():
        return False
    if (root / DATASET_JSON).is_file():
        return True
    folder = root / "imagesTr"
    return folder.is_dir() and (root / "labelsTr").is_dir() and any(CHANNEL.match(scan_stem(p)) for p in folder.iterdir())
