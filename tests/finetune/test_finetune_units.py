"""Splits, label fractions, metrics, statistics, layouts and the comparison report (no model needed)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sstats

from semgen.cli import main
from semgen.finetune.compare import ResultsError, compare, render_markdown, write_report
from semgen.finetune.data import TaskDataError, crop_centered, discover_task
from semgen.finetune.metrics import classification_metrics, overlap_per_class, segmentation_metrics
from semgen.finetune.splits import SplitError, label_subset, split_patients
from semgen.finetune.stats import delong_test, holm, mean_sd, significance_mark, ttest_p
from semgen.finetune.train import (
    Arrays,
    Evaluator,
    TrainSettings,
    segmentation_loss,
    sliding_window,
    soft_dice_loss,
    validation_patches,
)

# ----------------------------------------------------------------------------- splits


def test_split_is_deterministic_disjoint_and_covers_everyone() -> None:
    patients = {f"p{i:03d}": None for i in range(40)}
    a = split_patients(patients, seed=3, validation=0.15, test=0.2)
    b = split_patients(patients, seed=3, validation=0.15, test=0.2)
    c = split_patients(patients, seed=4, validation=0.15, test=0.2)
    assert a == b and a != c
    assert set(a) == set(patients)
    counts = {s: sum(v == s for v in a.values()) for s in ("train", "validation", "test")}
    assert counts == {"train": 26, "validation": 6, "test": 8}


def test_split_honours_a_given_test_split_and_stratifies() -> None:
    patients = {f"t{i}": "test" for i in range(5)} | {f"p{i}": None for i in range(20)}
    strata = {p: str(i % 2) for i, p in enumerate(sorted(patients))}
    out = split_patients(patients, seed=0, validation=0.2, strata=strata)
    assert {p for p, s in out.items() if s == "test"} == {f"t{i}" for i in range(5)}
    val = [p for p, s in out.items() if s == "validation"]
    assert len(val) == 4 and {strata[p] for p in val} == {"0", "1"}


def test_tiny_split_gets_one_patient_in_each_split() -> None:
    out = split_patients({"a": None, "b": None, "c": None}, seed=1)
    assert sorted(out.values()) == ["test", "train", "validation"]


def test_split_rejects_bad_fractions_and_names() -> None:
    with pytest.raises(SplitError):
        split_patients({"a": None}, seed=0, validation=0.6, test=0.5)
    with pytest.raises(SplitError, match="unknown split"):
        split_patients({"a": "holdout"}, seed=0)


def test_label_fraction_subsets_are_nested_and_deterministic() -> None:
    train = [f"p{i}" for i in range(30)]
    subsets = [label_subset(train, f, seed=7) for f in (0.1, 0.25, 0.5, 1.0)]
    assert [len(s) for s in subsets] == [3, 8, 15, 30]
    for small, big in zip(subsets, subsets[1:]):
        assert set(small) <= set(big)
    assert label_subset(train, 0.25, seed=7) == subsets[1]
    assert label_subset(train, 0.25, seed=8) != subsets[1]
    assert label_subset(train[::-1], 0.25, seed=7) == subsets[1]  # order of the input does not matter
    with pytest.raises(SplitError):
        label_subset(train, 0.0, seed=7)


# ----------------------------------------------------------------------------- metrics


def test_binary_auc_and_accuracy_by_hand() -> None:
    # positives 0.8, 0.4; negatives 0.6, 0.1: pairs (pos > neg): 0.8>0.6, 0.8>0.1, 0.4>0.1, 0.4<0.6 -> 3/4
    m = classification_metrics(np.array([0.8, 0.4, 0.6, 0.1]), np.array([1, 1, 0, 0]), kind="binary")
    assert m["auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.5)  # 0.8 right, 0.4 wrong, 0.6 wrong, 0.1 right


def test_multilabel_auc_is_the_macro_mean() -> None:
    scores = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.3], [0.2, 0.6]])
    targets = np.array([[1, 0], [0, 1], [0, 0], [1, 1]])
    # label 0: pos {0.9, 0.2}, neg {0.1, 0.7}: 0.9>0.1, 0.9>0.7, 0.2>0.1, 0.2<0.7 -> 3/4
    # label 1: pos {0.8, 0.6}, neg {0.2, 0.3} -> 1
    m = classification_metrics(scores, targets, kind="multilabel")
    assert m["auc"] == pytest.approx((0.75 + 1.0) / 2)
    assert m["accuracy"] == pytest.approx(2 / 4)  # rows 0 and 1 exactly right


def test_auc_undefined_with_one_class_and_multiclass_accuracy() -> None:
    assert math.isnan(classification_metrics(np.array([0.2, 0.9]), np.array([1, 1]), kind="binary")["auc"])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    m = classification_metrics(probs, np.array([0, 1, 2, 1]), kind="multiclass")
    assert m["accuracy"] == pytest.approx(0.75)
    assert 0 <= m["auc"] <= 1


def test_iou_and_dice_by_hand() -> None:
    pred = np.zeros((4, 4), dtype=int)
    target = np.zeros((4, 4), dtype=int)
    pred[0, :3] = 1  # 3 voxels
    target[0, 1:] = 1  # 3 voxels, overlap 2
    pred[3, 3] = 2  # class 2 predicted, absent in target
    per = overlap_per_class(pred, target, [1, 2, 3])
    assert per[1] == pytest.approx((2 / 4, 4 / 6))
    assert per[2] == (0.0, 0.0)
    assert all(math.isnan(v) for v in per[3])
    m = segmentation_metrics([pred, target], [target, target], {1: "a", 2: "b"})
    assert m["iou_a"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["dice_a"] == pytest.approx((4 / 6 + 1.0) / 2)
    assert m["iou_b"] == pytest.approx(0.0)  # undefined in the second volume, 0 in the first
    assert m["iou_mean"] == pytest.approx((0.75 + 0.0) / 2)


def test_soft_dice_loss_is_zero_for_a_confident_perfect_prediction() -> None:
    import torch

    target = torch.zeros(1, 8, 8, dtype=torch.int64)
    target[0, 2:5, 2:5] = 1
    logits = torch.nn.functional.one_hot(target, 2).movedim(-1, 1).float() * 50
    assert float(soft_dice_loss(logits, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(soft_dice_loss(-logits, target)) > 0.9


def test_sliding_window_reproduces_a_pointwise_model_on_any_size() -> None:
    import torch

    image = torch.rand(1, 13, 21, 10)
    out = sliding_window(lambda x: torch.cat([x, 2 * x], dim=1), image, (8, 8, 8), overlap=0.5)
    assert out.shape == (2, 13, 21, 10)
    torch.testing.assert_close(out[0], image[0])
    torch.testing.assert_close(out[1], 2 * image[0])
    mean = sliding_window(lambda x: x, image, (8, 16, 8), overlap=0.25, blend="mean")
    torch.testing.assert_close(mean, image)


def test_validation_patches_are_fixed_and_scored_like_whole_volumes() -> None:
    """Fixed validation patches: same patches on every call, foreground-centred as training
    patches, and the batched patch evaluation equals a sliding window over each patch."""
    import torch
    from torch import nn

    rng = np.random.default_rng(3)
    images = [torch.rand(1, *shape) for shape in ((20, 18, 12), (9, 30, 16))]
    labels = [torch.zeros(im.shape[1:], dtype=torch.int64) for im in images]
    labels[0][12:15, 3:6, 2:4] = 1
    labels[1][2:5, 20:25, 8:12] = 2
    data = Arrays(images, labels, ["a", "b"])
    first = validation_patches(data, (8, 16, 8), 3, foreground_fraction=1.0)
    again = validation_patches(data, (8, 16, 8), 3, foreground_fraction=1.0)
    assert first.ids == ["a#0", "a#1", "a#2", "b#0", "b#1", "b#2"]
    assert all(im.shape == (1, 8, 16, 8) for im in first.images) and all(lb.shape == (8, 16, 8) for lb in first.targets)
    assert all(torch.equal(x, y) for x, y in zip(first.images, again.images))
    assert all(int(lb.max()) > 0 for lb in first.targets)  # every patch holds its volume's structure

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv3d(1, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
            return (self.conv(x),)

    torch.manual_seed(int(rng.integers(1000)))
    net = Net()
    settings = TrainSettings(1, 1, 4, 1e-3, (8, 16, 8), 1, 1.0, 0.5, torch.device("cpu"))
    loss, metrics = Evaluator("segmentation", "segmentation", {1: "one", 2: "two"}, settings)(net, first)
    with torch.no_grad():
        windows = [sliding_window(lambda x: net(x)[0], im, (8, 16, 8)) for im in first.images]
    expected = [float(segmentation_loss(w[None], lb[None])) for w, lb in zip(windows, first.targets)]
    assert loss == pytest.approx(float(np.mean(expected)), rel=1e-5)
    preds = [w.argmax(0).numpy() for w in windows]
    assert metrics == pytest.approx(segmentation_metrics(preds, [lb.numpy() for lb in first.targets], {1: "one", 2: "two"}), nan_ok=True)


def test_crop_centered_pads_outside() -> None:
    a = np.arange(27, dtype=np.float32).reshape(3, 3, 3) + 1
    c = crop_centered(a, (0, 1, 1), (2, 2, 2))
    assert c.shape == (2, 2, 2)
    assert (c[0] == 0).all() and (c[1] == a[0, 0:2, 0:2]).all()


# ----------------------------------------------------------------------------- statistics


def test_ttest_matches_scipy_on_known_numbers() -> None:
    a = [0.91, 0.93, 0.92, 0.95, 0.94]
    b = [0.88, 0.90, 0.87, 0.91, 0.89]
    assert ttest_p(a, b) == pytest.approx(sstats.ttest_ind(a, b).pvalue)
    assert ttest_p(a, b, equal_var=False) == pytest.approx(sstats.ttest_ind(a, b, equal_var=False).pvalue)
    # by hand: means 0.93 and 0.89, both variances 0.00025, pooled se = sqrt(2 * 0.00025 / 5) = 0.01, t = 4, df 8
    assert ttest_p(a, b) == pytest.approx(2 * sstats.t.sf(4.0, 8))
    assert math.isnan(ttest_p([0.9], b))
    assert ttest_p([0.5, 0.5], [0.5, 0.5]) == 1.0


def test_mean_sd_and_marks() -> None:
    mean, sd, n = mean_sd([1.0, 2.0, None, 3.0, float("nan")])
    assert (mean, sd, n) == (2.0, 1.0, 3)
    assert [significance_mark(p) for p in (0.0005, 0.005, 0.03, 0.2, float("nan"))] == ["***", "**", "*", "n.s.", "n.s."]


# ----------------------------------------------------------------------------- layouts


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_class_folders_with_a_given_test_split(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for cls in ("NORMAL", "SICK"):
            _touch(tmp_path / split / cls / f"IM-000{len(split)}-0001.png")
    _touch(tmp_path / "train" / "SICK" / "notes.txt")
    data = discover_task(tmp_path)
    assert data.task == "classification" and data.class_names == ["NORMAL", "SICK"]
    assert sorted(s.split or "-" for s in data.samples) == ["-", "-", "test", "test"]
    assert [s["path"].endswith("notes.txt") for s in data.skipped] == [True]
    with pytest.raises(TaskDataError, match="segmentation"):
        discover_task(tmp_path, task="segmentation")


def test_image_label_pairs_report_unpaired_files(tmp_path: Path) -> None:
    for n in ("a", "b"):
        _touch(tmp_path / "images" / f"{n}.nii.gz")
        _touch(tmp_path / "labels" / f"{n}.nii.gz")
    _touch(tmp_path / "images" / "lonely.nii.gz")
    _touch(tmp_path / "labels" / "orphan.nii")
    data = discover_task(tmp_path)
    assert data.task == "segmentation" and [s.id for s in data.samples] == ["a", "b"]
    reasons = sorted(Path(s["path"]).name for s in data.skipped)
    assert reasons == ["lonely.nii.gz", "orphan.nii"]


def test_csv_layouts(tmp_path: Path) -> None:
    for n in ("x1", "x2", "x3"):
        _touch(tmp_path / f"{n}.png")
    with open(tmp_path / "cls.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "patient", "split"])
        w.writerows([["x1.png", "cat;dog", "P1", ""], ["x2.png", "dog", "P1", "test"], ["x3.png", "cat", "P2", ""],
                     ["missing.png", "cat", "P3", ""]])
    data = discover_task(tmp_path / "cls.csv")
    assert data.multilabel and data.class_names == ["cat", "dog"]
    assert [s.target for s in data.samples] == [(0, 1), (1,), (0,)]
    assert [s.patient for s in data.samples] == ["P1", "P1", "P2"]
    assert len(data.skipped) == 1 and "does not exist" in data.skipped[0]["reason"]
    with open(tmp_path / "seg.csv", "w", newline="") as f:
        f.write("image,label\nx1.png,x2.png\n")
    assert discover_task(tmp_path / "seg.csv").task == "segmentation"
    (tmp_path / "bad.csv").write_text("file,y\na,b\n")
    with pytest.raises(TaskDataError, match="needs columns"):
        discover_task(tmp_path / "bad.csv")


# ----------------------------------------------------------------------------- compare


def _summary(folder: Path, init: str, values: list[float], fraction: float = 1.0, task_name: str = "toy") -> Path:
    folder.mkdir(parents=True)
    summary = {
        "task": "classification", "task_name": task_name, "init_name": init, "label_fraction": fraction,
        "primary_metric": "auc", "metric_names": ["auc", "accuracy"], "split": {"hash": "abc"},
        "trials": [{"trial": i, "auc": v, "accuracy": v - 0.1} for i, v in enumerate(values)],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_compare_tables_pvalues_and_files(tmp_path: Path) -> None:
    sg = [0.95, 0.96, 0.97, 0.95, 0.96]
    scratch = [0.90, 0.92, 0.88, 0.91, 0.89]
    mg = [0.955, 0.95, 0.965, 0.96, 0.94]
    folders = [_summary(tmp_path / "r" / n, n, v) for n, v in (("scratch", scratch), ("sg", sg), ("mg", mg))]
    folders += [_summary(tmp_path / "r" / f"{n}_half", n, [v - 0.05 for v in vals], 0.5)
                for n, vals in (("scratch", scratch), ("sg", sg))]
    report = write_report([tmp_path / "r"], tmp_path / "report")
    g = next(g for g in report.groups if g["label_fraction"] == 1.0)
    assert g["best"]["auc"] == "sg"
    rows = {r["init"]: r for r in g["rows"]}
    assert rows["scratch"]["p_value"]["auc"] == pytest.approx(sstats.ttest_ind(sg, scratch).pvalue)
    assert rows["scratch"]["mark"]["auc"] == "***"
    assert rows["mg"]["mark"]["auc"] == "n.s."
    assert rows["sg"]["mean"]["auc"] == pytest.approx(np.mean(sg))
    assert rows["sg"]["std"]["auc"] == pytest.approx(np.std(sg, ddof=1))
    assert [c["task_name"] for c in report.label_efficiency] == ["toy"]
    for name in ("report.md", "report.json", "bars.png", "label_efficiency.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["groups"][0]["rows"][0]["p_value"]  # strict JSON: NaN became null
    assert "null" in (tmp_path / "report" / "report.json").read_text()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| sg | 5 | **95.80 ± 0.84**" in md


def test_compare_claims_its_folder_and_report_json_is_the_typed_result(tmp_path: Path, capsys) -> None:
    from semgen.finetune.stats import nan_to_none

    for n, v in (("scratch", [0.90, 0.92, 0.88]), ("sg", [0.95, 0.96, 0.97])):
        _summary(tmp_path / "r" / n, n, v)
    out = tmp_path / "report"
    result = write_report([tmp_path / "r"], out)
    saved = json.loads((out / "report.json").read_text())
    assert list(saved) == ["test", "paired_test", "unpaired", "alpha", "marks", "groups", "label_efficiency", "files"]
    assert saved == json.loads(json.dumps(nan_to_none(result.to_json())))
    assert result.files == (out / "report.md", out / "report.json", out / "bars.png") and result.rows == 2
    assert result.best() == [("toy", 1.0, "auc", "sg")]
    # the same comparison again rewrites the same report; other options on the same folder are refused
    before = {n: (out / n).read_bytes() for n in ("report.md", "report.json")}
    assert main(["compare", str(tmp_path / "r"), "--out", str(out)]) == 0
    assert {n: (out / n).read_bytes() for n in before} == before
    assert "Compared 2 result(s) in 1 task/label-fraction group(s) (toy @ 1: best sg (auc))" in capsys.readouterr().out
    assert json.loads((out / "stage.json").read_text())["stage"] == "compare"
    assert main(["compare", str(tmp_path / "r"), "--out", str(out), "--welch"]) == 2
    assert "other options" in (err := capsys.readouterr().err) and "welch" in err and "--overwrite" in err
    assert main(["compare", str(tmp_path / "r"), "--out", str(out), "--welch", "--overwrite"]) == 0
    assert "equal variances (Student)" not in json.loads((out / "report.json").read_text())["test"]
    # a bad results path is refused before anything is written
    assert main(["compare", str(tmp_path / "nothing"), "--out", str(tmp_path / "bad")]) == 2
    assert "no summary.json" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_compare_without_fractions_and_with_bad_input(tmp_path: Path) -> None:
    a = _summary(tmp_path / "a", "scratch", [0.5, 0.6])
    b = _summary(tmp_path / "b", "scratch", [0.7, 0.8])
    report = compare([json.loads((p / "summary.json").read_text()) | {"_path": str(p)} for p in (a, b)])
    assert [r["init"] for r in report["groups"][0]["rows"]] == ["scratch (a)", "scratch (b)"]
    assert report["label_efficiency"] == []
    assert "scratch (b)" in render_markdown(report)
    with pytest.raises(ResultsError):
        write_report([tmp_path / "nothing"], tmp_path / "out")


def _paired_result(folder: Path, init: str, values: list[float], scores: np.ndarray, targets: np.ndarray) -> Path:
    """A finetune-like results folder whose trials pair up (seeds, split, subset) with test predictions."""
    folder.mkdir(parents=True)
    ids = [f"case{i}" for i in range(len(targets))]
    trials = [{"trial": i, "seed": 100 + i, "auc": v, "accuracy": v - 0.1} for i, v in enumerate(values)]
    summary = {"task": "classification", "task_name": "toy", "init_name": init, "label_fraction": 0.5, "kind": "binary",
               "primary_metric": "auc", "metric_names": ["auc", "accuracy"], "split": {"hash": "abc", "seed": 0},
               "trials": trials}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "split.json").write_text(json.dumps({"train_patients_used": ["P1", "P2"]}))
    for i in range(len(values)):
        pred = {"ids": ids, "scores": (scores + 0.01 * i).tolist(), "targets": targets.tolist()}
        (folder / "trials").mkdir(exist_ok=True)
        (folder / "trials" / f"trial_{i}.json").write_text(json.dumps({"trial": i, "test_predictions": pred}))
    return folder


def test_compare_pairs_trials_that_share_split_subset_and_seeds(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random(30) < 0.5).astype(int)
    scratch = [0.80, 0.82, 0.79, 0.81, 0.80]
    sg = [0.84, 0.85, 0.80, 0.86, 0.83]
    mg = [0.81, 0.80, 0.80, 0.83, 0.80]
    s_scores, g_scores = rng.random(30), np.clip(targets * 0.5 + rng.random(30) * 0.6, 0, 1)
    _paired_result(tmp_path / "r" / "a", "scratch", scratch, s_scores, targets)
    _paired_result(tmp_path / "r" / "b", "sg", sg, g_scores, targets)
    _paired_result(tmp_path / "r" / "c", "mg", mg, s_scores, targets)
    assert main(["compare", str(tmp_path / "r"), "--out", str(tmp_path / "report"), "--seed", "3"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    g = report["groups"][0]
    assert g["paired"] and g["reference"] == "scratch"
    rows = {r["init"]: r for r in g["rows"]}
    p_sg, p_mg = sstats.ttest_rel(sg, scratch).pvalue, sstats.ttest_rel(mg, scratch).pvalue
    assert rows["sg"]["paired"]["auc"]["p_paired"] == pytest.approx(p_sg)
    assert rows["sg"]["paired"]["auc"]["p_wilcoxon"] == pytest.approx(sstats.wilcoxon(sg, scratch).pvalue)
    assert [rows["sg"]["paired"]["auc"]["p_holm"], rows["mg"]["paired"]["auc"]["p_holm"]] == pytest.approx(holm([p_sg, p_mg]))
    assert rows["sg"]["paired"]["auc"]["diff"] == pytest.approx(np.mean(sg) - np.mean(scratch))
    lo, hi = rows["sg"]["paired"]["auc"]["ci95"]
    assert lo < rows["sg"]["paired"]["auc"]["diff"] < hi
    mean_scores = lambda s: np.mean([s + 0.01 * i for i in range(5)], axis=0)  # noqa: E731
    assert rows["sg"]["delong"]["p"] == pytest.approx(delong_test(targets, mean_scores(g_scores), mean_scores(s_scores))["p"])
    assert rows["mg"]["delong"]["p"] == 1.0 and rows["scratch"]["delong"] is None
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Paired: the trials share" in md and "| scratch | 5 |" in md and "reference" in md
    forced = write_report([tmp_path / "r"], tmp_path / "forced", unpaired=True)
    assert not forced.groups[0]["paired"] and "Unpaired (--unpaired)" in (tmp_path / "forced" / "report.md").read_text()
    assert {r["init"]: r for r in forced.groups[0]["rows"]}["scratch"]["p_value"]["auc"] == pytest.approx(
        sstats.ttest_ind(sg, scratch).pvalue)
    # the same results with a different seed list no longer pair up: the unpaired test, said so
    other = json.loads((tmp_path / "r" / "c" / "summary.json").read_text())
    other["trials"][0]["seed"] = 7
    (tmp_path / "r" / "c" / "summary.json").write_text(json.dumps(other))
    unpaired = write_report([tmp_path / "r"], tmp_path / "report2")
    assert not unpaired.groups[0]["paired"]
    assert "Unpaired (the trials do not share" in (tmp_path / "report2" / "report.md").read_text()


# ----------------------------------------------------------------------------- real data layouts


@pytest.mark.shared_data
def test_real_recipes_are_detected_and_never_share_a_patient(shared_data: Path) -> None:
    from semgen.finetune.config import FinetuneConfig
    from semgen.finetune.data import Loaded
    from semgen.finetune.pipeline import make_split

    cxr = discover_task(shared_data / "cxr-pneumonia")
    assert cxr.recipe == "cxr-pneumonia" and cxr.class_names == ["NORMAL", "PNEUMONIA"]
    items = [Loaded(s, np.zeros((8, 8), np.float32), s.target) for s in cxr.samples]
    assignment = make_split(FinetuneConfig(data="cxr", out="unused"), cxr, items)
    assert {assignment[s.patient] for s in cxr.samples if s.split == "test"} == {"test"}
    assert {assignment[s.patient] for s in cxr.samples if s.split is None} == {"train", "validation"}
    by_patient: dict[str, set[str]] = {}
    for s in cxr.samples:
        by_patient.setdefault(s.patient, set()).add(assignment[s.patient])
    assert all(len(v) == 1 for v in by_patient.values())
    assert len(by_patient) < len(cxr.samples)  # several images per patient were grouped
    hippo = discover_task(shared_data / "hippocampus-mri")
    assert hippo.recipe == "hippocampus-mri" and hippo.label_names == {1: "anterior", 2: "posterior"}
    assert len(hippo.samples) == 260
    assert sorted(Path(s["path"]).name for s in hippo.skipped) == [
        "hippocampus_010.nii.gz", "hippocampus_118.nii.gz", "hippocampus_281.nii.gz"]
