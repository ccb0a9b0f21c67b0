"""Target-task datasets from the folder layouts users already have, and the built-in recipes.

Layouts (:func:`discover_task` detects which):

- **class sub-folders**: ``DATA/<class>/<image or volume>`` (classification); a
  ``DATA/train/<class>/...`` + ``DATA/test/<class>/...`` pair honours the given test split;
- **images/ + labels/** with matching file names (``imagesTr``/``labelsTr`` too): segmentation;
- **nnU-Net v2 raw** and **Medical Segmentation Decathlon** folders (``dataset.json``, or
  ``imagesTr/`` with ``_0000`` channel suffixes): segmentation, see :mod:`semgen.finetune.layouts`;
- **a CSV** with ``path`` or ``image``, ``label`` and optional ``patient`` and ``split``
  columns: classification when labels are class names (``a;b`` = multi-label), segmentation
  when they are label-map files (relative paths are relative to the CSV's folder);
- **LIDC nodule crops** (``images/`` + ``labels/`` + ``labels.csv`` with ``path``, ``label``,
  ``patient`` and optional ``diameter_mm``): ``lidc-nodules`` (malignancy classification) or
  ``lidc-nodule-masks`` (nodule segmentation), each crop resampled to 1 mm isotropic and
  centred on its mask's centroid;
- **a phantoms folder** (``semgen phantoms``: ``candidates.csv`` + ``manifest.csv``):
  ``phantom-nodules`` (cubes centred on candidates, nodule 1 / look-alike 0) or
  ``phantom-organs`` (multi-class organ segmentation).

Unpaired files are reported in ``skipped`` (path and reason) and left out; unreadable files
are reported and left out when they are loaded (:func:`load_samples`). Patients: a CSV
``patient`` column, the phantom id, or an id derived from the file name
(:func:`semgen.io.patient_from_name`, the rule every stage uses), so that splits never
share a patient.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semgen.io.patients import patient_from_name
from semgen.io.readers import SCAN_SUFFIXES, scan_stem, scan_suffix
from semgen.utils.progress import progress
from semgen.utils.resize import resize

log = logging.getLogger(__name__)

TASKS = ("classification", "segmentation")


class TaskDataError(ValueError):
    """The data folder or CSV does not hold a usable target task (names the path and problem)."""


@dataclass(frozen=True)
class Sample:
    """One target-task example.

    ``target``: class index (classification), a tuple of class indices (multi-label) or
    the label-map path (segmentation). ``center``: voxel centre (X, Y, Z) of a
    candidate cube cut from ``image`` (phantom nodules), else None.
    """

    id: str
    image: Path
    patient: str
    target: int | tuple[int, ...] | Path
    split: str | None = None
    center: tuple[float, ...] | None = None


@dataclass
class TaskData:
    """A target task found on disk: its samples, classes and what was skipped.

    ``class_names``: classification classes in index order; for segmentation the names
    of label values 1..K-1 (background 0 is implied) as ``{value: name}`` in ``label_names``.
    """

    task: str
    root: Path
    samples: list[Sample]
    class_names: list[str] = field(default_factory=list)
    label_names: dict[int, str] = field(default_factory=dict)
    multilabel: bool = False
    skipped: list[dict] = field(default_factory=list)
    recipe: str | None = None
    modality: str | None = None
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-sample numbers that predict the label on their own (column name -> sample id ->
    value, e.g. LIDC's ``diameter_mm``): ``semgen evaluate`` reports each one's test AUC as
    the trivial baseline a model has to beat."""


@dataclass(frozen=True)
class Recipe:
    """A built-in target task: its layout reader and CPU-friendly defaults for scratch runs
    (a checkpoint's own patch size wins when fine-tuning pre-trained weights)."""

    name: str
    task: str
    spatial_dims: int
    modality: str
    patch: tuple[int, ...]
    reader: Callable[[Path], TaskData]
    description: str
    spacing: tuple[float, ...] | None = None  # mm; 3D inputs are resampled to it unless a checkpoint or --spacing says otherwise


def is_image(path: Path) -> bool:
    """A file with a known image suffix, or a folder of DICOM files (a series)."""
    if path.name.startswith("."):
        return False
    if path.is_dir():
        return any(p.suffix.lower() == ".dcm" for p in path.iterdir())
    return scan_suffix(path) in SCAN_SUFFIXES


def _listing(folder: Path, skipped: list[dict]) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if is_image(p):
            out.append(p)
        else:
            skipped.append({"path": str(p), "reason": "not an image file (unknown suffix)"})
    return out


def read_class_folders(root: Path) -> TaskData:
    """Classification from ``ROOT/<class>/<files>`` or ``ROOT/{train,test}/<class>/<files>``
    (the ``test/`` folder's patients become the test split; validation is carved from
    train; patient ids are namespaced per given split folder, since such datasets number
    patients per folder). Classes are the sorted sub-folder names."""
    skipped: list[dict] = []
    parts = {"train": root / "train", "test": root / "test"}
    if parts["train"].is_dir() and parts["test"].is_dir():
        sources = [(parts["train"], None), (parts["test"], "test")]
        if (root / "validation").is_dir():
            sources.append((root / "validation", "validation"))
    else:
        sources = [(root, None)]
    classes = sorted({d.name for src, _ in sources for d in src.iterdir() if d.is_dir() and not d.name.startswith(".") and not is_image(d)})
    if len(classes) < 2:
        raise TaskDataError(f"{root}: need at least two class sub-folders, found {classes or 'none'}")
    samples = []
    for src, split in sources:
        for k, name in enumerate(classes):
            if not (src / name).is_dir():
                continue
            for p in _listing(src / name, skipped):
                sid = f"{src.name}/{name}/{scan_stem(p)}" if split else f"{name}/{scan_stem(p)}"
                patient = patient_from_name(p)
                # the dataset's own split decides: ids are namespaced per given split folder
                samples.append(Sample(sid, p, f"{split}:{patient}" if split else patient, k, split))
    return TaskData("classification", root, samples, class_names=classes, skipped=skipped)


def _pair_folders(root: Path) -> tuple[Path, Path]:
    for img, lab in (("images", "labels"), ("imagesTr", "labelsTr")):
        if (root / img).is_dir() and (root / lab).is_dir():
            return root / img, root / lab
    raise TaskDataError(f"{root}: no images/ + labels/ (or imagesTr/ + labelsTr/) folders")


def read_image_label_folders(root: Path, label_names: dict[int, str] | None = None) -> TaskData:
    """Segmentation from ``ROOT/images/<name>`` + ``ROOT/labels/<name>`` (matching file
    names, any image suffix). Unpaired files on either side are reported and skipped.
    Label values: ``label_names`` when given, else found when the label maps are read."""
    images_dir, labels_dir = _pair_folders(root)
    skipped: list[dict] = []
    images = {scan_stem(p): p for p in _listing(images_dir, skipped)}
    labels = {scan_stem(p): p for p in _listing(labels_dir, skipped)}
    for name in sorted(set(images) - set(labels)):
        skipped.append({"path": str(images[name]), "reason": f"no label map {labels_dir.name}/{name}.* for this image"})
    for name in sorted(set(labels) - set(images)):
        skipped.append({"path": str(labels[name]), "reason": f"no image {images_dir.name}/{name}.* for this label map"})
    samples = [Sample(n, images[n], n, labels[n]) for n in sorted(set(images) & set(labels))]
    if not samples:
        raise TaskDataError(f"{root}: no image has a label map of the same name")
    return TaskData("segmentation", root, samples, label_names=dict(label_names or {}), skipped=skipped)


def read_csv_task(path: Path) -> TaskData:
    """A task from a CSV: ``path``/``image`` and ``label`` columns, optional ``patient`` and
    ``split`` (train/validation/test). Labels naming existing image files make a
    segmentation task; otherwise class names (``a;b`` for multi-label, sorted names)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise TaskDataError(f"{path}: cannot read the CSV ({e})") from None
    if not rows:
        raise TaskDataError(f"{path}: the CSV has no rows")
    cols = set(rows[0])
    img_col = "path" if "path" in cols else "image" if "image" in cols else None
    if img_col is None or "label" not in cols:
        raise TaskDataError(f"{path}: needs columns path (or image) and label; found {', '.join(sorted(cols))}")
    base = path.parent
    skipped: list[dict] = []

    def resolve(value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else base / p

    labels_are_files = all(resolve(r["label"]).exists() for r in rows if r["label"]) and any(r["label"] for r in rows)
    multilabel = not labels_are_files and any(";" in r["label"] for r in rows)
    names = sorted({n.strip() for r in rows for n in r["label"].split(";") if n.strip()}) if not labels_are_files else []
    _check_numeric_labels(path, names)
    samples = []
    seen: set[str] = set()
    for i, r in enumerate(rows, start=2):
        img = resolve(r[img_col])
        if not img.exists():
            skipped.append({"path": str(img), "reason": f"{path.name} line {i}: file does not exist"})
            continue
        if not r["label"].strip():
            skipped.append({"path": str(img), "reason": f"{path.name} line {i}: empty label"})
            continue
        if labels_are_files:
            target: int | tuple[int, ...] | Path = resolve(r["label"])
        elif multilabel:
            target = tuple(sorted(names.index(n.strip()) for n in r["label"].split(";") if n.strip()))
        else:
            target = names.index(r["label"].strip())
        sid = scan_stem(img)
        while sid in seen:
            sid += "_"
        seen.add(sid)
        split = (r.get("split") or "").strip() or None
        patient = (r.get("patient") or "").strip() or patient_from_name(img)
        samples.append(Sample(sid, img, patient, target, split))
    if labels_are_files:
        return TaskData("segmentation", path, samples, skipped=skipped)
    return TaskData("classification", path, samples, class_names=names, multilabel=multilabel, skipped=skipped)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _check_numeric_labels(path: Path, names: list[str]) -> None:
    """Labels that are all numbers must be class indices (whole numbers >= 0): a -1 (often
    "uncertain") or 0.5 (a probability) would silently become a class of its own."""
    values = {n: _number(n) for n in names}
    if not names or any(v is None for v in values.values()):
        return
    bad = [n for n, v in values.items() if v < 0 or v != int(v)]
    if bad:
        raise TaskDataError(
            f"{path}: labels {', '.join(bad)} are not class indices (whole numbers >= 0); numeric labels must "
            "name classes: drop or relabel those rows"
        )


def _phantom_images(root: Path) -> dict[str, Path]:
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        rel = r.get("image") or f"images/{r['id']}.nii.gz"
        p = Path(rel)
        out[r["id"]] = p if p.is_absolute() else root / p
    return out


def read_phantom_nodules(root: Path) -> TaskData:
    """Phantom nodule-candidate classification: one sample per ``candidates.csv`` row
    (a patch-sized cube centred on the candidate), label 1 nodule / 0 look-alike,
    patient = phantom id."""
    images = _phantom_images(root)
    skipped: list[dict] = []
    samples = []
    with open(root / "candidates.csv", newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            img = images.get(r["id"])
            if img is None or not img.exists():
                skipped.append({"path": str(img or r["id"]), "reason": f"candidates.csv row {i + 2}: no image for {r['id']}"})
                continue
            center = (float(r["x"]), float(r["y"]), float(r["z"]))
            samples.append(Sample(f"{r['id']}_c{i:04d}", img, r["id"], int(float(r["label"])), center=center))
    return TaskData("classification", root, samples, class_names=["look-alike", "nodule"], skipped=skipped, recipe="phantom-nodules", modality="CT")


def read_phantom_organs(root: Path) -> TaskData:
    """Phantom organ segmentation: ``images/`` + ``labels/``, every organ of the label map
    (``semgen.phantoms.LABELS``) a class."""
    from semgen.phantoms.anatomy import LABELS

    data = read_image_label_folders(root, {int(k): str(v) for k, v in LABELS.items() if int(k) != 0})
    data.recipe, data.modality = "phantom-organs", "CT"
    return data


def read_cxr(root: Path) -> TaskData:
    """cxr-pneumonia: ``train/`` + ``test/`` class folders (NORMAL, PNEUMONIA); binary."""
    data = read_class_folders(root)
    data.recipe, data.modality = "cxr-pneumonia", "XR"
    return data


def read_hippocampus(root: Path) -> TaskData:
    """hippocampus-mri (MSD Task04): images/ + labels/, labels 1 anterior, 2 posterior."""
    data = read_image_label_folders(root, {1: "anterior", 2: "posterior"})
    data.recipe, data.modality = "hippocampus-mri", "MR"
    return data


LIDC_SPACING = (1.0, 1.0, 1.0)
LIDC_PATCH = (32, 32, 32)


def _mask_centroid(path: Path) -> tuple[float, ...]:
    """The centroid (X, Y, Z voxels, canonical orientation) of a mask's foreground; the
    box centre when the mask is empty."""
    from semgen.io import read_scan

    mask = read_scan(path, modality="OT").array > 0
    if not mask.any():
        return tuple((n - 1) / 2 for n in mask.shape)
    return tuple(float(c.mean()) for c in np.nonzero(mask))


def _read_lidc(root: Path, task: str) -> TaskData:
    table = root / "labels.csv"
    try:
        with open(table, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise TaskDataError(f"{table}: cannot read the nodule table ({e})") from None
    missing = {"path", "label", "patient"} - set(rows[0] if rows else {})
    if missing:
        raise TaskDataError(f"{table}: needs columns path, label and patient; missing {', '.join(sorted(missing))}")
    skipped: list[dict] = []
    samples, diameters = [], {}
    for i, r in enumerate(progress(rows, desc="nodule masks", unit="mask"), start=2):
        image = root / r["path"]
        mask = root / "labels" / image.name
        label = _number(r["label"].strip())
        if label not in (0.0, 1.0):
            skipped.append({"path": str(image), "reason": f"labels.csv line {i}: label {r['label']!r} is not 0 or 1"})
            continue
        if not image.is_file() or not mask.is_file():
            what = "image" if not image.is_file() else f"mask labels/{image.name}"
            skipped.append({"path": str(image), "reason": f"labels.csv line {i}: no {what}"})
            continue
        try:
            center = _mask_centroid(mask)
        except (ValueError, OSError) as e:
            skipped.append({"path": str(mask), "reason": f"labels.csv line {i}: {e}"})
            continue
        sid = scan_stem(image)
        target: int | Path = int(label) if task == "classification" else mask
        samples.append(Sample(sid, image, r["patient"].strip() or patient_from_name(image), target, center=center))
        diameter = _number((r.get("diameter_mm") or "").strip())
        if diameter is not None:
            diameters[sid] = diameter
    if task == "classification":
        return TaskData(task, root, samples, class_names=["benign", "malignant"], skipped=skipped, recipe="lidc-nodules",
                        modality="CT", baselines={"diameter_mm": diameters} if diameters else {})
    return TaskData(task, root, samples, label_names={1: "nodule"}, skipped=skipped, recipe="lidc-nodule-masks", modality="CT")


def read_lidc_nodules(root: Path) -> TaskData:
    """LIDC nodule malignancy (``labels.csv``: ``path`` of each crop under ``images/``,
    ``label`` 1 malignant / 0 benign, ``patient``, optional ``diameter_mm`` kept as the
    trivial baseline). Each crop is centred on its mask's centroid (``labels/<same name>``),
    resampled to 1 mm isotropic and cut or zero-padded (-1000 HU) to the patch."""
    return _read_lidc(root, "classification")


def read_lidc_nodule_masks(root: Path) -> TaskData:
    """LIDC nodule segmentation: the crops of :func:`read_lidc_nodules` with their masks
    (``labels/<same name>``, foreground 1), image and mask cut to the patch on one grid."""
    return _read_lidc(root, "segmentation")


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("phantom-nodules", "classification", 3, "CT", (32, 32, 16), read_phantom_nodules,
               "phantom nodule-candidate classification: true nodules vs look-alikes (3D)"),
        Recipe("phantom-organs", "segmentation", 3, "CT", (64, 64, 32), read_phantom_organs,
               "phantom organ segmentation: every organ of the label map (3D)"),
        Recipe("cxr-pneumonia", "classification", 2, "XR", (64, 64), read_cxr,
               "paediatric chest X-ray pneumonia vs normal (2D)"),
        Recipe("hippocampus-mri", "segmentation", 3, "MR", (32, 48, 32), read_hippocampus,
               "hippocampus MRI segmentation, anterior + posterior (3D)"),
        # 1 mm isotropic: the crops' in-plane 0.5-0.9 mm and slices 0.5-2.5 mm meet at about the in-plane
        # size; 32 mm covers the median box (30x30x11 mm) and most nodules (the p90 box is 39x37x23 mm)
        Recipe("lidc-nodules", "classification", 3, "CT", LIDC_PATCH, read_lidc_nodules,
               "LIDC-IDRI nodule malignancy from nodule crops + labels.csv (3D)", LIDC_SPACING),
        Recipe("lidc-nodule-masks", "segmentation", 3, "CT", LIDC_PATCH, read_lidc_nodule_masks,
               "LIDC-IDRI nodule segmentation from nodule crops + masks (3D)", LIDC_SPACING),
    )
}
TASK_VARIANTS = {("lidc-nodules", "segmentation"): "lidc-nodule-masks", ("lidc-nodule-masks", "classification"): "lidc-nodules"}
"""``--recipe R --task T``: the recipe that holds task T of R's folder layout."""


def _is_lidc(root: Path) -> bool:
    if not (root / "labels.csv").is_file() or not (root / "images").is_dir() or not (root / "labels").is_dir():
        return False
    with open(root / "labels.csv", newline="") as f:
        header = next(csv.reader(f), [])
    return {"path", "label", "patient"} <= set(header)


def detect_recipe(root: Path, task: str | None = None) -> str | None:
    """The built-in recipe a folder's layout matches (None for a generic layout)."""
    if root.is_dir() and (root / "candidates.csv").is_file() and (root / "manifest.csv").is_file():
        return "phantom-organs" if task == "segmentation" else "phantom-nodules"
    if root.is_dir() and {"NORMAL", "PNEUMONIA"} <= {d.name for d in (root / "train").glob("*") if d.is_dir()}:
        return "cxr-pneumonia"
    if root.is_dir() and _is_lidc(root):
        return "lidc-nodule-masks" if task == "segmentation" else "lidc-nodules"
    if root.is_dir() and root.name.lower().startswith("hippocampus") and (root / "images").is_dir() and (root / "labels").is_dir():
        return "hippocampus-mri"
    return None


def discover_task(path: str | Path, *, task: str | None = None, recipe: str | None = None) -> TaskData:
    """Find the target task in ``path`` (a folder or a CSV file): a named ``recipe``, a
    recipe detected from the layout, or a generic layout. ``task`` (classification /
    segmentation) picks between phantom tasks and is checked against the layout."""
    from semgen.finetune.layouts import is_nnunet_or_msd, read_nnunet_or_msd

    path = Path(path)
    if not path.exists():
        raise TaskDataError(f"{path}: no such file or folder")
    if task is not None and task not in TASKS:
        raise TaskDataError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    if recipe is not None and recipe not in RECIPES:
        raise TaskDataError(f"unknown recipe {recipe!r}; use one of {', '.join(RECIPES)}")
    if recipe is not None and task is not None:
        recipe = TASK_VARIANTS.get((recipe, task), recipe)
    named = recipe
    recipe = recipe or detect_recipe(path, task)
    if named is not None and not path.is_dir():
        raise TaskDataError(
            f"{path}: --recipe {named} reads a folder ({RECIPES[named].description}), not a file; "
            "leave --recipe out to read the file's own layout"
        )
    if recipe is not None:
        try:
            data = RECIPES[recipe].reader(path)
        except (OSError, KeyError) as e:
            raise TaskDataError(f"{path}: does not have the layout of --recipe {recipe} ({e})") from None
    elif path.is_file() and path.suffix.lower() == ".csv":
        data = read_csv_task(path)
    elif is_nnunet_or_msd(path):
        data = read_nnunet_or_msd(path)
    elif path.is_dir() and any((path / a).is_dir() for a in ("images", "imagesTr")):
        data = read_image_label_folders(path)
    elif path.is_dir():
        data = read_class_folders(path)
    else:
        raise TaskDataError(f"{path}: expected a folder (class sub-folders or images/ + labels/) or a CSV file")
    if task is not None and data.task != task:
        raise TaskDataError(f"{path}: the layout holds a {data.task} task, but --task {task} was asked")
    if not data.samples:
        raise TaskDataError(f"{path}: no usable samples")
    for s in data.skipped:
        log.warning("skipped %s: %s", s["path"], s["reason"])
    if data.task == "classification" and not data.multilabel:
        _check_classes(path, data)
    return data


def _check_classes(path: Path, data: TaskData) -> None:
    """Refuse a classification task with fewer than two classes among its samples (accuracy
    would be 1.0 by construction); warn about a class of one sample (it cannot be in
    training and test at once, so its result means nothing)."""
    counts = Counter(int(s.target) for s in data.samples)
    if len(counts) < 2:
        only = data.class_names[next(iter(counts))] if counts else "none"
        raise TaskDataError(
            f"{path}: every sample has the label {only!r}: one class, nothing to classify; give at least two classes"
        )
    for index, n in sorted(counts.items()):
        if n == 1:
            log.warning("%s: class %r has 1 sample: it cannot be in both training and test, so its results mean "
                        "nothing; add samples or leave it out", path, data.class_names[index])


# ----------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Geometry:
    """How inputs are brought to what the model expects: ``spatial_dims``, the ``patch``
    size (voxels), an optional target ``spacing`` (mm; 3D volumes are resampled to it),
    the intensity ``modality`` kind (CT/MR/XR/OT) and its ``window`` dict (as written by
    ``semgen.io.normalize_intensity`` and stored in checkpoint metadata; None: min-max per
    image). ``sources`` says where each was decided (see :mod:`semgen.finetune.geometry`)."""

    spatial_dims: int
    patch: tuple[int, ...]
    spacing: tuple[float, ...] | None = None
    modality: str | None = None
    window: dict | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """One readable phrase for logs, e.g. ``3D, patch 64x64x32, spacing 1x1x1 mm, CT window -1000..1000``."""
        parts = [f"{self.spatial_dims}D", "patch " + "x".join(str(s) for s in self.patch)]
        if self.spatial_dims == 3:
            parts.append("native spacing" if self.spacing is None else "spacing " + "x".join(f"{s:g}" for s in self.spacing) + " mm")
        return ", ".join([*parts, self.normalisation()] if self.modality or self.window else parts)

    def normalisation(self) -> str:
        """The intensity normalisation in words, e.g. ``CT window -1000..1000`` or ``XR min-max per image``."""
        window = self.window or {}
        if window.get("kind") == "mr" and "percentiles" in window:
            low, high = window["percentiles"]
            return f"MR percentiles {low:g}..{high:g} per volume"
        if "low" in window and "high" in window:
            return f"{self.modality or window.get('kind', '')} window {window['low']:g}..{window['high']:g}".strip()
        return f"{self.modality or 'OT'} min-max per image"

    def inputs_key(self) -> tuple:
        """What makes two fine-tunings see the same inputs: dimensionality, patch, spacing,
        modality and normalisation (the MR window's per-volume ``low``/``high`` left out)."""
        window = {k: v for k, v in (self.window or {}).items() if not ((self.window or {}).get("kind") == "mr" and k in ("low", "high"))}
        return (self.spatial_dims, tuple(self.patch), tuple(self.spacing) if self.spacing else None, self.modality,
                tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in window.items())))

    def to_dict(self) -> dict:
        """The JSON form written to ``summary.json`` (read back by :meth:`from_dict`)."""
        return {"spatial_dims": self.spatial_dims, "patch": list(self.patch),
                "spacing": list(self.spacing) if self.spacing else None, "modality": self.modality,
                "window": self.window, "normalisation": self.normalisation(), "sources": dict(self.sources)}

    @classmethod
    def from_dict(cls, doc: dict) -> Geometry:
        """A geometry from :meth:`to_dict`'s form; a missing window is the one its modality gets
        by default (how earlier summaries recorded a scratch run's normalisation)."""
        from semgen.io.intensity import modality_window

        return cls(int(doc["spatial_dims"]), tuple(doc["patch"]), tuple(doc["spacing"]) if doc.get("spacing") else None,
                   doc.get("modality"), doc.get("window") or modality_window(doc.get("modality")),
                   dict(doc.get("sources") or {}))


@dataclass
class Loaded:
    """A preprocessed example: ``image`` float32 in [0, 1] ((X, Y) or (X, Y, Z)); ``target``
    class index / multi-hot vector (classification) or an int64 label map the shape of
    ``image`` (segmentation)."""

    sample: Sample
    image: np.ndarray
    target: int | np.ndarray


def crop_centered(array: np.ndarray, center: tuple[float, ...], patch: tuple[int, ...]) -> np.ndarray:
    """The ``patch``-sized block of ``array`` centred on ``center`` (voxels), zero-padded where
    it leaves the array."""
    out = np.zeros(patch, dtype=array.dtype)
    src, dst = [], []
    for c, p, n in zip(center, patch, array.shape):
        start = int(round(c)) - p // 2
        lo, hi = max(start, 0), min(start + p, n)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = array[tuple(src)]
    return out


def _read_label_map(path: Path, scan) -> np.ndarray:
    """An int64 label map on ``scan``'s grid: ``semgen.io.read_label`` for NIfTI/MetaImage/NRRD;
    pictures and NumPy files (2D masks) through ``read_scan``, checked to hold whole numbers >= 0."""
    from semgen.io import read_label, read_scan

    if path.name.lower().endswith((".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr", ".hdr")):
        return np.asarray(read_label(path, like=scan)).astype(np.int64)
    values = read_scan(path, modality="OT").array
    if not np.array_equal(values, np.round(values)) or values.min() < 0:
        raise ValueError(f"{path}: not a label map (values are not whole numbers >= 0)")
    return values.astype(np.int64)


def load_sample(sample: Sample, data: TaskData, geometry: Geometry) -> Loaded:
    """Read one sample and bring it to ``geometry``: intensity window in [0, 1], 3D volumes
    resampled to ``geometry.spacing`` when given; classification inputs resized (whole
    images/volumes) or cropped (candidate cubes) to the patch; segmentation pairs with a
    centre cropped to the patch on one grid, other 2D pairs resized to the patch, other 3D
    volumes kept whole (patches are drawn in training). Cropping zero-pads outside the input.
    Raises ``ValueError`` (naming the file) for unreadable or mismatched input."""
    from semgen.io import normalize_intensity, read_scan

    modality = geometry.modality or data.modality
    scan = read_scan(sample.image, modality=modality)
    array = np.asarray(scan.array, dtype=np.float32)
    if array.ndim != geometry.spatial_dims:
        raise ValueError(f"{sample.image}: a {array.ndim}D image, but the model is {geometry.spatial_dims}D")
    image, _ = normalize_intensity(array, modality or scan.modality, geometry.window)
    image = np.asarray(image, dtype=np.float32)
    label = None
    if data.task == "segmentation":
        label = _read_label_map(Path(sample.target), scan)
        if label.shape != array.shape:
            raise ValueError(f"{sample.target}: label map shape {label.shape} differs from its image {array.shape}")
    center = sample.center
    if geometry.spatial_dims == 3 and geometry.spacing is not None and not np.allclose(scan.spacing, geometry.spacing, rtol=1e-4):
        shape = tuple(max(1, int(round(n * s / t))) for n, s, t in zip(image.shape, scan.spacing, geometry.spacing))
        if center is not None:  # voxel centres map as in resize (grid mode)
            center = tuple((c + 0.5) * t / n - 0.5 for c, t, n in zip(center, shape, image.shape))
        image = resize(image, shape, order=1)
        if label is not None:
            label = resize(label, shape, order=0)
    if data.task == "classification":
        image = crop_centered(image, center, geometry.patch) if center is not None else resize(image, geometry.patch, order=1)
        if isinstance(sample.target, tuple):
            target: int | np.ndarray = np.zeros(len(data.class_names), dtype=np.float32)
            target[list(sample.target)] = 1
        else:
            target = int(sample.target)
        return Loaded(sample, np.clip(image, 0, 1).astype(np.float32), target)
    if center is not None:
        image, label = crop_centered(image, center, geometry.patch), crop_centered(label, center, geometry.patch)
    elif geometry.spatial_dims == 2:
        image, label = resize(image, geometry.patch, order=1), resize(label, geometry.patch, order=0)
    return Loaded(sample, np.clip(image, 0, 1).astype(np.float32), label)


def load_samples(samples: list[Sample], data: TaskData, geometry: Geometry) -> tuple[list[Loaded], list[dict]]:
    """:func:`load_sample` for every sample; an unreadable or mismatched one is reported
    (``{"path", "reason"}``, logged) and left out, never stopping the others."""
    loaded, skipped = [], []
    for s in progress(samples, desc="reading", unit="scan"):
        try:
            loaded.append(load_sample(s, data, geometry))
        except (ValueError, OSError, RuntimeError) as e:
            reason = str(e) if str(s.image) in str(e) or str(s.target) in str(e) else f"{s.image}: {e}"
            log.warning("skipped %s", reason)
            skipped.append({"path": str(s.image), "reason": reason})
    return loaded, skipped
