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
  (``..._cpu``) in this process's CPU time, steadier on a shared machine; ``breakdown`` gives
  the trainer's wall seconds in validation, at the end of each epoch (``end_of_epoch``:
  ``checkpoints``, ``pictures`` and metrics), and in corruptions (training and validation);
  the rest is data and steps.
- **baseline** (the published ``pytorch/train.py`` + ``SemanticGenesis_Dataset``): every
  cube corrupted one at a time by the per-sample NumPy/SciPy pipeline
  (:func:`semgen.bench.transforms.baseline_semantic_genesis`), fp32, contiguous memory.
  ``speedup`` = trainer / baseline.

Configurations: ``cpu`` (the CPU preset of ``semgen pretrain``: width 8, 32x32x16 crops,
batch 8) and ``width32`` (the published model, 64x64x32 cubes, batch 2). Each reports
achieved GFLOP/s of the model and of the trainer (the step's FLOPs counted by
``torch.utils.flop_counter``) and their fraction of the matmul peak measured in the same
run in the trainer's precision.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

CONFIGS: dict[str, dict[str, Any]] = {
    "cpu": {"width": 8, "patch": (32, 32, 16), "batch": 8, "train": 384, "validation": 24, "epochs": 2},
    "width32": {"width": 32, "patch": (64, 64, 32), "batch": 2, "train": 4, "validation": 2, "epochs": 1},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configs", default="cpu,width32", help="comma-separated of: " + ", ".join(CONFIGS))
    parser.add_argument("--epochs", type=int, default=None, help="trainer epochs (default: 2 at cpu, 1 at width32)")
    parser.add_argument("--train-crops", type=int, default=None,
                        help="training crops (default: 384 at cpu, as the main job; 4 at width32)")
    parser.add_argument("--validation-crops", type=int, default=None,
                        help="validation crops (default: 24 at cpu, as the main job; 2 at width32)")
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


def _timed(fn, totals: dict[str, float], name: str):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start

    return wrapper


def _model_step(trainer, crops, labels, steps: int) -> dict[str, float]:
    """The trainer's step alone on one fixed corrupted batch: cubes/s, seconds, FLOPs per step."""
    import torch

    from semgen.bench.hardware import Clock, count_flops

    device = trainer.device
    crops, labels = crops.to(device), labels.to(device)
    with torch.no_grad():
        inputs, targets = trainer.objective.corrupt(crops, trainer.generator)
    batch = {"input": inputs, "target": targets, "label": labels}
    trainer.net.train()

    def step() -> None:
        with trainer.autocast():
            out = trainer.objective(trainer.train_net, batch, warmup=False)
        trainer.optimize(out["loss"])

    flops = count_flops(step)
    step()
    clock = Clock(device)
    for _ in range(steps):
        step()
    seconds, cpu = clock.elapsed()
    return {"per_s": len(crops) * steps / seconds, "cpu_per_s": len(crops) * steps / cpu, "seconds": seconds, "flops_per_step": flops}


def _trainer(cfg, data, run_dir: Path, info) -> dict[str, Any]:
    """The real trainer for ``cfg.epochs`` epochs: cubes/s over the whole run and where its time went."""
    from semgen.bench.hardware import Clock
    from semgen.training import Trainer

    trainer = Trainer(cfg, data, run_dir, info)
    totals: dict[str, float] = defaultdict(float)
    trainer._validate = _timed(trainer._validate, totals, "validation")
    trainer._end_epoch = _timed(trainer._end_epoch, totals, "end_of_epoch")
    trainer.objective.corrupt = _timed(trainer.objective.corrupt, totals, "corruptions")
    import semgen.training.trainer as trainer_module
    import semgen.viz.training as pictures

    patched = {(pictures, "plot_curves"): "pictures", (pictures, "plot_triplets"): "pictures",
               (trainer_module, "save_state"): "checkpoints"}
    trainer._save_model = _timed(trainer._save_model, totals, "checkpoints")
    originals = {key: getattr(*key) for key in patched}
    for (module, name), part in patched.items():
        setattr(module, name, _timed(originals[(module, name)], totals, part))
    try:
        clock = Clock(trainer.device)
        result = trainer.run()
        seconds, cpu = clock.elapsed()
    finally:
        for (module, name), original in originals.items():
            setattr(module, name, original)
    cubes = trainer.step * cfg.batch_size
    return {"per_s": cubes / seconds, "cpu_per_s": cubes / cpu, "seconds": seconds, "steps": trainer.step,
            "breakdown": dict(totals), "last_loss": result.last["loss"] if result.last else None}


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
    model = _model_step(Trainer(cfg, data, work / "model-only", info), crops[:batch], labels[:batch], steps)
    trainer = _trainer(cfg, data, work / name, info)
    base = pretraining_model(cfg, data, with_head=True)
    baseline = _baseline(base, crops[:n_train], labels[:n_train], batch, steps, device, args.seed)
    precision = _precision_name(cfg.precision, device, spec["patch"])
    peak = peaks.setdefault(precision, matmul_peak(device, precision))
    flops = model["flops_per_step"]
    result = {
        "width": spec["width"], "patch": list(spec["patch"]), "batch": batch, "precision": precision,
        "train_crops": n_train, "validation_crops": n_val, "epochs": cfg.epochs,
        "gflop_per_step": round(flops / 1e9, 3),
        "model_per_s": round(model["per_s"], 3),
        "model": efficiency(flops, steps, model["seconds"], peak),
        "trainer_per_s": round(trainer["per_s"], 3),
        "trainer": efficiency(flops, trainer["steps"], trainer["seconds"], peak),
        "trainer_over_model": round(trainer["per_s"] / model["per_s"], 3),
        "model_cpu_per_s": round(model["cpu_per_s"], 3),
        "trainer_cpu_per_s": round(trainer["cpu_per_s"], 3),
        "trainer_over_model_cpu": round(trainer["cpu_per_s"] / model["cpu_per_s"], 3),
        "trainer_seconds": round(trainer["seconds"], 2),
        "breakdown": {k: round(v, 4) for k, v in trainer["breakdown"].items()},  # 2 decimals turned a few ms into 0
        "baseline_per_s": round(baseline["per_s"], 3),
        "baseline_cpu_per_s": round(baseline["cpu_per_s"], 3),
        "speedup": round(trainer["per_s"] / baseline["per_s"], 2),
    }
    return result


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
        b = r["breakdown"]
        print(
            f"{name}: width {r['width']}, {'x'.join(map(str, r['patch']))} cubes, batch {r['batch']}, {r['precision']}: "
            f"trainer {r['trainer_per_s']} cubes/s = {r['trainer_over_model']:.0%} of the model step alone "
            f"({r['trainer_over_model_cpu']:.0%} in CPU time) "
            f"({r['model_per_s']} cubes/s, {r['model']['gflops']} GFLOP/s = {r['model']['peak_fraction']:.0%} of the matmul peak); "
            f"of {r['trainer_seconds']} s: validation {b.get('validation', 0)} s, checkpoints/metrics/pictures "
            f"{b.get('end_of_epoch', 0)} s (checkpoints {b.get('checkpoints', 0)} s, pictures {b.get('pictures', 0)} s), "
            f"corruptions {b.get('corruptions', 0)} s; "
            f"published-style loop {r['baseline_per_s']} cubes/s ({r['speedup']}x)."
        )
    return out
