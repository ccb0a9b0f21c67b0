"""`semgen bench NAME` reports as it goes: plain lines on stderr also when the output is a pipe
(no terminal, so no progress bars), and the JSON result stays the last line of stdout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

RUNS = {
    "transforms": (["--batch", "2", "--size", "32", "32", "16", "--seconds", "0.02", "--repeats", "2"],
                   [r"^bench transforms round 1/2: semantic-genesis [\d.]+ cubes/s", r"^bench transforms round 2/2: "]),
    "model": (["--width", "4", "--batch", "1", "--patch", "16x16x8", "--num-classes", "2", "--steps", "1",
               "--warmup", "0", "--threads", "1"],
              [r"^fp32 step 1/2: untimed;", r"^bench model variant 1/\d+: fp32: [\d.]+ cubes/s"]),
    "pretrain": (["--configs", "cpu", "--epochs", "1", "--batch", "2", "--train-crops", "2", "--validation-crops", "2",
                  "--steps", "1", "--classes", "3", "--threads", "1"],
                 [r"^epoch 1/1: joint; train loss", r"^bench pretrain cpu 2/5: trainer, 1 epoch\(s\): [\d.]+ cubes/s",
                  r"^bench pretrain cpu 5/5: fp32 matmul peak"]),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_bench_prints_plain_lines_into_a_pipe(name: str) -> None:
    flags, patterns = RUNS[name]
    done = subprocess.run([sys.executable, "-m", "semgen", "bench", name, *flags], capture_output=True, text=True,
                          encoding="utf-8", env={**os.environ, "SEMGEN_FAST": "0"}, timeout=600)  # fp32 on every CPU: the same lines
    assert done.returncode == 0, done.stderr
    for pattern in patterns:
        assert re.search(pattern, done.stderr, re.MULTILINE), f"{pattern!r} not in:\n{done.stderr}"
    assert "\r" not in done.stderr  # no progress bar drawn into the pipe
    assert json.loads(done.stdout.strip().splitlines()[-1])["benchmark"] == name

