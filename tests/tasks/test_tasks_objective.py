"""Objectives: the method registry, loss composition, which branches get gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semgen.models import UNet
from semgen.tasks import METHODS, BranchNet, Objective, get_method, register_method
from semgen.transforms import SCHEDULES

PATCH = (16, 16, 16)  # the published local-shuffle block sizes need axes >= 10


def _batch(n=4, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 1, *PATCH), generator=g)
    return {"input": x, "target": torch.rand((n, 1, *PATCH), generator=g), "label": torch.arange(n) % classes}


def _net(classes=3, seed=0):
    torch.manual_seed(seed)
    return BranchNet(UNet(spatial_dims=3, width=4, num_classes=classes))


def test_registry_has_the_paper_methods_and_rejects_unknown_names():
    expected = {
        "semantic-genesis", "models-genesis", "self-classification", "self-restoration", "inpainting",
        "inpainting+semantics", "context-restoration", "context-restoration+semantics", "models-genesis+semantics",
    }
    assert expected <= set(METHODS)
    assert get_method("semantic-genesis").joint and get_method("semantic-genesis").warmup_epochs == 20
    assert not get_method("models-genesis").needs_discovery and not get_method("models-genesis").classification
    assert get_method("inpainting+semantics").schedule == get_method("inpainting").schedule
    with pytest.raises(ValueError, match="known: semantic-genesis"):
        get_method("genesis")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_corrupts_a_batch_with_its_schedule(name):
    objective = Objective(get_method(name))
    x = torch.rand((2, 1, *PATCH), generator=torch.Generator().manual_seed(1))
    a = objective.corrupt(x, torch.Generator().manual_seed(5))
    b = objective.corrupt(x, torch.Generator().manual_seed(5))
    assert a[0].shape == x.shape and a[1].shape == x.shape
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_joint_loss_is_the_published_weighted_sum():
    net, batch = _net(), _batch()
    objective = Objective(get_method("semantic-genesis"), lambda_rec=1.0, lambda_cls=0.01)
    out = objective(net, batch)
    seg, logits = net.net(batch["input"])
    mse = F.mse_loss(torch.sigmoid(seg), batch["target"])
    ce = F.cross_entropy(logits, batch["label"])
    torch.testing.assert_close(out["loss"], mse + 0.01 * ce)
    torch.testing.assert_close(out["loss_rec"], mse)
    torch.testing.assert_close(out["loss_cls"], ce)
    assert out["acc"] == (logits.argmax(1) == batch["label"]).float().mean()
    assert out["restored"].min() >= 0 and out["restored"].max() <= 1


def _grads(net):
    parts = {"encoder": net.net.encoder_names, "decoder": ("up_tr256", "up_tr128", "up_tr64", "out_tr"), "head": ("clc_out",)}
    out = {}
    for part, names in parts.items():
        params = [p for n in names if getattr(net.net, n, None) is not None for p in getattr(net.net, n).parameters()]
        out[part] = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params]
    return out


def test_warmup_trains_encoder_and_head_only_with_plain_cross_entropy():
    net, batch = _net(), _batch()
    objective = Objective(get_method("semantic-genesis"))
    out = objective(net, batch, warmup=True)
    assert out["loss_rec"] is None and out["restored"] is None
    torch.testing.assert_close(out["loss"], out["loss_cls"])
    out["loss"].backward()
    grads = _grads(net)
    assert all(grads["encoder"]) and all(grads["head"]) and not any(grads["decoder"])


def test_restoration_only_method_runs_without_a_head_and_every_parameter_learns():
    torch.manual_seed(0)
    net, batch = BranchNet(UNet(spatial_dims=3, width=4)), _batch()
    out = Objective(get_method("models-genesis"))(net, batch)
    assert out["loss_cls"] is None and out["acc"] is None
    torch.testing.assert_close(out["loss"], out["loss_rec"])
    out["loss"].backward()
    assert all(p.grad is not None for p in net.parameters())


def test_self_classification_leaves_the_decoder_untouched():
    net, batch = _net(), _batch()
    out = Objective(get_method("self-classification"))(net, batch)
    out["loss"].backward()
    grads = _grads(net)
    assert all(grads["encoder"]) and all(grads["head"]) and not any(grads["decoder"])


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_exactly_its_branches(name):
    method = get_method(name)
    assert method.schedule in SCHEDULES
    net, batch = _net(classes=3 if method.classification else 0), _batch()
    out = Objective(method)(net, batch)
    assert torch.isfinite(out["loss"])
    assert (out["loss_cls"] is None) != method.classification and (out["loss_rec"] is None) != method.restoration
    out["loss"].backward()
    grads = _grads(net)
    assert all(grads["encoder"])
    assert all(grads["head"]) if method.classification else grads["head"] == []
    assert all(grads["decoder"]) if method.restoration else not any(grads["decoder"])
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_method_records_are_keywords_and_checked():
    fields = {"name": "semantic-genesis", "schedule": "identity", "classification": True, "restoration": False,
              "data": "patterns", "description": "x"}
    with pytest.raises(ValueError, match="already registered"):
        register_method(**fields)
    with pytest.raises(ValueError, match="data must be one of"):
        register_method(**{**fields, "name": "new", "data": "slices"})
    with pytest.raises(ValueError, match="classification or a restoration"):
        register_method(**{**fields, "name": "new", "classification": False})
    with pytest.raises(ValueError, match="warm-up needs both"):
        register_method(**{**fields, "name": "new", "warmup_epochs": 3})
    with pytest.raises(TypeError):
        type(get_method("semantic-genesis"))("x", "identity", True, False, "patterns", 0, "positional")
    assert "new" not in METHODS


def test_negative_weights_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        Objective(get_method("semantic-genesis"), lambda_cls=-1)
