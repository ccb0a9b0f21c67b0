"""`semgen export --to monai|nnunet`: the exported weights load into the real framework classes.

MONAI: ``monai.networks.nets.<Class>(...).load_state_dict(torch.load(f), strict=True)``.
nnU-Net: nnunetv2 itself is not installable here (not on the package index this project uses),
so its two steps are re-implemented below exactly as nnunetv2 does them: the network built
from a plans file as ``nnunetv2.utilities.get_network_from_plans`` builds it (``pydoc.locate``
of the class and of the ``_kw_requires_import`` entries, ``deep_supervision=True``, then
``network.apply(network.initialize)``), and the weights loaded as
``nnunetv2.run.load_pretrained_weights`` loads them (``torch.load(f)['network_weights']``,
every key without ``.seg_layers.`` present with its shape, then ``load_state_dict``). The
networks come from the real ``dynamic_network_architectures``. Each test skips, saying so,
without its framework.
"""

from __future__ import annotations

import json
import pydoc
from pathlib import Path

import pytest
import torch

from semgen.cli import main
from semgen.models import backbone_architecture, build_model, load_checkpoint, save_checkpoint


def _run(tmp_path: Path, name: str, dims: int = 3, **args) -> Path:
    model = build_model(backbone_architecture(name, args or None, spatial_dims=dims, num_classes=3, width=4), seed=0)
    save_checkpoint(tmp_path / "run" / "model.safetensors", model, {"patch_size": [16] * dims, "method": "semantic-genesis"})
    return tmp_path / "run"


@pytest.mark.parametrize("name, cls, size", [("monai-unet", "UNet", 16), ("monai-basicunet", "BasicUNet", 32),
                                             ("monai-segresnet", "SegResNet", 16)])
def test_monai_export_loads_strictly_into_the_monai_class(tmp_path, capsys, name, cls, size):
    nets = pytest.importorskip("monai.networks.nets", reason="needs pip install 'semgen[monai]'")
    run = _run(tmp_path, name)
    out = tmp_path / "export" / "net.pt"
    assert main(["export", str(run), "--to", "monai", "--out", str(out)]) == 0
    assert "strict=True" in capsys.readouterr().out
    model, meta = load_checkpoint(run)
    args = meta["architecture"]["args"]
    net = getattr(nets, cls)(spatial_dims=3, in_channels=1, out_channels=1, **args["args"])
    sd = torch.load(out, weights_only=True)
    assert not any(k.startswith("clc_out") for k in sd)  # the pattern head is semgen's, not MONAI's
    net.load_state_dict(sd, strict=True)
    x = torch.rand(2, 1, size, size, size)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), model.eval()(x)[0])
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["export"]["to"] == "monai" and f"monai.networks.nets.{cls}(" in side["load_with"]
    card = (out.parent / "README.md").read_text()
    assert "load_state_dict" in card and f"monai.networks.nets.{cls}" in card


def test_framework_exports_refuse_other_networks(tmp_path, capsys):
    pytest.importorskip("monai", reason="needs pip install 'semgen[monai]'")
    from semgen.models import UNet

    save_checkpoint(tmp_path / "own" / "model.safetensors", UNet(width=4))
    assert main(["export", str(tmp_path / "own"), "--to", "monai"]) == 2
    assert "--backbone" in capsys.readouterr().err
    run = _run(tmp_path, "monai-unet")
    assert main(["export", str(run), "--to", "nnunet"]) == 2
    assert "export it with --to monai" in capsys.readouterr().err
    assert main(["export", str(run), "--to", "monai", "--part", "encoder"]) == 2
    assert not any(p.name.startswith("model_monai") for p in run.iterdir())


# ---- nnU-Net v2, re-implemented as its source does it ---------------------------------------


def nnunet_get_network_from_plans(arch_class_name, arch_kwargs, arch_kwargs_req_import, input_channels,
                                  output_channels, allow_init=True, deep_supervision=None):
    """nnunetv2/utilities/get_network_from_plans.py (without its fallback class search)."""
    architecture_kwargs = dict(**arch_kwargs)
    for ri in arch_kwargs_req_import:
        if architecture_kwargs[ri] is not None:
            architecture_kwargs[ri] = pydoc.locate(architecture_kwargs[ri])
    nw_class = pydoc.locate(arch_class_name)
    if deep_supervision is not None:
        architecture_kwargs["deep_supervision"] = deep_supervision
    network = nw_class(input_channels=input_channels, num_classes=output_channels, **architecture_kwargs)
    if hasattr(network, "initialize") and allow_init:
        network.apply(network.initialize)
    return network


def nnunet_load_pretrained_weights(network, fname):
    """nnunetv2/run/load_pretrained_weights.py for a plain (not DDP) network."""
    saved_model = torch.load(fname)
    pretrained_dict = saved_model["network_weights"]
    skip_strings_in_pretrained = [".seg_layers."]
    model_dict = network.state_dict()
    for key, _ in model_dict.items():
        if all([i not in key for i in skip_strings_in_pretrained]):
            assert key in pretrained_dict, f"Key {key} is missing in the pretrained model weights."
            assert model_dict[key].shape == pretrained_dict[key].shape, f"The shape of the parameters of key {key} is not the same."
    pretrained_dict = {k: v for k, v in pretrained_dict.items()
                       if k in model_dict and all([i not in k for i in skip_strings_in_pretrained])}
    model_dict.update(pretrained_dict)
    network.load_state_dict(model_dict)
    return pretrained_dict


def _plans(path: Path, class_name: str, arch_kwargs: dict) -> Path:
    path.write_text(json.dumps({"dataset_name": "Dataset001_Balls", "configurations": {
        "3d_fullres": {"patch_size": [16, 16, 16], "architecture": {
            "network_class_name": class_name, "arch_kwargs": arch_kwargs,
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}},
        "3d_lowres": {"inherits_from": "3d_fullres", "patch_size": [16, 16, 16]}}}))
    return path


@pytest.mark.parametrize("name, cls", [("nnunet-plainconvunet", "PlainConvUNet"), ("nnunet-resencunet", "ResidualEncoderUNet")])
def test_a_pretrained_nnunet_network_loads_with_nnunets_own_rule(tmp_path, capsys, name, cls):
    pytest.importorskip("dynamic_network_architectures", reason="needs pip install 'semgen[nnunet]'")
    from semgen.training import PretrainConfig, Trainer, TrainingData, claim_run, resolve_config

    g = torch.Generator().manual_seed(0)
    crops = [(torch.rand(1, 16, 16, 16, generator=g), i % 3) for i in range(9)]
    cfg = resolve_config(PretrainConfig(out=str(tmp_path / "run"), backbone=name, width=4, epochs=2, warmup_epochs=1,
                                        batch_size=6, num_workers=0, precision="fp32", device="cpu", triplets=0), cuda=False)
    with claim_run(cfg) as state:
        Trainer(cfg, TrainingData(train=crops[:6], validation=crops[6:], spatial_dims=3, patch=(16, 16, 16), num_classes=3),
                cfg.out, state=state).run()
    model, meta = load_checkpoint(tmp_path / "run")
    arch_kwargs = meta["architecture"]["args"]["args"]
    target = f"dynamic_network_architectures.architectures.unet.{cls}"
    plans = _plans(tmp_path / "nnUNetPlans.json", target, arch_kwargs)
    out = tmp_path / "pretrained.pt"
    assert main(["export", str(tmp_path / "run"), "--to", "nnunet", "--plans", str(plans), "--out", str(out)]) == 0
    assert "load_pretrained_weights rule" in capsys.readouterr().out
    # nnU-Net's trainer: the network of the plans for a task with 4 classes, deep supervision on
    network = nnunet_get_network_from_plans(target, arch_kwargs, ["conv_op", "norm_op", "dropout_op", "nonlin"], 1, 4,
                                            deep_supervision=True)
    taken = nnunet_load_pretrained_weights(network, out)
    assert taken and not any(".seg_layers." in k for k in taken)
    trained = model.state_dict()
    for key, value in network.state_dict().items():
        if ".seg_layers." not in key:
            assert torch.equal(value, trained[f"net.{key}"]), key
    # the inherited configuration has the same network; another network is refused, naming the fields
    assert main(["export", str(tmp_path / "run"), "--to", "nnunet", "--plans", str(plans), "--configuration", "3d_lowres",
                 "--out", str(tmp_path / "lowres.pt")]) == 0
    other = _plans(tmp_path / "other.json", target, {**arch_kwargs, "features_per_stage": [32, 64, 128, 256]})
    assert main(["export", str(tmp_path / "run"), "--to", "nnunet", "--plans", str(other), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "features_per_stage: plans [32, 64, 128, 256], run [8, 16, 32, 64]" in err and not (tmp_path / "x.pt").exists()
    assert main(["export", str(tmp_path / "run"), "--to", "nnunet", "--plans", str(plans), "--configuration", "2d"]) == 2
    assert "no configuration '2d'" in capsys.readouterr().err


def test_semgens_nnunet_rule_is_nnunets(tmp_path):
    pytest.importorskip("dynamic_network_architectures", reason="needs pip install 'semgen[nnunet]'")
    from semgen.models.frameworks import ExportMismatch, framework_network, nnunet_load

    model = build_model(backbone_architecture("nnunet-plainconvunet", None, spatial_dims=2, width=4), seed=0)
    state = {k.removeprefix("net."): v for k, v in model.state_dict().items()}
    assert all(".seg_layers." not in k for k in nnunet_load(framework_network(model, 3), state))
    torch.save({"network_weights": state}, tmp_path / "w.pt")
    assert nnunet_load_pretrained_weights(framework_network(model, 3), tmp_path / "w.pt")
    missing = {k: v for k, v in state.items() if "encoder.stages.1" not in k}
    with pytest.raises(ExportMismatch, match="missing"):
        nnunet_load(framework_network(model, 3), missing)
    torch.save({"network_weights": missing}, tmp_path / "m.pt")
    with pytest.raises(AssertionError, match="missing"):
        nnunet_load_pretrained_weights(framework_network(model, 3), tmp_path / "m.pt")
