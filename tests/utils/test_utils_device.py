"""Device resolution: auto, explicit names, the local rank, and a clear error for a missing GPU."""

from __future__ import annotations

import pytest
import torch

from semgen.utils.device import resolve_device


def test_auto_and_explicit_names():
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_names_the_flag():
    with pytest.raises(ValueError, match="--device 'cuda:1' requested but CUDA is not available"):
        resolve_device("cuda:1")


def test_a_bad_name_names_the_flag():
    with pytest.raises(ValueError, match="--device 'gpu0': not a device name"):
        resolve_device("gpu0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_takes_the_local_rank():
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=0) == torch.device("cuda", 0)
