"""Like for like: every initialisation of a task is fine-tuned on identical inputs, decided by
the task (flags, recipe, rules of semgen.finetune.geometry), never by the checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from semgen.cli import main
from semgen.finetune import FinetuneConfig, finetune
from semgen.finetune.compare import ResultsError, compare, load_summary
from semgen.finetune.data import discover_task
from semgen.finetune.geometry import task_geometry
from semgen.utils.seeding import numpy_rng


@pytest.fixture(scope="module")
def ct_cubes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Class folders of 20x20x10 NIfTI cubes in HU at 1x1x2 mm (air around soft tissue; 'dense'
    holds a bright ball): a CT task with no recipe and no modality tag."""
    from semgen.io import write_scan

    root = tmp_path_factory.mktemp("ct-cubes")
    rng = numpy_rng(0, "ct-cubes")
    x, y, z = np.mgrid[:20, :20, :10]
    for cls in ("dense", "plain"):
        for i in range(12):
            hu = rng.normal(-800, 60, (20, 20, 10))
            hu[4:16, 4:16, 2:8] = rng.normal(40, 20, (12, 12, 6))
            if cls == "dense":
                c = rng.uniform([8, 8, 4], [12, 12, 6])
                hu[(x - c[0]) ** 2 + (y - c[1]) ** 2 + ((z - c[2]) * 2) ** 2 <= 9] = 400
            write_scan(root / cls / f"{cls}{i:02d}.nii.gz", hu.astype(np.float32), (1.0, 1.0, 2.0))
    return root


def _checkpoint(path: Path) -> Path:
    """A width-4 checkpoint pre-trained at another patch, spacing and CT window."""
    from semgen.models import UNet, save_checkpoint

    save_checkpoint(path / "model.safetensors", UNet(spatial_dims=3, width=4),
                    {"patch_size": [8, 8, 8], "spacing": [3.0, 3.0, 3.0], "method": "toy-genesis",
                     "intensity_window": {"kind": "ct", "low": -500.0, "high": 500.0}})
    return path


def _batches(monkeypatch, cfg: FinetuneConfig) -> tuple[list[str], dict]:
    """Run ``cfg``; return a digest of every input batch the model received, and the summary."""
    import semgen.finetune.pipeline as pipeline
    from semgen.finetune.train import train_trial as real

    seen: list[str] = []

    def spy(model, splits, **kw):
        hook = model.register_forward_pre_hook(
            lambda _m, args: seen.append(hashlib.sha256(args[0].detach().contiguous().numpy().tobytes()).hexdigest()))
        try:
            return real(model, splits, **kw)
        finally:
            hook.remove()

    monkeypatch.setattr(pipeline, "train_trial", spy)
    return seen, finetune(cfg).summary.to_json()


def test_the_task_decides_the_inputs_not_the_checkpoint(ct_cubes: Path) -> None:
    data = discover_task(ct_cubes)
    geometry = task_geometry(FinetuneConfig(data=str(ct_cubes), out="unused"), data)
    # no recipe, no tag: 3D from the files, CT from the HU minimum, the files' spacing, the CT default window,
    # the default 64x64x32 cut to the 20x20x10 cubes (rounded up to multiples of 8)
    assert geometry.spatial_dims == 3 and geometry.modality == "CT" and geometry.spacing == (1.0, 1.0, 2.0)
    assert geometry.window == {"kind": "ct", "low": -1000.0, "high": 1000.0} and geometry.patch == (24, 24, 16)
    assert set(geometry.sources) == {"spatial_dims", "patch", "spacing", "modality", "normalisation"}
    flagged = task_geometry(FinetuneConfig(data=str(ct_cubes), out="unused", patch=(16, 16, 8), spacing=(2.0, 2.0, 2.0),
                                           ct_window=(-1000.0, 400.0)), data)
    assert flagged.patch == (16, 16, 8) and flagged.spacing == (2.0, 2.0, 2.0) and flagged.window["high"] == 400.0
    assert flagged.sources["patch"] == "--patch" and flagged.sources["normalisation"] == "--ct-window"


@pytest.mark.slow
def test_scratch_and_a_checkpoint_of_another_geometry_see_byte_identical_batches(
        ct_cubes: Path, tmp_path: Path, monkeypatch) -> None:
    common = dict(data=str(ct_cubes), trials=1, epochs=2, patience=2, batch_size=4, width=4, device="cpu")
    scratch_batches, scratch = _batches(monkeypatch, FinetuneConfig(out=str(tmp_path / "scratch"), **common))
    ckpt = _checkpoint(tmp_path / "pretrained-run")
    pre_batches, pre = _batches(monkeypatch, FinetuneConfig(out=str(tmp_path / "pre"), init=str(ckpt), **common))
    assert pre["init_report"]["loaded"]  # the checkpoint's weights were used although its geometry differs
    assert len(scratch_batches) > 4 and scratch_batches == pre_batches  # training, validation and test inputs
    assert scratch["geometry"] == pre["geometry"] and pre["geometry"]["window"]["low"] == -1000.0
    assert pre["pretraining_geometry"]["patch"] == [8, 8, 8] and pre["pretraining_geometry"]["spacing"] == [3.0, 3.0, 3.0]
    assert scratch["pretraining_geometry"] is None

    # compare: the two like-for-like results go in one table; one made at another patch is refused, naming both
    other = finetune(FinetuneConfig(out=str(tmp_path / "other"), patch=(16, 16, 8), **common)).summary.to_json()
    assert other["geometry"]["patch"] == [16, 16, 8]
    summaries = [load_summary(tmp_path / n / "summary.json") for n in ("scratch", "pre")]
    assert compare(summaries)["groups"][0]["same_inputs"]
    mixed = [*summaries, load_summary(tmp_path / "other" / "summary.json")]
    with pytest.raises(ResultsError, match="different inputs") as refused:
        compare(mixed)
    assert "patch 24x24x16" in str(refused.value) and "patch 16x16x8" in str(refused.value)
    assert str(tmp_path / "scratch") in str(refused.value) and str(tmp_path / "other") in str(refused.value)
    args = ["compare", *(str(tmp_path / n) for n in ("scratch", "pre", "other")), "--out", str(tmp_path / "report")]
    assert main(args) == 2
    assert main([*args, "--allow-mixed"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["groups"][0]["same_inputs"] is False
    assert "fine-tuned on different inputs" in (tmp_path / "report" / "report.md").read_text()


def test_the_committed_evidence_tables_compare_like_with_like() -> None:
    """Every table of benchmarks/evidence/results was fine-tuned on one set of inputs per group
    (earlier summaries wrote a scratch run's default normalisation as no window: the same)."""
    runs = sorted((Path(__file__).parents[2] / "benchmarks" / "evidence" / "results").glob("*/runs"))
    assert runs, "no committed evidence results found"
    for folder in runs:
        summaries = [load_summary(p) for p in sorted(folder.glob("*/summary.json"))]
        report = compare(summaries, unpaired=True)
        assert all(g["same_inputs"] for g in report["groups"]), folder
