"""The bad-input corpus: every input a demanding user tried that once gave a traceback, a
misleading message or a silently wrong result, as data.

Each row of ``CASES`` is one case: an id, a builder that writes the input into a temporary
folder (returning the names used in the command), the command line (``str.format``-ed with
those names and ``tmp``), the expected exit code, a fragment the output must contain
(formatted the same way), and optionally files that must not exist afterwards. Exit code 2
cases must print one ``semgen VERB: error:`` line and no traceback; exit code 0 cases are
usable inputs whose warning must say what was wrong; exit code 1 is a batch (``prepare``)
whose every file failed, each reported with its reason. A new case is one line.
"""

from __future__ import annotations

import logging
import os
import shlex
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from semgen.cli import main

Builder = Callable[[Path], dict[str, str]]


# ---- input builders (tiny and fast) ----------------------------------------------------------


def _volume(shape=(16, 16, 12), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 1000 - 500).astype(np.float32)


def _write(path: Path, array: np.ndarray, spacing=(1.0, 1.0, 2.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.T))
    image.SetSpacing(spacing[: array.ndim])
    sitk.WriteImage(image, str(path))
    return path


def nothing(tmp: Path) -> dict[str, str]:
    return {}


def a_file(tmp: Path) -> dict[str, str]:
    (tmp / "file.txt").write_text("not a folder\n")
    _write(tmp / "scan.nii.gz", _volume())
    return {"file": str(tmp / "file.txt"), "scan": str(tmp / "scan.nii.gz")}


def pixdim_zero(tmp: Path) -> dict[str, str]:
    path = _write(tmp / "flat.nii", _volume())
    data = bytearray(path.read_bytes())
    data[80:92] = struct.pack("<3f", 0.0, 0.0, 0.0)  # pixdim[1..3] of the NIfTI-1 header
    path.write_bytes(bytes(data))
    return {"scan": str(path)}


def mhd_without_raw(tmp: Path) -> dict[str, str]:
    path = _write(tmp / "lung.mhd", _volume())
    (tmp / "lung.raw").unlink()
    return {"scan": str(path), "raw": "lung.raw"}


def mhd_truncated_raw(tmp: Path) -> dict[str, str]:
    path = _write(tmp / "lung.mhd", _volume())
    raw = tmp / "lung.raw"
    raw.write_bytes(raw.read_bytes()[:100])
    return {"scan": str(path), "raw": "lung.raw"}


def symlink_loop(tmp: Path) -> dict[str, str]:
    os.symlink(tmp / "b.nii", tmp / "a.nii")
    os.symlink(tmp / "a.nii", tmp / "b.nii")
    return {"loop": str(tmp / "a.nii")}


def folder_with_a_loop(tmp: Path) -> dict[str, str]:
    _write(tmp / "scans" / "good.nii.gz", _volume())
    os.symlink(tmp / "scans" / "b.nii", tmp / "scans" / "a.nii")
    os.symlink(tmp / "scans" / "a.nii", tmp / "scans" / "b.nii")
    return {"scans": str(tmp / "scans")}


def random_bytes(tmp: Path) -> dict[str, str]:
    (tmp / "weights.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    return {"file": str(tmp / "weights.pt")}


def bit_flipped_checkpoint(tmp: Path, spatial_dims: int = 3) -> dict[str, str]:
    from semgen.models import UNet, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(tmp / "run" / "model.safetensors", UNet(spatial_dims=spatial_dims, width=4), {"patch_size": [16] * spatial_dims})
    path = tmp / "run" / "model.safetensors"
    data = bytearray(path.read_bytes())
    header = 8 + struct.unpack("<Q", bytes(data[:8]))[0]
    data[header + (len(data) - header) // 2] ^= 0x10  # one bit of one tensor; the header stays intact
    path.write_bytes(bytes(data))
    return {"run": str(tmp / "run")}


def two_classes_and_a_bit_flipped_checkpoint(tmp: Path) -> dict[str, str]:
    return {**two_classes(tmp), **bit_flipped_checkpoint(tmp, spatial_dims=2)}


def _pictures(tmp: Path, labels: list[str]) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    lines = ["path,label"]
    for i, label in enumerate(labels):
        name = f"img{i:02d}.png"
        Image.fromarray((rng.random((24, 24)) * 255).astype(np.uint8)).save(tmp / name)
        lines.append(f"{name},{label}")
    (tmp / "task.csv").write_text("\n".join(lines) + "\n")
    return tmp / "task.csv"


def two_classes(tmp: Path) -> dict[str, str]:
    return {"csv": str(_pictures(tmp, ["cat", "dog"] * 6))}


def one_class(tmp: Path) -> dict[str, str]:
    return {"csv": str(_pictures(tmp, ["cat"] * 12))}


def numeric_labels(tmp: Path) -> dict[str, str]:
    return {"csv": str(_pictures(tmp, ["0", "1", "-1", "0.5"] * 3))}


def singleton_class(tmp: Path) -> dict[str, str]:
    return {"csv": str(_pictures(tmp, ["cat", "dog"] * 6 + ["bird"]))}


def mismatched_label_map(tmp: Path) -> dict[str, str]:
    for i in range(6):
        image = _volume((20, 24, 16), seed=i)
        _write(tmp / "task" / "images" / f"case{i}.nii.gz", image)
        label = (image > 300).astype(np.uint8)
        _write(tmp / "task" / "labels" / f"case{i}.nii.gz", label if i else np.ones((10, 10, 10), np.uint8))
    return {"data": str(tmp / "task"), "image": "images/case0.nii.gz", "label": "labels/case0.nii.gz"}


def cohort(tmp: Path) -> dict[str, str]:
    from semgen.cohort import create_cohort

    rng = np.random.default_rng(0)
    scans = [(f"s{i}", rng.random((16, 16, 16)).astype(np.float32), (1.0, 1.0, 1.0)) for i in range(4)]
    create_cohort(tmp / "cohort", scans, "MR")
    return {"cohort": str(tmp / "cohort")}


def results_folder(tmp: Path) -> dict[str, str]:
    (tmp / "results").mkdir()
    return {"results": str(tmp / "results")}


def pretrain_run(tmp: Path) -> dict[str, str]:
    """A run folder as an epoch leaves it (config.yaml + last.pt), without the training."""
    from semgen.training import PretrainConfig, Trainer, TrainingData, resolve_config
    from semgen.training.checkpoint import save_state
    from semgen.training.pipeline import claim_run

    cfg = resolve_config(PretrainConfig(out=str(tmp / "run"), method="self-restoration", width=4, precision="fp32",
                                        device="cpu"), cuda=False)
    data = TrainingData(train=[], validation=None, spatial_dims=3, patch=(16, 16, 16))
    with claim_run(cfg):
        save_state(tmp / "run" / "last.pt", Trainer(cfg, data, cfg.out).state())
    return {"run": str(tmp / "run")}


FT = "--trials 1 --epochs 1 --width 4 --patch 16x16 --device cpu"

# id, builder, command, exit code, message fragment[, files that must not exist afterwards]
CASES: list[tuple] = [
    ("prepare-out-is-a-file", a_file, "prepare {scan} --out {file}", 2, "not a folder"),
    ("prepare-only-missing-path", nothing, "prepare {tmp}/nonexistent --out {tmp}/c", 2, "no such file", ["c"]),
    ("prepare-only-symlink-loop", symlink_loop, "prepare {loop} --out {tmp}/c", 2, "loop", ["c"]),
    # a batch verb: a bad file is reported (named, with the reason) and exit 1 says nothing was prepared
    ("prepare-folder-with-a-loop", folder_with_a_loop, "prepare {scans} --out {tmp}/c --workers 1", 0, "symbolic link loop"),
    ("prepare-pixdim-zero", pixdim_zero, "prepare {scan} --out {tmp}/c --workers 1", 1, "pixdim"),
    ("prepare-mhd-raw-missing", mhd_without_raw, "prepare {scan} --out {tmp}/c --workers 1", 1, "{raw} ({tmp}/{raw}) is missing"),
    ("prepare-mhd-raw-truncated", mhd_truncated_raw, "prepare {scan} --out {tmp}/c --workers 1", 1, "{raw} is truncated"),
    ("inspect-random-bytes", random_bytes, "inspect {file}", 2, "not a PyTorch checkpoint"),
    ("inspect-symlink-loop", symlink_loop, "inspect {loop}", 2, "loop"),
    ("inspect-bit-flipped-weights", bit_flipped_checkpoint, "inspect {run}", 2, "damaged or changed"),
    ("export-bit-flipped-weights", bit_flipped_checkpoint, "export {run} --out {tmp}/e.safetensors", 2,
     "damaged or changed", ["e.safetensors", "e.json"]),
    ("finetune-init-bit-flipped", two_classes_and_a_bit_flipped_checkpoint,
     f"finetune {{csv}} --out {{tmp}}/r --init {{run}} {FT}", 2, "damaged or changed", ["r"]),
    ("finetune-split-missing", two_classes, f"finetune {{csv}} --out {{tmp}}/r --split {{tmp}}/nonexistent {FT}", 2,
     "nonexistent"),
    ("finetune-recipe-mismatch", two_classes, f"finetune {{csv}} --out {{tmp}}/r --recipe cxr-pneumonia {FT}", 2,
     "cxr-pneumonia"),
    ("finetune-patch-zero", two_classes, f"finetune {{csv}} --out {{tmp}}/r {FT} --patch 0x0", 2, "--patch", ["r"]),
    ("finetune-batch-size-zero", two_classes, f"finetune {{csv}} --out {{tmp}}/r {FT} --batch-size 0", 2,
     "--batch-size", ["r"]),
    ("finetune-epochs-zero", two_classes, f"finetune {{csv}} --out {{tmp}}/r {FT} --epochs 0", 2, "--epochs", ["r"]),
    ("finetune-one-class", one_class, f"finetune {{csv}} --out {{tmp}}/r {FT}", 2, "one class", ["r"]),
    ("finetune-numeric-labels", numeric_labels, f"finetune {{csv}} --out {{tmp}}/r {FT}", 2, "-1", ["r"]),
    ("finetune-class-of-one-sample", singleton_class, f"finetune {{csv}} --out {{tmp}}/r {FT} --split-only", 0,
     "'bird' has 1 sample"),
    ("finetune-label-map-mismatch", mismatched_label_map,
     "finetune {data} --out {tmp}/r --split-only --patch 16x16x16 --device cpu", 0, "{label}"),
    ("discover-ae-epochs-zero", cohort, "discover {cohort} --out {tmp}/p --ae-epochs 0", 2, "--ae-epochs", ["p"]),
    ("compare-same-folder-twice", results_folder, "compare {results} {results} --out {tmp}/rep", 2, "twice", ["rep"]),
    ("pretrain-resume-other-seed", pretrain_run, "pretrain --resume {run} --seed 5", 2, "seed"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    name, build, command, code, fragment, *rest = case
    absent = rest[0] if rest else []
    caplog.set_level(logging.WARNING)
    names = {"tmp": str(tmp_path), **build(tmp_path)}
    capsys.readouterr()
    argv = [arg.format(**names) for arg in shlex.split(command)]
    try:
        got = main(argv)
    except SystemExit as e:  # argparse refusals
        got = e.code
    printed = capsys.readouterr()
    err = printed.err
    said = printed.out + err + caplog.text
    assert "Traceback" not in said
    assert got == code, f"{name}: exit {got}, expected {code}; said: {said[-2000:]}"
    assert fragment.format(**names) in said, f"{name}: {fragment.format(**names)!r} not in: {said[-2000:]}"
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("semgen ")]
        assert len(errors) == 1, err
    for leftover in absent:
        assert not (tmp_path / leftover).exists(), f"{name}: left {leftover} behind"
