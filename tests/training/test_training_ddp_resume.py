"""Two CPU processes (gloo, as under ``torchrun``): a run stopped mid-epoch and resumed equals
the uninterrupted run bit for bit, because every rank's random streams are saved and restored."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2


class Killed(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, root: str) -> None:
    from semgen.training import Trainer
    from semgen.training.distributed import DistInfo
    from semgen.training.pipeline import claim_run
    from tests.training.test_training_loop import _cfg, _data

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    info = DistInfo(rank=rank, world_size=WORLD)
    try:

        def train(cfg, on_step=None):
            with claim_run(cfg, info) as state:
                Trainer(cfg, _data(), cfg.out, info, state=state, on_step=on_step).run()

        # 24 crops, 2 ranks, batch 4: 3 steps per rank per epoch; warm-up 1 epoch, then joint training
        full = _cfg(Path(root) / "a", epochs=2, batch_size=4, deterministic=True)
        train(full)

        def kill(epoch, step):
            if epoch == 1 and step == 5:  # mid-way through the second epoch, on both ranks
                raise Killed

        part = _cfg(Path(root) / "b", epochs=2, batch_size=4, deterministic=True)
        try:
            train(part, on_step=kill)
        except Killed:
            pass
        else:
            raise AssertionError("the run was not stopped")
        dist.barrier()
        train(dataclasses.replace(part, resume=True))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_run_stopped_and_resumed_equals_the_uninterrupted_one(tmp_path):
    from semgen.training import read_metrics
    from semgen.training.checkpoint import load_state

    mp.spawn(_rank, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    a, b = load_state(tmp_path / "a" / "run" / "last.pt"), load_state(tmp_path / "b" / "run" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    differ = [k for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    assert not differ, f"{len(differ)} of {len(a['model'])} tensors differ, e.g. {differ[0]}"
    assert len(b["ranks"]) == WORLD and not torch.equal(b["ranks"][0]["generator"], b["ranks"][1]["generator"])
    for ra, rb in zip(a["ranks"], b["ranks"]):
        assert all(torch.equal(ra[k], rb[k]) for k in ra)
    opt_a, opt_b = a["optimizer"]["state"], b["optimizer"]["state"]
    for i in opt_a:
        for k in opt_a[i]:
            assert torch.equal(opt_a[i][k], opt_b[i][k]), (i, k)
    rows_a = read_metrics(tmp_path / "a" / "run" / "metrics.csv")
    rows_b = read_metrics(tmp_path / "b" / "run" / "metrics.csv")
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert {k: v for k, v in ra.items() if "seconds" not in k and k != "cubes_per_s"} == {
            k: v for k, v in rb.items() if "seconds" not in k and k != "cubes_per_s"
        }
