"""Self-restoration corruptions (Semantic Genesis Sec. 2 (3), Appendix B): pure tensor
functions, parameter samplers that take an explicit ``torch.Generator``, and schedules.

Every corruption works on batches (B, C, X, Y) or (B, C, X, Y, Z) of intensities in
[0, 1], on CPU or CUDA, with independent parameters per sample::

    g = torch.Generator().manual_seed(0)
    params = sample_nonlinear_params(x.shape, g)
    y = nonlinear(x, params)                      # same params, same output

    schedule = get_schedule("semantic-genesis")
    inputs, target = schedule(x, g)               # what the training loop calls

Corruptions: :func:`elastic`, :func:`flip`, :func:`local_shuffle`, :func:`nonlinear`,
:func:`inpaint`, :func:`outpaint`, :func:`context_restoration`; schedules in
:data:`SCHEDULES` (see :mod:`semgen.transforms.schedules`). Bad input raises
:class:`CorruptionError` (a ``ValueError``).
"""

from semgen.transforms.core import CorruptionError, Params, check_batch
from semgen.transforms.intensity import NonlinearParams, nonlinear, sample_nonlinear_params
from semgen.transforms.painting import PaintParams, inpaint, outpaint, sample_inpaint_params, sample_outpaint_params
from semgen.transforms.schedules import (
    CORRUPTIONS,
    SCHEDULES,
    Corruption,
    OneOf,
    OneOfParams,
    Schedule,
    ScheduleParams,
    Step,
    get_schedule,
    register_schedule,
)
from semgen.transforms.shuffle import (
    ContextRestorationParams,
    LocalShuffleParams,
    context_restoration,
    local_shuffle,
    sample_context_restoration_params,
    sample_local_shuffle_params,
)
from semgen.transforms.spatial import (
    ElasticParams,
    FlipParams,
    displacement_field,
    elastic,
    flip,
    sample_elastic_params,
    sample_flip_params,
)

__all__ = [
    "CORRUPTIONS",
    "SCHEDULES",
    "ContextRestorationParams",
    "Corruption",
    "CorruptionError",
    "ElasticParams",
    "FlipParams",
    "LocalShuffleParams",
    "NonlinearParams",
    "OneOf",
    "OneOfParams",
    "PaintParams",
    "Params",
    "Schedule",
    "ScheduleParams",
    "Step",
    "check_batch",
    "context_restoration",
    "displacement_field",
    "elastic",
    "flip",
    "get_schedule",
    "register_schedule",
    "inpaint",
    "local_shuffle",
    "nonlinear",
    "outpaint",
    "sample_context_restoration_params",
    "sample_elastic_params",
    "sample_flip_params",
    "sample_inpaint_params",
    "sample_local_shuffle_params",
    "sample_nonlinear_params",
    "sample_outpaint_params",
]
