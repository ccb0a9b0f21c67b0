"""A framework backbone through the whole chain on tiny data: `semgen pretrain --backbone`, then
`finetune` and `predict` rebuild the same network from the self-describing checkpoint."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from semgen.cli import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("monai") is None, reason="needs pip install 'semgen[monai]'")
COMMON = ["--width", "4", "--epochs", "2", "--warmup-epochs", "1", "--batch-size", "4", "--precision", "fp32", "--seed", "3"]


def test_a_monai_backbone_pretrains_fine_tunes_and_predicts(patterns, tmp_path, capsys):
    from semgen.io import write_scan
    from semgen.models import Backbone, load_checkpoint

    run = tmp_path / "run"
    args = ["pretrain", str(patterns / "patterns"), "--out", str(run), *COMMON, "--backbone", "monai-unet",
            "--backbone-args", '{"channels": [4, 8, 16, 32], "strides": [2, 2, 2], "num_res_units": 1}']
    assert main(args) == 0
    assert "Pre-trained a 3D monai-unet" in capsys.readouterr().out
    model, meta = load_checkpoint(run)
    assert isinstance(model, Backbone) and meta["architecture"]["args"]["args"]["channels"] == [4, 8, 16, 32]
    assert "monai-unet" in (run / "README.md").read_text()
    # the same folder with other backbone arguments is another run
    assert main([*args[:-1], '{"channels": [4, 8, 16, 64], "strides": [2, 2, 2]}']) == 2
    assert "backbone_args" in capsys.readouterr().err

    data = tmp_path / "spheres"
    rng = np.random.default_rng(0)
    x, y, z = np.mgrid[:16, :16, :16]
    for i in range(8):
        label = ((x - rng.uniform(6, 10)) ** 2 + (y - 8) ** 2 + (z - 8) ** 2 <= 16).astype(np.uint8)
        write_scan(data / "images" / f"case{i}.nii.gz", (rng.normal(100, 15, label.shape) + 120 * label).astype(np.float32), (1, 1, 1))
        write_scan(data / "labels" / f"case{i}.nii.gz", label, (1, 1, 1))
    results = tmp_path / "results"
    assert main(["finetune", str(data), "--init", str(run), "--out", str(results), "--trials", "1", "--epochs", "1",
                 "--batch-size", "2", "--device", "cpu"]) == 0
    summary = json.loads((results / "summary.json").read_text())
    loaded = summary["init_report"]["loaded"]
    assert any(k.startswith("net.model.0.") for k in loaded)  # the MONAI encoder's first layer came from the run
    tuned, tuned_meta = load_checkpoint(results)
    assert isinstance(tuned, Backbone) and tuned.out_channels == 2 and tuned.clc_out is None
    capsys.readouterr()
    assert main(["predict", str(results), str(data / "images" / "case0.nii.gz"), "--out", str(tmp_path / "pred")]) == 0
    assert (tmp_path / "pred" / "case0.nii.gz").is_file()
