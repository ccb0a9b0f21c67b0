"""The README's "Use with MONAI" and "Use with nnU-Net" sections run as written (paths
replaced by tiny ones, speed flags added)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from semgen.cli import main
from test_finetune_layouts import nnunet_raw

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"### {title}")
    end = text.find("\n#", start + 4)
    return text[start: end if end > 0 else None]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def nnunet_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nnunet")
    nnunet_raw(root / "nnUNet_raw" / "Dataset001_Balls")
    return root


FAST = ["--epochs", "2", "--width", "4", "--patch", "16x16x8", "--device", "cpu"]
PRETRAIN_FAST = ["--epochs", "2", "--warmup-epochs", "1", "--batch-size", "4", "--precision", "fp32"]


def _commands(title: str) -> list[list[str]]:
    return [shlex.split(line) for block in _blocks(_section(title), "bash") for line in block.splitlines()]


# a tiny nnU-Net 3d_fullres network that fits the 16^3 pattern crops
ARCH_KWARGS = {
    "n_stages": 3, "features_per_stage": [4, 8, 16], "conv_op": "torch.nn.modules.conv.Conv3d",
    "kernel_sizes": [[3, 3, 3]] * 3, "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2]], "n_conv_per_stage": [2, 2, 2],
    "n_conv_per_stage_decoder": [2, 2], "conv_bias": True, "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
    "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None, "dropout_op_kwargs": None,
    "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
}


@pytest.fixture
def workdir(nnunet_dataset: Path, patterns: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The nnU-Net dataset, with ``data/patterns`` a tiny pattern set (16^3 crops), as the current folder."""
    monkeypatch.chdir(nnunet_dataset)
    (nnunet_dataset / "data").mkdir(exist_ok=True)
    if not (nnunet_dataset / "data" / "patterns").exists():
        (nnunet_dataset / "data" / "patterns").symlink_to(patterns / "patterns")
    return nnunet_dataset


@pytest.mark.slow
def test_use_with_nnunet_commands_run(workdir: Path) -> None:
    commands = _commands("Use with nnU-Net")
    assert [c[:2] for c in commands] == [["semgen", "finetune"], ["semgen", "predict"], ["semgen", "pretrain"],
                                         ["semgen", "export"], ["nnUNetv2_train", "1"]]
    finetune = [a if a != "runs/demo" else "scratch" for a in commands[0][1:]] + FAST  # no pre-trained run here
    assert main(finetune) == 0
    assert main(commands[1][1:]) == 0
    assert (workdir / "predictions" / "balls" / "new_000.nii.gz").is_file()
    pytest.importorskip("dynamic_network_architectures", reason="nnU-Net's networks are optional (pip install 'semgen[nnunet]')")
    from tests.models.test_models_export_frameworks import _plans, nnunet_get_network_from_plans, nnunet_load_pretrained_weights

    (workdir / "arch_kwargs.json").write_text(json.dumps(ARCH_KWARGS))
    (workdir / "nnUNet_preprocessed" / "Dataset001_Balls").mkdir(parents=True, exist_ok=True)
    target = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
    _plans(workdir / "nnUNet_preprocessed" / "Dataset001_Balls" / "nnUNetPlans.json", target, ARCH_KWARGS)
    assert main(commands[2][1:] + PRETRAIN_FAST) == 0
    assert main(commands[3][1:]) == 0
    # nnUNetv2_train 1 3d_fullres 0 -pretrained_weights pretrained.pt, as nnU-Net builds and loads (2 labels + background)
    network = nnunet_get_network_from_plans(target, ARCH_KWARGS, ["conv_op", "norm_op", "dropout_op", "nonlin"], 1, 3,
                                            deep_supervision=True)
    assert nnunet_load_pretrained_weights(network, workdir / commands[4][commands[4].index("-pretrained_weights") + 1])


@pytest.mark.slow
def test_use_with_monai_commands_and_snippet_run(workdir: Path) -> None:
    pytest.importorskip("monai", reason="MONAI is optional (pip install 'semgen[monai]')")
    commands = _commands("Use with MONAI")
    assert [c[:2] for c in commands] == [["semgen", "pretrain"], ["semgen", "export"], ["semgen", "finetune"]]
    assert main(commands[0][1:] + PRETRAIN_FAST) == 0
    assert main(commands[1][1:]) == 0
    assert main(commands[2][1:] + FAST) == 0
    summary = (workdir / "results" / "monai" / "summary.json").read_text()
    assert '"net.model.0.' in summary  # the fine-tuned MONAI UNet took the pre-trained encoder
    assert main(["finetune", "nnUNet_raw/Dataset001_Balls", "--out", "results/demo-organs", "--trials", "1", *FAST]) == 0
    load, infer = _blocks(_section("Use with MONAI"), "python")
    scope: dict = {}
    exec(compile(load, "README", "exec"), scope)  # the exported weights, strict=True into MONAI's UNet
    exec(compile(infer.replace("96, 96, 48", "32, 24, 16"), "README", "exec"), scope)
    assert tuple(scope["labels"].shape) == (1, 32, 24, 16) and int(scope["labels"].max()) <= 1
