from __future__ import annotations

import pytest
import torch
import yaml

from semgen.transforms import (
    SCHEDULES,
    CorruptionError,
    OneOf,
    OneOfParams,
    Schedule,
    Step,
    get_schedule,
    register_schedule,
)

CONTRACT_NAMES = {
    "semantic-genesis",
    "models-genesis",
    "inpainting",
    "context-restoration",
    "nonlinear",
    "local-shuffle",
    "inpaint",
    "outpaint",
    "identity",
}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(shape, seed: int = 1) -> torch.Tensor:
    return torch.rand(shape, generator=gen(seed))


def test_contract_schedule_names_exist() -> None:
    assert CONTRACT_NAMES <= set(SCHEDULES)
    assert all(schedule.name == name and schedule.description for name, schedule in SCHEDULES.items())
    with pytest.raises(CorruptionError, match="already registered"):
        register_schedule(name="identity", steps=(), description="again")
    with pytest.raises(TypeError):
        Schedule("positional", ())  # records are built with keywords
    with pytest.raises(ValueError, match="unknown schedule 'nope'; known: semantic-genesis"):
        get_schedule("nope")


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("shape", [(3, 1, 32, 32, 16), (3, 1, 64, 64)])
def test_schedules_keep_shape_range_and_are_reproducible(name, shape) -> None:
    schedule = get_schedule(name)
    x = batch(shape)
    inputs, target = schedule(x, gen(4))
    again = schedule(x, gen(4))
    assert inputs.shape == target.shape == x.shape and inputs.dtype == x.dtype
    assert inputs.min() >= 0 and inputs.max() <= 1
    assert torch.equal(inputs, again[0]) and torch.equal(target, again[1])
    params = schedule.sample(x.shape, gen(4), x.device)
    assert torch.equal(schedule.apply(x, params)[0], inputs)
    assert torch.equal(schedule.apply(x, params)[0], schedule.apply(x, params)[0])
    if name == "identity":
        assert inputs is x and target is x
    else:
        assert not torch.equal(inputs, x)


def test_semantic_genesis_target_is_undeformed_original_and_one_of_four() -> None:
    x = batch((400, 1, 32, 32, 16))
    schedule = get_schedule("semantic-genesis")
    params = schedule.sample(x.shape, gen(), x.device)
    elastic_params, one_of = params
    assert elastic_params.active.all() and isinstance(one_of, OneOfParams)
    actives = torch.stack([p.active for p in one_of.params])
    assert torch.equal(actives.sum(0), torch.ones(400, dtype=torch.long))  # exactly one per sample
    counts = actives.sum(1)
    assert ((counts > 70) & (counts < 130)).all()  # 1/4 each
    small = x[:4]
    inputs, target = schedule(small, gen())
    assert target is small and not torch.equal(inputs, small)


def test_models_genesis_published_composition() -> None:
    data = get_schedule("models-genesis").to_dict()
    steps = data["steps"]
    assert steps[0] == {"corruption": "flip", "prob": 1.0, "options": {"prob": 0.4, "max_flips": 3}}
    assert steps[1]["corruption"] == "local_shuffle" and steps[1]["prob"] == 0.5
    assert steps[1]["options"] == {"n_blocks": 10000}
    assert steps[2]["corruption"] == "nonlinear" and steps[2]["prob"] == 0.9
    assert steps[3]["prob"] == 0.9 and steps[3]["weights"] == [0.2, 0.8]
    assert [s["corruption"] for s in steps[3]["one_of"]] == ["inpaint", "outpaint"]
    sg = get_schedule("semantic-genesis").to_dict()["steps"]
    assert sg[0]["corruption"] == "elastic" and sg[1]["one_of"][0]["options"] == {"n_blocks": 5}


def test_flips_change_the_target_with_the_input() -> None:
    x = batch((6, 1, 16, 16, 8))
    schedule = Schedule(name="flip-only", steps=(Step("flip", options={"prob": 1.0, "max_flips": 1, "axes": (0, 1)}),))
    inputs, target = schedule(x, gen())
    assert torch.equal(inputs, target) and not torch.equal(target, x)
    composed = Schedule(
        name="flip-then-paint",
        steps=(Step("flip", options={"prob": 1.0, "max_flips": 1, "axes": (0, 1)}), Step("inpaint")),
    )
    params = composed.sample(x.shape, gen(), x.device)
    inputs, target = composed.apply(x, params)
    assert torch.equal(target, schedule.apply(x, params[:1])[1])
    assert not torch.equal(inputs, target)


def test_schedule_probabilities_zero_give_identity() -> None:
    x = batch((4, 1, 32, 32, 16))
    schedule = Schedule(name="off", steps=(Step("elastic", prob=0.0), OneOf((Step("nonlinear"), Step("outpaint")), prob=0.0)))
    inputs, target = schedule(x, gen())
    assert torch.equal(inputs, x) and torch.equal(target, x)


def test_schedule_round_trips_through_yaml() -> None:
    for schedule in SCHEDULES.values():
        text = yaml.safe_dump(schedule.to_dict())
        assert Schedule.from_dict(yaml.safe_load(text)) == schedule


def test_schedule_definition_errors() -> None:
    with pytest.raises(ValueError, match="unknown corruption"):
        Step("blur")
    with pytest.raises(ValueError, match="unknown option.*n_block"):
        Step("local_shuffle", options={"n_block": 3})
    with pytest.raises(ValueError, match="probability"):
        Step("nonlinear", prob=1.5)
    with pytest.raises(ValueError, match="weight"):
        OneOf((Step("nonlinear"),), weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="not a schedule description"):
        Schedule.from_dict({"steps": []})


def test_schedule_rejects_bad_batches_and_foreign_params() -> None:
    schedule = get_schedule("semantic-genesis")
    with pytest.raises(ValueError, match="schedule semantic-genesis.*dimensions"):
        schedule(torch.rand(32, 32, 16), gen())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        schedule(torch.rand(1, 1, 32, 32, 16) + 1, gen())
    params = schedule.sample((2, 1, 32, 32, 16), gen())
    with pytest.raises(ValueError, match="do not fit"):
        schedule.apply(batch((3, 1, 32, 32, 16)), params)
    with pytest.raises(CorruptionError, match="too small"):
        schedule(batch((1, 1, 32, 32, 8)), gen())
