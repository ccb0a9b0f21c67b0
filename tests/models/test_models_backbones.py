"""Framework backbones (MONAI, nnU-Net): built by name, the pattern head on the bottleneck, every
pre-training method, self-describing checkpoints, fine-tuning models, a clear missing-extra error.

The MONAI tests need ``monai`` (``pip install 'semgen[monai]'``), the nnU-Net ones
``dynamic_network_architectures`` (``pip install 'semgen[nnunet]'``); each skips, saying so, without it.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from semgen.models import (
    BACKBONES,
    Backbone,
    MissingExtraError,
    backbone_architecture,
    build_model,
    load_checkpoint,
    load_pretrained,
    parameter_counts,
    parse_backbone_args,
)
from semgen.models.backbones import bottleneck_path, require_extra, task_architecture

HAVE = {"monai": importlib.util.find_spec("monai") is not None,
        "nnunet": importlib.util.find_spec("dynamic_network_architectures") is not None}
# the conv backbones at 16^3 (their bottleneck at 1/8 or 1/16); SwinUNETR needs 64 (2D below)
CONV = ["monai-unet", "monai-basicunet", "monai-segresnet", "nnunet-plainconvunet", "nnunet-resencunet"]
METHODS = ["semantic-genesis", "models-genesis", "self-classification", "self-restoration"]
# each size leaves the bottleneck more than one voxel (instance norm needs it): BasicUNet pools 4 times
SIZE = {"monai-basicunet": 32, "monai-swinunetr": 64}


def needs(name: str):
    family = BACKBONES[name].family
    return pytest.mark.skipif(not HAVE[family], reason=f"{name} needs pip install 'semgen[{family}]'")


def _param(names):
    return [pytest.param(n, marks=needs(n)) for n in names]


def _net(name, dims=3, num_classes=3, **kw):
    return build_model(backbone_architecture(name, kw or None, spatial_dims=dims, num_classes=num_classes, width=4), seed=0)


@pytest.mark.parametrize("name", _param([*CONV, "monai-swinunetr"]))
@pytest.mark.parametrize("dims", [2, 3])
def test_output_is_the_networks_own_and_the_head_reads_its_bottleneck(name, dims):
    if name == "monai-swinunetr" and dims == 3:
        pytest.skip("SwinUNETR in 3D needs 64^3 inputs (bottleneck at 1/32 with more than one voxel): too slow here")
    size = SIZE.get(name, 16)
    net = _net(name, dims).eval()
    x = torch.rand(2, 1, *[size] * dims, generator=torch.Generator().manual_seed(0))
    seg, cls = net(x)
    with torch.no_grad():
        own = net.net(x)
    assert seg.shape == x.shape and cls.shape == (2, 3)
    assert torch.equal(seg, own)  # restoration is the framework network's own output
    caught = {}
    net.net.get_submodule(bottleneck_path(net.spec, net.net)).register_forward_hook(
        lambda m, i, o: caught.setdefault("bottleneck", o))
    net(x)
    assert caught["bottleneck"].shape[1] == net.bottleneck_channels
    counts = parameter_counts(net)
    assert counts["encoder"] > 0 and counts["decoder"] > 0 and counts["head"] > 0
    assert sum(v for k, v in counts.items() if k != "total") == counts["total"]


@pytest.mark.parametrize("name", _param(CONV))
def test_classification_alone_stops_at_the_bottleneck(name):
    net = _net(name).train()
    x = torch.rand(2, 1, *[SIZE.get(name, 16)] * 3, generator=torch.Generator().manual_seed(1))
    seg, logits = net.branches(x, classification=True, restoration=False)
    assert seg is None and logits.shape == (2, 3)
    logits.sum().backward()
    grads = {k: p.grad for k, p in net.named_parameters()}
    parts = net.part_names()
    from semgen.models.unet import part_of

    assert all(g is None for k, g in grads.items() if part_of(k, parts) == "decoder")  # the decoder never ran
    assert any(g is not None and g.abs().sum() > 0 for k, g in grads.items() if part_of(k, parts) == "encoder")
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net.branches(x, True, False)[1], net(x)[1], atol=1e-5)


@pytest.mark.parametrize("name", _param(CONV))
@pytest.mark.parametrize("method", METHODS)
def test_every_method_pretrains_every_backbone(name, method, tmp_path):
    from semgen.training import PretrainConfig, Trainer, TrainingData, claim_run, resolve_config

    g = torch.Generator().manual_seed(0)
    patch = (SIZE.get(name, 16),) * 3
    crops = [(torch.rand(1, *patch, generator=g), i % 3) for i in range(9)]
    data = TrainingData(train=crops[:6], validation=crops[6:], spatial_dims=3, patch=patch, num_classes=3)
    joint = method == "semantic-genesis"
    cfg = resolve_config(PretrainConfig(
        out=str(tmp_path / "run"), method=method, backbone=name, width=4, epochs=2 if joint else 1,
        warmup_epochs=1 if joint else 0, batch_size=6, num_workers=0, precision="fp32", device="cpu", triplets=0,
    ), cuda=False)
    with claim_run(cfg) as state:
        summary = Trainer(cfg, data, cfg.out, state=state).run()
    assert summary.backbone == name and summary.to_json()["backbone"] == name
    model, meta = load_checkpoint(tmp_path / "run")
    assert isinstance(model, Backbone) and meta["architecture"]["args"]["backbone"] == name
    assert (model.clc_out is not None) == (method in ("semantic-genesis", "self-classification"))
    assert all(k.startswith(("net.", "clc_out.")) for k in model.state_dict())


@pytest.mark.parametrize("name", _param([*CONV, "monai-swinunetr"]))
def test_semantic_genesis_pretrains_every_backbone_in_2d(name, tmp_path):
    from semgen.training import PretrainConfig, Trainer, TrainingData, claim_run, resolve_config

    g = torch.Generator().manual_seed(0)
    patch = (max(32, SIZE.get(name, 16)),) * 2
    crops = [(torch.rand(1, *patch, generator=g), i % 3) for i in range(6)]
    cfg = resolve_config(PretrainConfig(out=str(tmp_path / "run"), backbone=name, width=4, epochs=2, warmup_epochs=1,
                                        batch_size=2, num_workers=0, precision="fp32", device="cpu", triplets=0), cuda=False)
    with claim_run(cfg) as state:
        result = Trainer(cfg, TrainingData(train=crops[:4], validation=crops[4:], spatial_dims=2, patch=patch, num_classes=3),
                         cfg.out, state=state).run()
    assert result.spatial_dims == 2 and result.last_loss_rec is not None and result.final_accuracy is not None
    model, _ = load_checkpoint(tmp_path / "run")
    assert model.spatial_dims == 2 and model(torch.rand(2, 1, *patch))[0].shape == (2, 1, *patch)


@needs("nnunet-plainconvunet")
def test_a_resumed_backbone_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    """nnU-Net's networks hold modules under two names (aliased tensors in the state dict)."""
    import dataclasses

    from semgen.training import PretrainConfig, Trainer, TrainingData, claim_run, resolve_config
    from semgen.training.checkpoint import load_state

    g = torch.Generator().manual_seed(0)
    crops = [(torch.rand(1, 16, 16, 16, generator=g), i % 3) for i in range(12)]
    data = TrainingData(train=crops[:9], validation=crops[9:], spatial_dims=3, patch=(16, 16, 16), num_classes=3)

    def train(cfg):
        with claim_run(cfg) as state:
            Trainer(cfg, data, cfg.out, state=state).run()
        return load_state(tmp_path / cfg.out / "last.pt")["model"]

    def cfg(out, epochs):
        return resolve_config(PretrainConfig(out=str(tmp_path / out), backbone="nnunet-plainconvunet", width=4, epochs=epochs,
                                             warmup_epochs=1, batch_size=3, num_workers=0, precision="fp32", device="cpu",
                                             triplets=0, patience=10), cuda=False)

    full = train(cfg("a", 3))
    train(cfg("b", 2))
    resumed = train(dataclasses.replace(cfg("b", 3), resume=True))
    assert full.keys() == resumed.keys() and any("decoder.encoder." in k for k in full)
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


@pytest.mark.parametrize("name", _param(["monai-unet", "nnunet-plainconvunet"]))
def test_a_probe_freezes_the_backbones_encoder(name):
    from semgen.finetune.evaluation import Probe

    for model in (build_model(task_architecture(_net(name).architecture["args"], "segmentation", 2), seed=0),
                  build_model(task_architecture(_net(name).architecture["args"], "classification", 2), seed=0)):
        probe = Probe(model).train()
        frozen = [p for path in model.encoder_paths for p in model.get_submodule(path).parameters()]
        assert frozen and not any(p.requires_grad for p in frozen)
        assert all(not m.training for path in model.encoder_paths for m in model.get_submodule(path).modules())
        assert any(p.requires_grad for p in model.parameters())  # the head (and decoder) still train


@pytest.mark.parametrize("name", _param(CONV))
def test_checkpoint_rebuilds_the_same_network(name, tmp_path):
    from semgen.models import save_checkpoint

    net = _net(name).eval()
    save_checkpoint(tmp_path / "model.safetensors", net, {"patch_size": [16, 16, 16]})
    again, meta = load_checkpoint(tmp_path)
    again.eval()
    x = torch.rand(1, 1, *[SIZE.get(name, 16)] * 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(net(torch.cat([x, x])), again(torch.cat([x, x]))))
    assert json.loads(json.dumps(meta["architecture"])) == net.architecture


@pytest.mark.parametrize("name", _param(CONV))
def test_fine_tuning_models_take_the_pretrained_encoder(name, tmp_path):
    from semgen.models import save_checkpoint

    pre = _net(name)
    save_checkpoint(tmp_path / "model.safetensors", pre)
    backbone = pre.architecture["args"]
    seg = build_model(task_architecture(backbone, "segmentation", 4), seed=1)
    report = load_pretrained(seg, tmp_path / "model.safetensors")
    encoder = {k for k in seg.state_dict() if k.startswith(tuple(p + "." for p in seg.encoder_paths))}
    assert encoder and encoder <= set(report.loaded)
    x = torch.rand(2, 1, *[SIZE.get(name, 16)] * 3)
    assert seg(x)[0].shape == (2, 4, *x.shape[2:])
    cls = build_model(task_architecture(backbone, "classification", 2), seed=1)
    load_pretrained(cls, tmp_path / "model.safetensors")
    assert torch.equal(cls.state_dict()[sorted(encoder)[0]], pre.state_dict()[sorted(encoder)[0]])
    assert cls(x).shape == (2, 2)


@pytest.mark.parametrize("name", _param(["monai-basicunet", "nnunet-plainconvunet"]))
def test_an_input_too_small_for_the_network_is_a_clear_error(name):
    net = _net(name)
    with pytest.raises(ValueError, match="divisible by"):
        net(torch.rand(2, 1, 20, 16, 16))
    if name == "monai-basicunet":  # pools 4 times: a 16^3 crop leaves one voxel
        with pytest.raises(ValueError, match="one voxel at the bottleneck"):
            net(torch.rand(2, 1, 16, 16, 16))


def test_backbone_args_parse_json_yaml_and_files(tmp_path):
    assert parse_backbone_args('{"channels": [8, 16], "strides": [2]}') == {"channels": [8, 16], "strides": [2]}
    assert parse_backbone_args("features: [4, 4, 8, 16, 32, 4]") == {"features": [4, 4, 8, 16, 32, 4]}
    assert parse_backbone_args('{"norm_op_kwargs": {"eps": 1e-05}}') == {"norm_op_kwargs": {"eps": 1e-05}}  # a float, as in JSON
    (tmp_path / "a.yaml").write_text("init_filters: 4\n")
    assert parse_backbone_args(str(tmp_path / "a.yaml")) == {"init_filters": 4}
    for bad in ("[1, 2]", "{a: [", str(tmp_path / "missing.json")):
        with pytest.raises(ValueError, match="--backbone-args"):
            parse_backbone_args(bad)


def test_a_missing_framework_names_the_extra(monkeypatch):
    import importlib

    real = importlib.import_module

    def absent(name, *a, **k):
        if name.split(".")[0] in ("monai", "dynamic_network_architectures"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", absent)
    for family in ("monai", "nnunet"):
        with pytest.raises(MissingExtraError, match=rf"pip install 'semgen\[{family}\]'"):
            require_extra(family)
    from semgen.stage import ConfigError
    from semgen.training import PretrainConfig

    with pytest.raises(ConfigError, match=r"pip install 'semgen\[monai\]'"):
        PretrainConfig(backbone="monai-unet")


def test_the_semgen_backbone_is_the_published_unet():
    arch = backbone_architecture("semgen", {"width": 4}, spatial_dims=3, num_classes=2)
    assert arch["name"] == "UNet" and arch["args"]["width"] == 4
    with pytest.raises(ValueError, match="channels"):
        backbone_architecture("semgen", {"channels": [4]}, spatial_dims=3)
    with pytest.raises(ValueError, match="--backbone must be one of"):
        backbone_architecture("no-such-net", None, spatial_dims=3)


@needs("nnunet-plainconvunet")
def test_nnunet_arguments_resolve_only_torch_nn_classes():
    with pytest.raises(ValueError, match="torch.nn class"):
        _net("nnunet-plainconvunet", nonlin="os.system")
    with pytest.raises(ValueError, match="does not fit 3D"):
        _net("nnunet-plainconvunet", conv_op="torch.nn.modules.conv.Conv2d")
    with pytest.raises(ValueError, match="refuses these arguments"):
        _net("nnunet-plainconvunet", n_stages=5)
