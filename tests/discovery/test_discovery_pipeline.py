from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from semgen.cohort import Cohort, create_cohort
from semgen.discovery import DiscoveryConfig, DiscoveryError, PatternDataset, PatternSet, discover
from semgen.discovery import pipeline as pipeline_module
from semgen.utils.resize import resize
from semgen.stage import FolderClaimError

SHAPE = (48, 48, 24)
TINY = dict(
    classes=4, neighbors=3, val_neighbors=1, patch=(16, 16, 8), acceptance="generic", min_std=0.01,
    ae_grid=(16, 16, 8), ae_width=2, ae_depth=2, ae_epochs=3, ae_patience=3, ae_batch_size=4, device="cpu", seed=3,
)


def chest(kind: int, seed: int, shape=SHAPE) -> np.ndarray:
    """A [0, 1] CT-like volume: a soft-tissue body (type 0 wide and short, type 1 narrow and
    long), two aerated lungs, textured; air outside."""
    rng = np.random.default_rng(seed)
    x, y, z = np.indices(shape).astype(np.float64)
    cx, cy = (shape[0] - 1) / 2 + rng.uniform(-1, 1), (shape[1] - 1) / 2 + rng.uniform(-1, 1)
    ax, ay = (21, 13) if kind == 0 else (12, 21)
    body = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 < 1
    lungs = np.zeros(shape, dtype=bool)
    for side in (-1, 1):
        lungs |= ((x - cx - side * ax * 0.45) / (ax * 0.35)) ** 2 + ((y - cy) / (ay * 0.6)) ** 2 + ((z - 12) / 10) ** 2 < 1
    volume = np.where(body, 0.52, 0.0) + 0.03 * np.sin(x * 0.9 + kind) * np.cos(y * 0.7) * body
    volume = np.where(lungs & body, 0.1 + 0.02 * rng.random(shape), volume)
    return np.clip(volume, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def cohort3d(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cohort3d")
    scans = [(f"scan_{i:02d}", chest(i % 2, i), (2.5, 2.5, 3.0)) for i in range(12)]
    create_cohort(root, scans, "CT")
    return root


@pytest.fixture(scope="module")
def patterns3d(cohort3d, tmp_path_factory) -> Path:
    return discover(cohort3d, tmp_path_factory.mktemp("patterns") / "p", DiscoveryConfig(**TINY)).out


def kind_of(scan_id: str) -> int:
    return int(scan_id.split("_")[1]) % 2


def test_outputs_are_written(patterns3d) -> None:
    for name in ("manifest.csv", "classes.json", "features.npy", "neighbors.json", "autoencoder.safetensors",
                 "autoencoder.json", "config.yaml", "atlas.png", "atlas.json"):
        assert (patterns3d / name).is_file(), name
    assert not (patterns3d / "progress.json").exists()
    from matplotlib.image import imread

    from semgen.viz.atlas import GAP, INFO, LABEL, LEGEND, PANEL

    atlas = imread(patterns3d / "atlas.png")
    assert atlas.shape[:2] == (LEGEND + 4 * (PANEL + LABEL), 5 * (2 * PANEL + GAP) - GAP + INFO)  # one row per class
    assert atlas[..., :3].std() > 0.1
    shown = json.loads((patterns3d / "atlas.json").read_text())
    assert [c["class"] for c in shown["classes"]] == [0, 1, 2, 3]
    for c in shown["classes"]:
        assert c["shown"][0]["reference"] and c["shown"][0]["scan"] == c["reference"] and len(c["shown"]) == 3
        assert 0.5 < c["body_fraction"] <= 1  # the crops are placed inside the body
        assert (c["duplicate_of"] == []) == (not any("near-duplicate" in f for f in c["flags"]))
    info = json.loads((patterns3d / "classes.json").read_text())
    assert info["num_classes"] == 4 and info["patch_size"] == [16, 16, 8]
    assert info["crops"] == {"train": 4 * 3 * 3, "validation": 4 * 1}
    ae = json.loads((patterns3d / "autoencoder.json").read_text())
    assert ae["grid"] == [16, 16, 8] and len(ae["history"]) >= 1 and "val_loss" in ae["history"][0]
    assert np.load(patterns3d / "features.npy").shape == (12, 2 * 2**2)


def test_neighbours_share_the_reference_type(cohort3d, tmp_path) -> None:
    # a known embedding: type 0 near the origin, type 1 far away
    ids = Cohort(cohort3d).ids
    rng = np.random.default_rng(0)
    features = np.stack([np.full(4, 10.0 * kind_of(i)) + rng.normal(0, 0.1, 4) for i in ids]).astype(np.float32)
    np.save(tmp_path / "features.npy", features)
    out = discover(cohort3d, tmp_path / "p", DiscoveryConfig(**{**TINY, "classes": 6, "features": tmp_path / "features.npy"})).out
    neighbours = json.loads((out / "neighbors.json").read_text())
    for entry in neighbours["classes"]:
        kind = kind_of(entry["reference"])
        assert entry["train"][0] == entry["reference"]
        assert all(kind_of(s) == kind for s in entry["train"])
        same_kind_val = [s for s in neighbours["validation_scans"] if kind_of(s) == kind]
        if same_kind_val:
            assert kind_of(entry["validation"][0]) == kind


def test_autoencoder_features_separate_the_types(patterns3d) -> None:
    neighbours = json.loads((patterns3d / "neighbors.json").read_text())
    for entry in neighbours["classes"]:
        kind = kind_of(entry["reference"])
        assert all(kind_of(s) == kind for s in entry["train"]), entry


def test_coordinates_obey_body_and_distance(patterns3d, cohort3d) -> None:
    cohort = Cohort(cohort3d)
    cfg_min_distance = DiscoveryConfig().min_distance
    info = json.loads((patterns3d / "classes.json").read_text())
    size = np.array(info["patch_size"])
    fractions = np.array([c["fraction"] for c in info["classes"]])
    for c in info["classes"]:
        mask = np.asarray(cohort.mask(c["reference"]))
        centre = np.array(c["start"]) + size / 2
        assert mask[tuple(np.floor(centre).astype(int))] > 0
        # earlier classes mapped onto this reference are far enough away
        box = np.array(json.loads((patterns3d / "neighbors.json").read_text())["classes"][c["class"]]["body_box"])
        earlier = box[0] + fractions[: c["class"]] * (box[1] - box[0])
        if len(earlier):
            assert np.linalg.norm(earlier - centre, axis=1).min() >= cfg_min_distance - 1e-9


def test_manifest_crops_equal_direct_crops(patterns3d, cohort3d) -> None:
    cohort = Cohort(cohort3d)
    patterns = PatternSet(patterns3d)
    assert patterns.num_classes == 4 and patterns.spatial_dims == 3 and patterns.patch_size == (16, 16, 8)
    dataset = PatternDataset(patterns3d, "train")
    rows = patterns.rows("train")
    assert len(dataset) == len(rows) == 36
    for i, row in enumerate(rows):
        crop, label = dataset[i]
        assert label == row["class"] and crop.shape == (1, 16, 16, 8) and crop.dtype == torch.float32
        x, y, z = row["start"]
        sx, sy, sz = row["size"]
        direct = torch.from_numpy(np.asarray(cohort.image(row["scan"])[x : x + sx, y : y + sy, z : z + sz], dtype=np.float32))[None]
        if row["resolution"] == 1:
            assert row["size"] == (16, 16, 8)
            assert torch.equal(crop, direct)
        else:
            torch.testing.assert_close(crop, resize(direct, (16, 16, 8)))
        assert 0 <= crop.min() and crop.max() <= 1
    val = PatternDataset(patterns3d, "validation", patch_size=(8, 8, 4))
    assert len(val) == 4 and val[0][0].shape == (1, 8, 8, 4)
    clone = pickle.loads(pickle.dumps(val))
    assert torch.equal(clone[1][0], val[1][0])


def test_deterministic_and_resumable(cohort3d, patterns3d, tmp_path, monkeypatch) -> None:
    calls = {"n": 0}
    real = pipeline_module.plan_class

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "plan_class", interrupted)
    out = tmp_path / "p"
    with pytest.raises(KeyboardInterrupt):
        discover(cohort3d, out, DiscoveryConfig(**TINY))
    assert (out / "progress.json").is_file() and not (out / "classes.json").exists()
    assert len(json.loads((out / "progress.json").read_text())["classes"]) == 2
    monkeypatch.setattr(pipeline_module, "plan_class", real)
    discover(cohort3d, out, DiscoveryConfig(**TINY))
    for name in ("manifest.csv", "neighbors.json"):
        assert (out / name).read_text() == (patterns3d / name).read_text(), name
    np.testing.assert_array_equal(np.load(out / "features.npy"), np.load(patterns3d / "features.npy"))
    # a finished folder is left as it is; other options are refused unless overwritten
    discover(cohort3d, out, DiscoveryConfig(**TINY))
    with pytest.raises(FolderClaimError, match="classes: 4 -> 3"):
        discover(cohort3d, out, DiscoveryConfig(**{**TINY, "classes": 3}))
    discover(cohort3d, out, DiscoveryConfig(**{**TINY, "classes": 3}), overwrite=True)
    assert PatternSet(out).num_classes == 3


def test_defaults_are_clamped_with_warnings(cohort3d, tmp_path) -> None:
    cfg = DiscoveryConfig(**{**TINY, "classes": None, "neighbors": None, "val_neighbors": 30, "ae_epochs": 1})
    out = discover(cohort3d, tmp_path / "p", cfg).out
    info = json.loads((out / "classes.json").read_text())
    assert info["num_classes"] == 10  # 12 scans, 2 of them (20 %) validation
    assert any("44 classes" in w for w in info["warnings"]) and any("200 neighbours" in w for w in info["warnings"])
    assert any("30 validation neighbours" in w for w in info["warnings"])


def test_materialized_crops_match(cohort3d, patterns3d, tmp_path) -> None:
    out = discover(cohort3d, tmp_path / "p", DiscoveryConfig(**{**TINY, "materialize": True, "resolutions": 2})).out
    crops = np.load(out / "crops.npy", mmap_mode="r")
    assert crops.dtype == np.float16 and crops.shape == (4 * 3 * 2 + 4, 16, 16, 8)
    fast, slow = PatternDataset(out, "train"), PatternDataset(out, "train", patch_size=(16, 16, 8))
    assert fast._materialized_path is not None
    slow._materialized_path = None
    for i in range(0, len(fast), 5):
        torch.testing.assert_close(fast[i][0], slow[i][0], atol=1e-3, rtol=0)


def test_bad_cases_explain_themselves(cohort3d, tmp_path) -> None:
    with pytest.raises(DiscoveryError, match="no training scan is at least 64x64x32"):
        discover(cohort3d, tmp_path / "a", DiscoveryConfig(**{**TINY, "patch": (64, 64, 32)}))
    # the published lung rule cannot accept 16x16x8 crops of these small lungs at 0.1 % dense
    with pytest.raises(DiscoveryError, match=r"found only 0 of 4 classes.*lung rule"):
        discover(cohort3d, tmp_path / "b", DiscoveryConfig(**{**TINY, "acceptance": "lung", "lung_max_dense": 0.001, "retry_budget": 20}))
    with pytest.raises(DiscoveryError, match="cannot open the cohort"):
        discover(tmp_path / "nowhere", tmp_path / "c", DiscoveryConfig(**TINY))


def test_two_dimensional_cohort(tmp_path) -> None:
    scans = [(f"xr_{i:02d}", chest(i % 2, i, (48, 48, 24))[:, :, 12], (0.5, 0.5)) for i in range(8)]
    create_cohort(tmp_path / "cohort", scans, "XR")
    cfg = DiscoveryConfig(**{**TINY, "patch": (16, 16), "ae_grid": (16, 16), "neighbors": 2})
    out = discover(tmp_path / "cohort", tmp_path / "p", cfg).out
    patterns = PatternSet(out)
    assert patterns.spatial_dims == 2 and patterns.patch_size == (16, 16)
    crop, label = PatternDataset(out, "train")[0]
    assert crop.shape == (1, 16, 16) and 0 <= label < patterns.num_classes
    assert (out / "atlas.png").is_file()


def test_command_line(cohort3d, tmp_path, capsys) -> None:
    from semgen.cli import main

    out = tmp_path / "p"
    options = ["--patch", "16x16x8", "--classes", "3", "--neighbors", "2", "--val-neighbors", "1",
               "--ae-grid", "16x16x8", "--ae-width", "2", "--ae-depth", "2", "--ae-epochs", "1", "--seed", "1"]
    assert main(["discover", str(cohort3d), "--out", str(out), *options]) == 0
    summary = capsys.readouterr().out
    assert "Discovered 3 anatomical pattern classes in 12 scans" in summary and "atlas.png" in summary
    assert "classes: 3" in (out / "config.yaml").read_text()
    assert main(["discover", str(cohort3d), "--out", str(out), *options[:-1], "2"]) == 2
    assert "use --overwrite" in capsys.readouterr().err
    assert main(["discover", str(cohort3d), "--out", str(tmp_path / "q"), "--patch", "16x16"]) == 2
    assert "--patch 16x16 has 2 axes but the cohort is 3D" in capsys.readouterr().err
