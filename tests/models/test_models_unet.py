"""The U-Net: published key list, shapes over a grid, gradients, batch-norm modes, parts."""

from __future__ import annotations

import pytest
import torch

from semgen.models import ENCODERS, MODELS, EncoderClassifier, UNet, build_model, get_encoder, parameter_counts

# The published YNet3D state dict (reference Sec. 2.1): (LUConv prefix, out channels, in channels)
PUBLISHED_LUCONVS = [
    ("down_tr64.ops.0", 32, 1),
    ("down_tr64.ops.1", 64, 32),
    ("down_tr128.ops.0", 64, 64),
    ("down_tr128.ops.1", 128, 64),
    ("down_tr256.ops.0", 128, 128),
    ("down_tr256.ops.1", 256, 128),
    ("down_tr512.ops.0", 256, 256),
    ("down_tr512.ops.1", 512, 256),
    ("up_tr256.up_conv", 512, 512),
    ("up_tr256.ops.0", 256, 768),
    ("up_tr256.ops.1", 256, 256),
    ("up_tr128.up_conv", 256, 256),
    ("up_tr128.ops.0", 128, 384),
    ("up_tr128.ops.1", 128, 128),
    ("up_tr64.up_conv", 128, 128),
    ("up_tr64.ops.0", 64, 192),
    ("up_tr64.ops.1", 64, 64),
]


def published_keys(num_classes: int) -> list[tuple[str, tuple[int, ...]]]:
    keys: list[tuple[str, tuple[int, ...]]] = []
    for prefix, out, inp in PUBLISHED_LUCONVS:
        if prefix.endswith("up_conv"):  # ConvTranspose3d weight is [in, out, k, k, k]
            keys += [(f"{prefix}.weight", (inp, out, 2, 2, 2)), (f"{prefix}.bias", (out,))]
            continue
        keys += [(f"{prefix}.conv1.weight", (out, inp, 3, 3, 3)), (f"{prefix}.conv1.bias", (out,))]
        keys += [(f"{prefix}.bn1.{n}", (out,)) for n in ("weight", "bias", "running_mean", "running_var")]
        keys.append((f"{prefix}.bn1.num_batches_tracked", ()))
    keys += [("out_tr.final_conv.weight", (1, 64, 1, 1, 1)), ("out_tr.final_conv.bias", (1,))]
    if num_classes:
        keys += [("clc_out.conv1.weight", (1024, 512, 3, 3, 3)), ("clc_out.conv1.bias", (1024,))]
        keys += [(f"clc_out.bn1.{n}", (1024,)) for n in ("weight", "bias", "running_mean", "running_var")]
        keys += [("clc_out.bn1.num_batches_tracked", ()), ("clc_out.fc1.weight", (num_classes, 1024))]
        keys += [("clc_out.fc1.bias", (num_classes,))]
    return keys


@pytest.mark.parametrize("norm", ["batch", "published"])
def test_published_key_list_and_counts(norm: str) -> None:
    unet = UNet(spatial_dims=3, in_channels=1, out_channels=1, width=32, norm=norm)
    assert [(k, tuple(v.shape)) for k, v in unet.state_dict().items()] == published_keys(0)
    assert len(unet.state_dict()) == 106
    assert parameter_counts(unet) == {"encoder": 7_027_776, "decoder": 12_045_889, "head": 0, "total": 19_073_665}
    ynet = UNet(width=32, num_classes=44, norm=norm)
    assert [(k, tuple(v.shape)) for k, v in ynet.state_dict().items()] == published_keys(44)
    counts = parameter_counts(ynet)
    assert len(ynet.state_dict()) == 115
    assert counts["head"] == 14_203_948 and counts["total"] == 33_277_613


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize(
    "width,in_channels,out_channels,num_classes,size",
    [(4, 1, 1, 0, 16), (4, 3, 2, 5, 24), (8, 1, 3, 2, 16)],
)
def test_output_shapes(spatial_dims, encoder, width, in_channels, out_channels, num_classes, size) -> None:
    spatial = (size, size + 8, 8)[:spatial_dims]
    model = UNet(spatial_dims, in_channels, out_channels, width, num_classes, encoder=encoder)
    x = torch.rand(2, in_channels, *spatial)
    seg, cls = model(x)
    assert seg.shape == (2, out_channels, *spatial)
    assert (cls is None) == (num_classes == 0)
    if num_classes:
        assert cls.shape == (2, num_classes)
    features = model.encoder(x)
    assert [f.shape[1] for f in features] == [2 * width, 4 * width, 8 * width, model.bottleneck_channels]
    assert [tuple(f.shape[2:]) for f in features] == [tuple(s // 2**i for s in spatial) for i in range(4)]


def _framework(**args):
    """A framework backbone's tiny arguments (semgen.models.backbones): the first one installed."""
    import importlib.util

    from semgen.models import BACKBONES, backbone_architecture

    name = next((n for n in ("monai-unet", "nnunet-plainconvunet")
                 if importlib.util.find_spec({"monai": "monai", "nnunet": "dynamic_network_architectures"}[BACKBONES[n].family])), None)
    if name is None:
        pytest.skip("the framework backbones need pip install 'semgen[monai]' or 'semgen[nnunet]'")
    base = backbone_architecture(name, None, spatial_dims=3, width=4)["args"]
    return {**{k: base[k] for k in ("backbone", "spatial_dims", "in_channels", "args")}, **args}


# tiny arguments for every registered architecture: a newly registered model must be added here
TINY_ARGS = {
    "UNet": lambda encoder, norm: {"width": 4, "num_classes": 3, "norm": norm, "encoder": encoder},
    "EncoderClassifier": lambda encoder, norm: {
        "unet_or_args": {"width": 4, "norm": norm, "encoder": encoder}, "num_outputs": 3, "dropout": 0.1,
    },
    # the framework networks have their own encoder and norm (the encoder, norm parameters do not apply)
    "Backbone": lambda encoder, norm: _framework(num_classes=3),
    "BackboneClassifier": lambda encoder, norm: _framework(num_outputs=3, dropout=0.1),
}


def test_every_registered_model_has_tiny_test_arguments() -> None:
    assert set(TINY_ARGS) == set(MODELS)


@pytest.mark.parametrize("norm", ["batch", "published", "instance"])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_gets_a_finite_gradient(name: str, encoder: str, norm: str) -> None:
    from semgen.models.unet import part_of

    if name.startswith("Backbone") and (encoder, norm) != ("unet", "batch"):
        pytest.skip("a framework backbone has its own encoder and norm: tested once")
    torch.manual_seed(0)
    model = build_model({"name": name, "args": TINY_ARGS[name](encoder, norm)})
    out = model(torch.rand(2, 1, 16, 16, 8))
    seg, cls = out if isinstance(out, tuple) else (None, out)
    loss = torch.nn.functional.cross_entropy(cls, torch.tensor([0, 2]))
    if seg is not None:
        loss = loss + seg.square().mean()
    loss.backward()
    for pname, p in model.named_parameters():
        if seg is None and part_of(pname, model.part_names()) == "decoder":
            continue  # a classifier keeps a framework network's decoder (its keys load as they are) but never runs it
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


def test_encoder_registry_refuses_duplicates_and_unknown_names() -> None:
    from semgen.models import register_encoder

    with pytest.raises(ValueError, match="already registered"):
        register_encoder(get_encoder("unet"))
    with pytest.raises(ValueError, match="encoder must be one of unet"):
        UNet(width=4, encoder="vgg")
    assert {spec.name for spec in ENCODERS.values()} == set(ENCODERS)


def test_parts_compose_to_forward_and_share_weights() -> None:
    torch.manual_seed(0)
    model = UNet(spatial_dims=2, width=4, num_classes=3).eval()
    x = torch.rand(2, 1, 32, 16)
    seg, cls = model(x)
    features = model.encoder(x)
    torch.testing.assert_close(model.decoder(features), seg, rtol=0, atol=0)
    torch.testing.assert_close(model.clc_out(features[-1]), cls, rtol=0, atol=0)
    enc_keys = list(model.encoder.state_dict())
    assert enc_keys == [k for k in model.state_dict() if k.startswith("down_tr")]
    assert {id(p) for p in model.encoder.parameters()} <= {id(p) for p in model.parameters()}
    dec_keys = set(model.decoder.state_dict())
    assert dec_keys == {k for k in model.state_dict() if k.startswith(("up_tr", "out_tr"))}


def test_no_activations_cached_on_the_module() -> None:
    model = UNet(width=4, num_classes=2)
    model(torch.rand(2, 1, 16, 16, 8))
    tensors = [n for m in model.modules() for n, v in vars(m).items() if isinstance(v, torch.Tensor)]
    assert tensors == []


def test_standard_batch_norm_uses_running_stats_in_eval_published_does_not() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16, 8)
    standard = UNet(width=4, norm="batch").eval()
    one, _ = standard(x[:1])
    batch, _ = standard(x)
    torch.testing.assert_close(one, batch[:1], rtol=1e-5, atol=1e-5)  # per-sample in eval

    published = UNet(width=4, norm="published")
    published.load_state_dict(standard.state_dict())
    published.eval()
    before = published.down_tr64.ops[0].bn1.running_mean.clone()
    one_p, _ = published(x[:1])
    batch_p, _ = published(x)
    assert not torch.allclose(one_p, batch_p[:1], atol=1e-3)  # batch statistics even in eval
    assert not torch.equal(before, published.down_tr64.ops[0].bn1.running_mean)  # updated as released
    assert int(published.down_tr64.ops[0].bn1.num_batches_tracked) == 0


def test_bad_inputs_and_arguments_raise_clear_errors() -> None:
    model = UNet(width=4)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.rand(1, 1, 16, 16, 12))
    with pytest.raises(ValueError, match="input channel"):
        model(torch.rand(1, 2, 16, 16, 8))
    with pytest.raises(ValueError, match="3D model"):
        model(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="spatial_dims"):
        UNet(spatial_dims=4)
    with pytest.raises(ValueError, match="norm"):
        UNet(norm="group")
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model({"name": "VNet", "args": {}})
    with pytest.raises(ValueError, match="bad arguments"):
        build_model({"name": "UNet", "args": {"depth": 5}})


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_encoder_classifier_shares_encoder_keys_and_copies_weights(encoder: str) -> None:
    unet = UNet(spatial_dims=2, width=4, num_classes=3, encoder=encoder)
    clf = EncoderClassifier(unet, num_outputs=5, dropout=0.2)
    assert list(clf.encoder.state_dict()) == list(unet.encoder.state_dict())
    for k, v in clf.encoder.state_dict().items():
        assert torch.equal(v, unet.state_dict()[k]) and v.data_ptr() != unet.state_dict()[k].data_ptr()
    logits = clf.eval()(torch.rand(3, 1, 16, 16))
    assert logits.shape == (3, 5)
    rebuilt = build_model(clf.architecture)
    assert list(rebuilt.state_dict()) == list(clf.state_dict())
    from_args = EncoderClassifier(unet.architecture["args"], 2)
    assert [v.shape for v in from_args.encoder.state_dict().values()] == [
        v.shape for v in unet.encoder.state_dict().values()
    ]
