"""Schedules: which corruptions, in which order, with which probabilities, as data.

A :class:`Schedule` is a tuple of steps. A :class:`Step` names a corruption (a key of
:data:`CORRUPTIONS`), the probability that it touches each sample and the keyword
options of its sampler; a :class:`OneOf` picks exactly one of its steps per sample
(with ``weights``), with probability ``prob``. ``schedule(x, generator)`` returns
``(input, target)``: the target is the original batch, transformed only by the steps
whose corruption changes the target too (flips); everything else, elastic deformation
included, changes the input only. ``schedule.sample(shape, generator, device)`` then
``schedule.apply(x, params)`` does the same in two steps, so fixed, seeded corruptions
(validation) are one stored parameter set.

Registered schedules (:data:`SCHEDULES`, :func:`get_schedule`; add one with
:func:`register_schedule`):

- ``semantic-genesis``: elastic deformation, then exactly one of local shuffle (5
  blocks), non-linear, in-painting (1 box), out-painting (1 box), each with probability
  1/4, no flips. The paper (Sec. 2 (3)) says it adopts the Models Genesis
  transformations, which compose; the published loader instead does elastic + one of
  four. We follow the code: it produced the released weights and the reported numbers.
- ``models-genesis``: the published Models Genesis composition: flip (0.4 per draw, up
  to 3, target too), local shuffle (0.5, 10000 blocks), non-linear (0.9), painting (0.9;
  in-painting 0.2 with 0-5 boxes, else out-painting keeping 1-5 boxes).
- ``inpainting``: the context-encoder baseline (Pathak et al. 2016) extended to 3-D, for
  the "in-painting + semantics" add-on: 1-5 boxes of noise of the Semantic Genesis box
  sizes (more boxes while U(0, 1) < 0.95), every sample corrupted.
- ``context-restoration``: Chen et al. 2019 patch swapping (20 swaps of axis/8 patches),
  for the "patch-shuffling + semantics" add-on.
- ``nonlinear``, ``local-shuffle``, ``inpaint``, ``outpaint``: one Semantic Genesis
  corruption alone, for ablations (local shuffle with the Models Genesis 10000 blocks:
  5 blocks change about 0.4 % of the voxels, too little to learn from alone).

The add-on and single-corruption schedules have no elastic deformation: the add-on
experiments replace Semantic Genesis' restoration task by the baseline's own, and the
baselines did not warp. ``identity`` returns the batch unchanged as input and target:
for self-classification alone on clean patterns and for the plain auto-encoder
baseline (Table 2, "Autoencoder").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from semgen.transforms.core import CorruptionError, Params, check_batch, check_prob, uniform
from semgen.transforms.intensity import nonlinear, sample_nonlinear_params
from semgen.transforms.painting import inpaint, outpaint, sample_inpaint_params, sample_outpaint_params
from semgen.transforms.shuffle import (
    context_restoration,
    local_shuffle,
    sample_context_restoration_params,
    sample_local_shuffle_params,
)
from semgen.transforms.spatial import elastic, flip, sample_elastic_params, sample_flip_params


@dataclass(frozen=True)
class Corruption:
    """A sampler, its pure apply function, and whether the target changes with the input."""

    sample: Callable[..., Params]
    apply: Callable[..., Tensor]
    changes_target: bool = False


CORRUPTIONS: dict[str, Corruption] = {
    "elastic": Corruption(sample_elastic_params, elastic),
    "flip": Corruption(sample_flip_params, flip, changes_target=True),
    "local_shuffle": Corruption(sample_local_shuffle_params, local_shuffle),
    "nonlinear": Corruption(sample_nonlinear_params, nonlinear),
    "inpaint": Corruption(sample_inpaint_params, inpaint),
    "outpaint": Corruption(sample_outpaint_params, outpaint),
    "context_restoration": Corruption(sample_context_restoration_params, context_restoration),
}


@dataclass(frozen=True)
class Step:
    """Apply ``corruption`` to each sample with probability ``prob``; ``options`` are the
    keyword arguments of its sampler (e.g. ``{"n_blocks": 5}``)."""

    corruption: str
    prob: float = 1.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.corruption not in CORRUPTIONS:
            raise CorruptionError(f"unknown corruption {self.corruption!r}; known: {', '.join(CORRUPTIONS)}")
        check_prob(self.prob, "prob", f"step {self.corruption}")
        known = {
            name
            for name, p in inspect.signature(CORRUPTIONS[self.corruption].sample).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        unknown = sorted(set(self.options) - known)
        if unknown:
            raise CorruptionError(
                f"step {self.corruption}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )

    def sample(self, shape: Sequence[int], generator: torch.Generator, device: torch.device | str | None) -> Params:
        params = CORRUPTIONS[self.corruption].sample(shape, generator, device, **self.options)
        if self.prob < 1.0:
            params = params.restrict(uniform(generator, shape[0]) < self.prob)
        return params

    def to_dict(self) -> dict[str, Any]:
        options = {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()}
        return {"corruption": self.corruption, "prob": self.prob, "options": options}


@dataclass(frozen=True)
class OneOf:
    """With probability ``prob``, apply exactly one of ``steps`` to each sample, chosen with
    relative ``weights`` (equal when omitted)."""

    steps: tuple[Step, ...]
    weights: tuple[float, ...] = ()
    prob: float = 1.0

    def __post_init__(self) -> None:
        if not self.steps:
            raise CorruptionError("one_of needs at least one step")
        if not self.weights:
            object.__setattr__(self, "weights", tuple(1.0 for _ in self.steps))
        if len(self.weights) != len(self.steps) or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise CorruptionError(f"one_of: need one non-negative weight per step, got {self.weights}")
        check_prob(self.prob, "prob", "one_of")

    def to_dict(self) -> dict[str, Any]:
        return {"one_of": [s.to_dict() for s in self.steps], "weights": list(self.weights), "prob": self.prob}


@dataclass(frozen=True, eq=False)
class OneOfParams:
    """``choice``: (B,) long, the index of the step applied to each sample; ``params``: each
    step's parameters, active only where chosen."""

    choice: Tensor
    params: tuple[Params, ...]


ScheduleParams = tuple[Params | OneOfParams, ...]


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A named sequence of :class:`Step` and :class:`OneOf` entries (see the module docstring),
    built with keywords: ``Schedule(name=..., steps=(...), description=...)``."""

    name: str
    steps: tuple[Step | OneOf, ...]
    description: str = ""

    def sample(
        self, shape: Sequence[int], generator: torch.Generator, device: torch.device | str | None = None
    ) -> ScheduleParams:
        """Draw every step's parameters for a batch of ``shape`` (B, C, X, Y[, Z])."""
        out: list[Params | OneOfParams] = []
        for step in self.steps:
            if isinstance(step, Step):
                out.append(step.sample(shape, generator, device))
                continue
            b = int(shape[0])
            weights = torch.tensor(step.weights, dtype=torch.float64, device=generator.device)
            cumulative = (weights.cumsum(0) / weights.sum()).float()
            choice = torch.searchsorted(cumulative, uniform(generator, b), right=True).clamp_(max=len(step.steps) - 1)
            on = uniform(generator, b) < step.prob
            params = tuple(
                s.sample(shape, generator, device).restrict(on & (choice == i)) for i, s in enumerate(step.steps)
            )
            out.append(OneOfParams(choice.to(device or generator.device), params))
        return tuple(out)

    def apply(self, x: Tensor, params: ScheduleParams) -> tuple[Tensor, Tensor]:
        """``(corrupted input, restoration target)`` for the batch ``x`` (B, C, X, Y[, Z]) in [0, 1].

        The target is ``x`` itself unless a step changes the target (flips); outputs may
        share memory with ``x``, so do not modify them in place.
        """
        check_batch(x, f"schedule {self.name}")
        return self._run(x, params)

    def _run(self, x: Tensor, params: ScheduleParams) -> tuple[Tensor, Tensor]:
        if len(params) != len(self.steps):
            raise CorruptionError(f"schedule {self.name}: got {len(params)} parameter sets for {len(self.steps)} steps")
        for sp in (q for p in params for q in ((p,) if isinstance(p, Params) else p.params)):
            if tuple(sp.spatial) != tuple(x.shape[2:]) or sp.batch_size != x.shape[0]:
                raise CorruptionError(
                    f"schedule {self.name}: parameters drawn for batch {sp.batch_size} x {tuple(sp.spatial)} "
                    f"do not fit a batch shaped {tuple(x.shape)}"
                )
        inputs, target = x, x
        for step, p in zip(self.steps, params):
            if isinstance(step, Step):
                corruption = CORRUPTIONS[step.corruption]
                inputs = corruption.apply(inputs, p, validate=False)
                if corruption.changes_target:
                    target = corruption.apply(target, p, validate=False)
                continue
            chosen = [(CORRUPTIONS[s.corruption], sp.to(x.device)) for s, sp in zip(step.steps, p.params)]
            inputs = _apply_disjoint(inputs, chosen)
            target = _apply_disjoint(target, [(c, sp) for c, sp in chosen if c.changes_target])
        return inputs, target

    def __call__(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Sample fresh parameters from ``generator`` and apply them: ``(input, target)``."""
        check_batch(x, f"schedule {self.name}")
        return self._run(x, self.sample(x.shape, generator, x.device))

    def applied(self, params: ScheduleParams) -> list[str]:
        """For each sample of a batch drawn with ``params``: the corruptions that changed it,
        in order, joined by " + " (e.g. ``"elastic + inpaint"``), or ``"none"``; an empty list
        for a schedule without steps (``identity``)."""
        flat: list[tuple[str, Tensor]] = []
        for step, p in zip(self.steps, params):
            if isinstance(step, Step):
                flat.append((step.corruption, p.active))
            else:
                flat += [(s.corruption, sp.active) for s, sp in zip(step.steps, p.params)]
        if not flat:
            return []
        active = torch.stack([a.cpu() for _, a in flat], dim=1).tolist()
        return [" + ".join(name for (name, _), on in zip(flat, row) if on) or "none" for row in active]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON ready); :meth:`from_dict` rebuilds the schedule."""
        return {"name": self.name, "description": self.description, "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Rebuild a schedule from :meth:`to_dict` output (e.g. a custom schedule in a YAML config)."""

        def step(d: Mapping[str, Any]) -> Step | OneOf:
            if "one_of" in d:
                return OneOf(
                    tuple(step(s) for s in d["one_of"]), tuple(d.get("weights", ())), float(d.get("prob", 1.0))
                )
            return Step(str(d["corruption"]), float(d.get("prob", 1.0)), dict(d.get("options", {})))

        try:
            return cls(
                name=str(data["name"]),
                steps=tuple(step(s) for s in data["steps"]),
                description=str(data.get("description", "")),
            )
        except (KeyError, TypeError) as e:
            raise CorruptionError(f"not a schedule description ({e!r}): {dict(data)}") from None


def _apply_disjoint(x: Tensor, chosen: list[tuple[Corruption, Params]]) -> Tensor:
    """Apply corruptions whose active samples do not overlap, writing into one copy of ``x``."""
    out = None
    for corruption, params in chosen:
        index = params.active.nonzero().squeeze(1)
        if index.numel() == 0:
            continue
        if out is None:
            out = x.clone()
        out[index] = corruption.apply(x[index], params.select(index), validate=False)
    return x if out is None else out


SCHEDULES: dict[str, Schedule] = {}


def register_schedule(*, name: str, steps: tuple[Step | OneOf, ...], description: str) -> Schedule:
    """Build a :class:`Schedule` from keywords and add it to :data:`SCHEDULES` under ``name``
    (``CorruptionError`` if the name is taken)."""
    if name in SCHEDULES:
        raise CorruptionError(f"a schedule called {name!r} is already registered")
    SCHEDULES[name] = schedule = Schedule(name=name, steps=steps, description=description)
    return schedule


register_schedule(
    name="semantic-genesis",
    steps=(
        Step("elastic"),
        OneOf(
            (
                Step("local_shuffle", options={"n_blocks": 5}),
                Step("nonlinear"),
                Step("inpaint", options={"min_boxes": 1, "max_boxes": 1}),
                Step("outpaint", options={"min_boxes": 1, "max_boxes": 1}),
            )
        ),
    ),
    description="published Semantic Genesis loader: elastic deformation, then exactly one of local shuffle, "
    "non-linear, in-painting, out-painting (1/4 each)",
)
register_schedule(
    name="models-genesis",
    steps=(
        Step("flip", options={"prob": 0.4, "max_flips": 3}),
        Step("local_shuffle", prob=0.5, options={"n_blocks": 10000}),
        Step("nonlinear", prob=0.9),
        OneOf(
            (
                Step("inpaint", options={"min_boxes": 0, "max_boxes": 5, "continue_prob": 0.95}),
                Step("outpaint", options={"min_boxes": 1, "max_boxes": 5, "continue_prob": 0.95}),
            ),
            weights=(0.2, 0.8),
            prob=0.9,
        ),
    ),
    description="published Models Genesis composition: flip 0.4, local shuffle 0.5 (10000 blocks), "
    "non-linear 0.9, painting 0.9 (in-painting 0.2 / out-painting 0.8)",
)
register_schedule(
    name="inpainting",
    steps=(Step("inpaint", options={"min_boxes": 1, "max_boxes": 5, "continue_prob": 0.95}),),
    description="context-encoder in-painting (Pathak et al. 2016): 1-5 noise boxes",
)
register_schedule(
    name="context-restoration",
    steps=(Step("context_restoration"),),
    description="context restoration (Chen et al. 2019): 20 swaps of two non-overlapping axis/8 patches",
)
register_schedule(name="nonlinear", steps=(Step("nonlinear"),), description="Bezier intensity map alone")
register_schedule(
    name="local-shuffle",
    steps=(Step("local_shuffle", options={"n_blocks": 10000}),),
    description="local pixel shuffling alone (10000 blocks)",
)
register_schedule(name="inpaint", steps=(Step("inpaint"),), description="one in-painting box alone")
register_schedule(name="outpaint", steps=(Step("outpaint"),), description="out-painting with one kept box alone")
register_schedule(
    name="identity",
    steps=(),
    description="no corruption: input = target (self-classification alone, auto-encoder baseline)",
)


def get_schedule(name: str) -> Schedule:
    """The registered schedule ``name`` (see :data:`SCHEDULES`)."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise CorruptionError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}") from None
