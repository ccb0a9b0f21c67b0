"""The lidc-nodules / lidc-nodule-masks recipes on a tiny generated folder in the LIDC layout
(images/ + labels/ + labels.csv), and once on the real lidc-dev when ../shared/data is there."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from semgen.finetune.config import FinetuneConfig
from semgen.finetune.data import LIDC_PATCH, LIDC_SPACING, TaskDataError, discover_task, load_sample
from semgen.finetune.evaluation import trivial_baselines
from semgen.finetune.evaluation_report import baseline_lines
from semgen.finetune.geometry import task_geometry
from semgen.io import write_scan

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "lidc-dev"
NATIVE = (0.7, 0.7, 2.5)  # the median LIDC crop spacing (mm)
RADIUS = 4.0  # mm


def _nodule(shape: tuple[int, int, int], center_mm: tuple[float, float, float], spacing: tuple[float, ...]):
    """An int16 HU crop (lung -850, a sphere of soft tissue +40) and its mask, on one grid."""
    grid = np.stack(np.meshgrid(*[(np.arange(n) + 0.0) * s for n, s in zip(shape, spacing)], indexing="ij"), -1)
    mask = (np.linalg.norm(grid - np.array(center_mm), axis=-1) <= RADIUS).astype(np.uint8)
    image = np.where(mask > 0, 40, -850).astype(np.int16)
    return image, mask


@pytest.fixture(scope="module")
def lidc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """6 patients, 1-2 nodules each, boxes of varying size and spacing, nodules off the box centre."""
    root = tmp_path_factory.mktemp("lidc") / "nodules"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for p in range(6):
        for k in range(1 + p % 2):
            spacing = NATIVE if (p + k) % 2 == 0 else (0.6, 0.6, 1.25)
            shape = tuple(int(v) for v in rng.integers((20, 22, 5), (40, 44, 9)))
            extent = [n * s for n, s in zip(shape, spacing)]
            center = tuple(float(rng.uniform(0.35, 0.65) * e) for e in extent)
            image, mask = _nodule(shape, center, spacing)
            name = f"LIDC-IDRI-{p:04d}_R_{k}.nii.gz"
            write_scan(root / "images" / name, image, spacing)
            write_scan(root / "labels" / name, mask, spacing)
            rows.append({"path": f"images/{name}", "label": str((p + k) % 2), "patient": f"LIDC-IDRI-{p:04d}",
                         "diameter_mm": f"{3 + 2 * p + k:.2f}", "malignancy": "3"})
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root, rows


def _geometry(data, **kw):
    cfg = FinetuneConfig(data=str(data.root), out="unused", **kw)
    return task_geometry(cfg, data)


def test_layout_is_detected_and_labels_and_patients_map_from_the_table(lidc) -> None:
    root, rows = lidc
    data = discover_task(root)
    assert data.recipe == "lidc-nodules" and data.task == "classification"
    by_id = {s.id: s for s in data.samples}
    assert len(by_id) == len(rows)
    for r in rows:
        s = by_id[Path(r["path"]).name.removesuffix(".nii.gz")]
        assert s.target == int(r["label"]) and s.patient == r["patient"] and s.image == root / r["path"]
        assert data.baselines["diameter_mm"][s.id] == pytest.approx(float(r["diameter_mm"]))
    seg = discover_task(root, recipe="lidc-nodules", task="segmentation")
    assert seg.recipe == "lidc-nodule-masks" and seg.task == "segmentation"
    assert all(s.target == root / "labels" / s.image.name for s in seg.samples)
    assert discover_task(root, task="segmentation").recipe == "lidc-nodule-masks"


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_crops_are_isotropic_patch_sized_centred_and_on_one_grid(lidc, task: str) -> None:
    root, _ = lidc
    data = discover_task(root, task=task)
    geometry = _geometry(data)
    assert geometry.patch == LIDC_PATCH and geometry.spacing == LIDC_SPACING and geometry.modality == "CT"
    seg = discover_task(root, task="segmentation")
    centre = np.array(LIDC_PATCH) // 2  # the centre voxel, where crop_centered puts the given centre
    for s, m in zip(data.samples, seg.samples):
        loaded = load_sample(s, data, geometry)
        mask = load_sample(m, seg, geometry).target
        assert loaded.image.shape == LIDC_PATCH and mask.shape == LIDC_PATCH
        centroid = np.array([c.mean() for c in np.nonzero(mask)])
        assert np.all(np.abs(centroid - centre) <= 1.0), (s.id, centroid)
        # isotropic 1 mm: the 8 mm sphere spans 8 voxels along every axis, give or take one native
        # slice (2.5 mm) of discretisation; unresampled 2.5 mm slices would give 3-4 along z
        extents = [np.ptp(c) + 1 for c in np.nonzero(mask)]
        assert all(abs(e - 2 * RADIUS) <= max(NATIVE) for e in extents), (s.id, extents)
        # mask and image on one grid: the soft tissue (40 HU -> 0.52 in the -1000..1000 window) is the mask
        assert np.mean((loaded.image > 0.3) == (mask > 0)) > 0.98
        if task == "classification":
            assert loaded.target == s.target
        else:
            assert np.array_equal(loaded.target, mask) and set(np.unique(mask)) == {0, 1}


def test_spacing_flag_and_table_problems(lidc, tmp_path: Path) -> None:
    root, rows = lidc
    data = discover_task(root)
    assert _geometry(data, spacing=(2.0, 2.0, 2.0)).spacing == (2.0, 2.0, 2.0)
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    (bad / "labels").mkdir()
    for r in rows[:3]:
        for sub in ("images", "labels"):
            (bad / sub / Path(r["path"]).name).symlink_to(root / sub / Path(r["path"]).name)
    table = ["path,label,patient,diameter_mm", f"{rows[0]['path']},1,A,5", f"{rows[1]['path']},maybe,B,6",
             "images/missing.nii.gz,0,C,7", f"{rows[2]['path']},0,D,"]
    (bad / "labels.csv").write_text("\n".join(table) + "\n")
    data = discover_task(bad, recipe="lidc-nodules")
    assert [s.patient for s in data.samples] == ["A", "D"]
    reasons = " ".join(s["reason"] for s in data.skipped)
    assert "line 3: label 'maybe' is not 0 or 1" in reasons and "line 4: no image" in reasons
    assert set(data.baselines["diameter_mm"]) == {data.samples[0].id}
    (bad / "labels.csv").write_text("path,label\nimages/x.nii.gz,1\n")
    with pytest.raises(TaskDataError, match="missing patient"):
        discover_task(bad, recipe="lidc-nodules")


def test_diameter_baseline_is_the_auc_of_the_diameter_on_the_given_test_samples(lidc) -> None:
    root, rows = lidc
    data = discover_task(root)
    geometry = _geometry(data)
    test = [load_sample(s, data, geometry) for s in data.samples[:6]]
    out = trivial_baselines(data, test, "binary")["diameter_mm"]
    y = np.array([it.target for it in test])
    d = np.array([data.baselines["diameter_mm"][it.sample.id] for it in test])
    pairs = [(a > b) + 0.5 * (a == b) for a in d[y == 1] for b in d[y == 0]]
    assert out["auc"] == pytest.approx(np.mean(pairs)) and out["samples"] == 6
    assert out["patients"] == len({it.sample.patient for it in test})
    assert trivial_baselines(data, test, "multiclass") == {}
    (line,) = baseline_lines({"baselines": {"diameter_mm": out}})
    assert f"AUC {100 * out['auc']:.1f} %" in line and "same 6 test samples" in line and "`diameter_mm`" in line


@pytest.mark.skipif(not (REAL / "labels.csv").is_file(), reason="../shared/data/lidc-dev is absent (real data only on our machines)")
def test_real_lidc_dev_reads_as_both_tasks() -> None:
    data = discover_task(REAL)
    assert data.recipe == "lidc-nodules" and len(data.samples) > 400 and not data.skipped
    assert len({s.patient for s in data.samples}) > 200
    assert {int(s.target) for s in data.samples} == {0, 1} and len(data.baselines["diameter_mm"]) == len(data.samples)
    seg = discover_task(REAL, task="segmentation")
    geometry = _geometry(seg)
    loaded = load_sample(seg.samples[0], seg, geometry)
    assert loaded.image.shape == LIDC_PATCH and loaded.target.shape == LIDC_PATCH and loaded.target.sum() > 0


def test_cli_offers_every_recipe() -> None:
    from semgen.commands.finetune import RECIPE_NAMES
    from semgen.finetune.data import RECIPES

    assert set(RECIPE_NAMES) == set(RECIPES)
