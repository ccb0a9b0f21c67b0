"""``semgen bench pretrain``: what the pre-training loop costs beyond the model, and how it
compares with a loop of the published kind.

Per configuration, in one process, on the same initial weights and objective (Semantic
Genesis: restoration MSE + 0.01 x pattern cross-entropy, Adam):

- **model**: the model-only step of the trainer (its model, precision, autocast and
  optimiser, built by :class:`semgen.training.Trainer`) on one fixed, already corrupted
  batch: forward, losses, backward, Adam step; nothing else.
- **trainer**: the real :class:`semgen.training.Trainer` for ``--epochs`` epochs on
  in-memory crops (``train`` and ``validation`` crops in the main job's proportions):
  data loading, corruption of every batch on the device, the step, validation under fixed
  corruptions, metrics, checkpoints (``last.pt``, best weights) and pictures (curves,
  triplets), all timed as one span. ``trainer_over_model`` = trainer cubes/s / model
  cubes/s (1 = the loop costs nothing beyond the model), in wall time and
  (``..._cpu``) in this process's CPU time, steadier on a shared machine. ``breakdown``
  (wall seconds) and ``breakdown_cpu`` (CPU seconds) split the trainer's span: ``data``
  (waiting for training batches), ``corruptions`` (of the training batches), ``validation``
  (all of it, its corruptions and pictures' crops included), ``end_of_epoch``
  (``checkpoints``, ``pictures``, metrics and logs); the rest is the steps themselves. The
  model-only step is timed in chunks, before the trainer and after each of its epochs
  (outside the trainer's span), so that a change of load on a shared machine falls on both
  sides of the ratio.
- **baseline** (the published ``pytorch/train.py`` + ``SemanticGenesis_Dataset``): every
  cube corrupted one at a time by the per-sample NumPy/SciPy pipeline
  (:func:`semgen.bench.transforms.baseline_semantic_genesis`), fp32, contiguous memory.
  ``speedup`` = trainer / baseline.

Configurations: ``cpu`` (the CPU preset of ``semgen pretrain``: width 8, 32x32x16 crops,
batch 8; the default) and ``width32`` (the published model, 64x64x32 cubes, batch 2; on a
2-core CPU it alone takes several minutes, so it runs only when named). Each reports
achieved GFLOP/s of the model and of the trainer (the step's FLOPs counted by
``torch.utils.flop_counter``) and their fraction of the matmul peak measured in the same
run in the trainer's precision.
"""

from __future__ import annotations

import argparse
import copy
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from semgen.utils.progress import Pace

log = logging.getLogger(__name__)

CONFIGS: dict[str, dict[str, Any]] = {
    # cpu: the main job's crops, and 4 joint epochs, about its pre-training time (its 6 warm-up
    # epochs of classification alone cost about 1.5 joint ones), so that once-a-run costs (the
    # last epoch's pictures) weigh in the ratio as they do there
    "cpu": {"width": 8, "patch": (32, 32, 16), "batch": 8, "train": 384, "validation": 48, "epochs": 4},
    "width32": {"width": 32, "patch": (64, 64, 32), "batch": 2, "train": 4, "validation": 2, "epochs": 1},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configs", default="cpu", help="comma-separated of: " + ", ".join(CONFIGS) + " (default cpu; "
                        "width32, the published size, adds about 4 min of CPU time on our 2-core AMD EPYC: meant for a GPU)")
    parser.add_argument("--epochs", type=int, default=None, help="trainer epochs (default: 4 at cpu, about the main job's pre-training; 1 at width32)")
    parser.add_argument("--train-crops", type=int, default=None,
                        help="training crops (default: 384 at cpu, as the main job; 4 at width32)")
    parser.add_argument("--validation-crops", type=int, default=None,
                        help="validation crops (default: 48 at cpu, as the main job; 2 at width32)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps of the model-only and baseline loops (default: an epoch's, at most 16)")
    parser.add_argument("--batch", type=int, default=None, help="cubes per step (default: 8 at cpu, 2 at width32)")
    parser.add_argument("--classes", type=int, default=8, help="pattern classes of the head (default 8, the CPU chain's)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                        help="the trainer's --precision (default auto, as semgen pretrain)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, crops and corruptions")


class _Crops:
    """In-memory (crop (1, *patch), label) pairs: a map-style dataset."""

    def __init__(self, crops, labels):
        self.crops, self.labels = crops, labels

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index: int):
        return self.crops[index], int(self.labels[index])


class _Parts:
    """Wall and CPU seconds spent in named parts of the trainer (a part inside another, e.g.
    ``checkpoints`` inside ``end_of_epoch``, counts in both)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def timed(self, fn, name: str):
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall[name] += time.perf_counter() - wall
                self.cpu[name] += time.process_time() - cpu

        return wrapper

    def loader(self, make_loader):
        """``make_loader`` whose training loaders count the time spent waiting for each batch as ``data``."""
        parts = self

        class Timed:
            def __init__(self, loader):
                self.loader = loader

            def __len__(self) -> int:
                return len(self.loader)

            def __iter__(self):
                batches = iter(self.loader)
                fetch = parts.timed(lambda: next(batches, None), "data")
                while (batch := fetch()) is not None:
                    yield batch

        def timed_make_loader(*args, **kwargs):  # the training loader only: validation has its own part
            loader = make_loader(*args, **kwargs)
            return Timed(loader) if kwargs.get("shuffle") else loader

        return timed_make_loader


class _ModelStep:
    """The trainer's step alone on one fixed corrupted batch (FLOPs counted on a first, untimed
    step); :meth:`time` runs ``steps`` more and adds their wall and CPU seconds. Timed in
    chunks, before the trainer and after each of its epochs, so a change of machine load
    during the run falls on both sides of the ratio."""

    def __init__(self, trainer, crops, labels):
        import torch

        from semgen.bench.hardware import count_flops

        self.trainer = trainer
        self.cubes = len(crops)
        crops, labels = crops.to(trainer.device), labels.to(trainer.device)
        with torch.no_grad():
            inputs, targets = trainer.objective.corrupt(crops, trainer.generator)
        self.batch = {"input": inputs, "target": targets, "label": labels}
        trainer.net.train()
        self.flops = count_flops(self._step)
        self._step()
        self.steps, self.seconds, self.cpu = 0, 0.0, 0.0

    def _step(self) -> None:
        trainer = self.trainer
        with trainer.autocast():
            out = trainer.objective(trainer.train_net, self.batch, warmup=False)
        trainer.optimize(out["loss"])

    def time(self, steps: int) -> None:
        from semgen.bench.hardware import Clock

        clock = Clock(self.trainer.device)
        for _ in range(steps):
            self._step()
        seconds, cpu = clock.elapsed()
        self.steps, self.seconds, self.cpu = self.steps + steps, self.seconds + seconds, self.cpu + cpu

    def result(self) -> dict[str, float]:
        """cubes/s (wall and CPU), seconds and FLOPs per step over every timed step."""
        cubes = self.cubes * self.steps
        return {"per_s": cubes / self.seconds, "cpu_per_s": cubes / self.cpu, "seconds": self.seconds,
                "steps": self.steps, "flops_per_step": self.flops}


def _trainer(cfg, data, run_dir: Path, info, between) -> dict[str, Any]:
    """The real trainer for ``cfg.epochs`` epochs: cubes/s over the whole run and where its time
    went. ``between()`` runs after each epoch, outside the trainer's span (the model-only
    step's timing, interleaved with the trainer's epochs)."""
    from semgen.bench.hardware import Clock
    from semgen.training import Trainer

    trainer = Trainer(cfg, data, run_dir, info)
    parts = _Parts()
    trainer._validate = parts.timed(trainer._validate, "validation")
    end_epoch = parts.timed(trainer._end_epoch, "end_of_epoch")
    outside = _Parts()
    between = outside.timed(between, "outside")

    def end_epoch_then_between(*args, **kwargs) -> None:
        end_epoch(*args, **kwargs)
        between()

    trainer._end_epoch = end_epoch_then_between
    trainer._save_model = parts.timed(trainer._save_model, "checkpoints")
    trainer.objective.corrupt = parts.timed(trainer.objective.corrupt, "corruptions")
    import semgen.training.trainer as trainer_module
    import semgen.viz.training as pictures

    patched = {(pictures, "plot_curves"): "pictures", (pictures, "plot_triplets"): "pictures",
               (trainer_module, "save_state"): "checkpoints"}
    originals = {key: getattr(*key) for key in [*patched, (trainer_module, "make_loader")]}
    for (module, name), part in patched.items():
        setattr(module, name, parts.timed(originals[(module, name)], part))
    trainer_module.make_loader = parts.loader(originals[(trainer_module, "make_loader")])
    try:
        clock = Clock(trainer.device)
        result = trainer.run()
        seconds, cpu = clock.elapsed()
        seconds, cpu = seconds - outside.wall["outside"], cpu - outside.cpu["outside"]
    finally:
        for (module, name), original in originals.items():
            setattr(module, name, original)
    cubes = trainer.step * cfg.batch_size
    return {"per_s": cubes / seconds, "cpu_per_s": cubes / cpu, "seconds": seconds, "cpu_seconds": cpu,
            "steps": trainer.step, "breakdown": dict(parts.wall), "breakdown_cpu": dict(parts.cpu),
            "last_loss": result.last["loss"] if result.last else None}


def _baseline(base, crops, labels, batch: int, steps: int, device, seed: int) -> dict[str, float]:
    """The published kind of loop: per-sample NumPy/SciPy corruption, fp32, contiguous; cubes/s."""
    import numpy as np
    import torch

    from semgen.bench.hardware import Clock
    from semgen.bench.transforms import baseline_semantic_genesis
    from semgen.tasks import BranchNet, Objective, get_method
    from semgen.utils.seeding import numpy_rng

    objective = Objective(get_method("semantic-genesis"))
    net = BranchNet(copy.deepcopy(base).to(device)).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = numpy_rng(seed, "bench-pretrain", "baseline")
    cubes = crops[:, 0].double().numpy()

    def step() -> None:
        index = rng.permutation(len(cubes))[:batch]
        pairs = [baseline_semantic_genesis(cubes[i], rng) for i in index]
        inputs = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None]).float().to(device)
        targets = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None]).float().to(device)
        out = objective(net, {"input": inputs, "target": targets, "label": labels[torch.from_numpy(index)].to(device)})
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()

    step()
    clock = Clock(device)
    for _ in range(steps):
        step()
    seconds, cpu = clock.elapsed()
    return {"per_s": batch * steps / seconds, "cpu_per_s": batch * steps / cpu}


def _precision_name(precision: str, device, patch: tuple[int, ...]) -> str:
    """The dtype the trainer computes in for ``--precision precision``."""
    from semgen.models import fast_path_supported

    if precision == "auto":
        return "bf16" if fast_path_supported(device, patch) else "fp32"
    return precision


def _config(name: str, args: argparse.Namespace, device, peaks: dict[str, float], work: Path) -> dict[str, Any]:
    import torch

    from semgen.bench.hardware import efficiency, matmul_peak
    from semgen.training import PretrainConfig, Trainer, TrainingData, resolve_config
    from semgen.training.distributed import DistInfo
    from semgen.training.trainer import pretraining_model
    from semgen.utils.seeding import torch_generator

    spec = CONFIGS[name]
    batch = args.batch or spec["batch"]
    n_train = args.train_crops or spec["train"]
    n_val = args.validation_crops if args.validation_crops is not None else spec["validation"]
    if n_train < batch:
        raise ValueError(f"--train-crops ({n_train}) must be at least --batch ({batch})")
    g = torch_generator(args.seed, "bench-pretrain", name, "crops")
    crops = torch.rand((n_train + n_val, 1, *spec["patch"]), generator=g)
    labels = torch.randint(0, args.classes, (n_train + n_val,), generator=g)
    data = TrainingData(
        train=_Crops(crops[:n_train], labels[:n_train]),
        validation=_Crops(crops[n_train:], labels[n_train:]) if n_val else None,
        spatial_dims=3, patch=spec["patch"], num_classes=args.classes,
    )
    cfg = resolve_config(
        PretrainConfig(out=str(work / name), preset="cpu", width=spec["width"], batch_size=batch,
                       epochs=args.epochs or spec["epochs"], warmup_epochs=0, precision=args.precision,
                       device=str(device), seed=args.seed, overwrite=True),
        cuda=device.type == "cuda",
    )
    info = DistInfo(device=device)
    steps = args.steps or min(16, n_train // batch)
    pace = Pace(log, f"bench pretrain {name}", 5)
    model_step = _ModelStep(Trainer(cfg, data, work / "model-only", info), crops[:batch], labels[:batch])
    # the model-only steps in epochs + 1 chunks: before the trainer and after each of its epochs
    chunks = [steps // (cfg.epochs + 1) + (i < steps % (cfg.epochs + 1)) for i in range(cfg.epochs + 1)]
    model_step.time(chunks.pop(0))
    pace.step(1, f"model-only step: {model_step.cubes * model_step.steps / model_step.seconds:.3g} cubes/s")
    trainer = _trainer(cfg, data, work / name, info, lambda: model_step.time(chunks.pop(0) if chunks else 0))
    pace.step(2, f"trainer, {cfg.epochs} epoch(s): {trainer['per_s']:.3g} cubes/s")
    model_step.time(sum(chunks))  # what an early stop left
    model = model_step.result()
    pace.step(3, f"model-only step, all {model['steps']} timed: {model['per_s']:.3g} cubes/s")
    base = pretraining_model(cfg, data, with_head=True)
    baseline = _baseline(base, crops[:n_train], labels[:n_train], batch, steps, device, args.seed)
    pace.step(4, f"published-style loop: {baseline['per_s']:.3g} cubes/s")
    precision = _precision_name(cfg.precision, device, spec["patch"])
    peak = peaks.setdefault(precision, matmul_peak(device, precision))
    pace.step(5, f"{precision} matmul peak: {peak:.0f} GFLOP/s")
    flops = model["flops_per_step"]
    result = {
        "width": spec["width"], "patch": list(spec["patch"]), "batch": batch, "precision": precision,
        "train_crops": n_train, "validation_crops": n_val, "epochs": cfg.epochs,
        "gflop_per_step": round(flops / 1e9, 3),
        "model_per_s": round(model["per_s"], 3),
        "model": efficiency(flops, model["steps"], model["seconds"], peak),
        "trainer_per_s": round(trainer["per_s"], 3),
        "trainer": efficiency(flops, trainer["steps"], trainer["seconds"], peak),
        "trainer_over_model": round(trainer["per_s"] / model["per_s"], 3),
        "model_cpu_per_s": round(model["cpu_per_s"], 3),
        "trainer_cpu_per_s": round(trainer["cpu_per_s"], 3),
        "trainer_over_model_cpu": round(trainer["cpu_per_s"] / model["cpu_per_s"], 3),
        "trainer_seconds": round(trainer["seconds"], 2),
        "trainer_cpu_seconds": round(trainer["cpu_seconds"], 2),
        "breakdown": {k: round(v, 4) for k, v in trainer["breakdown"].items()},  # 2 decimals turned a few ms into 0
        "breakdown_cpu": {k: round(v, 4) for k, v in trainer["breakdown_cpu"].items()},
        "baseline_per_s": round(baseline["per_s"], 3),
        "baseline_cpu_per_s": round(baseline["cpu_per_s"], 3),
        "speedup": round(trainer["per_s"] / baseline["per_s"], 2),
    }
    return result


def _shares(r: dict[str, Any]) -> str:
    """The trainer's parts as shares of its span, wall (CPU); ``steps`` is what remains: the
    training steps themselves and the loop's bookkeeping."""
    shares = []
    for key, total in (("breakdown", r["trainer_seconds"]), ("breakdown_cpu", r["trainer_cpu_seconds"])):
        b = r[key]
        metrics = b.get("end_of_epoch", 0) - b.get("checkpoints", 0) - b.get("pictures", 0)
        steps = total - sum(b.get(n, 0) for n in ("data", "corruptions", "validation", "end_of_epoch"))
        parts = {n: b.get(n, 0) for n in ("data", "corruptions", "validation", "checkpoints", "pictures")}
        shares.append({**parts, "metrics and logs": metrics, "steps": steps, "total": total})
    wall, cpu = shares
    return ", ".join(f"{n} {wall[n] / wall['total']:.1%} ({cpu[n] / cpu['total']:.1%})" for n in wall if n != "total")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    import torch

    from semgen.bench.hardware import describe_device, skip_reason

    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        raise ValueError(f"--configs: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(CONFIGS)}")
    for flag in ("epochs", "train_crops", "steps", "batch"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.classes < 2 or (args.validation_crops is not None and args.validation_crops < 0):
        raise ValueError("--classes must be at least 2 and --validation-crops non-negative")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if args.precision != "auto" and (reason := skip_reason(device, args.precision)):
        raise ValueError(f"--precision {args.precision}: not timed here, {reason}")
    if args.threads:
        torch.set_num_threads(args.threads)
    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="semgen-bench-pretrain-") as tmp:
        results = {name: _config(name, args, device, peaks, Path(tmp)) for name in names}
    head = results[names[0]]
    out: dict[str, Any] = {
        "benchmark": "pretrain",
        "unit": "cubes/s",
        "config": names[0],
        "trainer_per_s": head["trainer_per_s"],
        "model_per_s": head["model_per_s"],
        "trainer_over_model": head["trainer_over_model"],
        "trainer_over_model_cpu": head["trainer_over_model_cpu"],
        "baseline_per_s": head["baseline_per_s"],
        "speedup": head["speedup"],
        "configs": results,
        "peak_gflops": {p: round(v, 1) for p, v in peaks.items()},
        "method": "semantic-genesis",
        "num_classes": args.classes,
        "device": describe_device(device),
    }
    for name, r in results.items():
        print(
            f"{name}: width {r['width']}, {'x'.join(map(str, r['patch']))} cubes, batch {r['batch']}, {r['precision']}: "
            f"trainer {r['trainer_per_s']} cubes/s = {r['trainer_over_model']:.0%} of the model step alone "
            f"({r['trainer_over_model_cpu']:.0%} in CPU time) "
            f"({r['model_per_s']} cubes/s, {r['model']['gflops']} GFLOP/s = {r['model']['peak_fraction']:.0%} of the matmul peak); "
            f"of the trainer's {r['trainer_seconds']} s ({r['trainer_cpu_seconds']} s CPU): {_shares(r)}; "
            f"published-style loop {r['baseline_per_s']} cubes/s ({r['speedup']}x)."
        )
    return out
