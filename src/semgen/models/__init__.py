"""Models and checkpoints: the Semantic Genesis U-Net (2D/3D, published-compatible at 3D width
32), its pattern-classification head, an encoder classifier for fine-tuning, self-describing
checkpoints, a loading policy for published weights, and the fast (bf16 + channels-last)
training path.

- :class:`UNet`, :class:`EncoderClassifier`, :func:`build_model`, :func:`parameter_counts`
- registries by name: :data:`MODELS` (architectures), :data:`ENCODERS` (:class:`EncoderSpec`,
  :func:`register_encoder`, :func:`get_encoder`)
- framework backbones (MONAI, nnU-Net) by name: :data:`BACKBONES` (:class:`BackboneSpec`,
  :func:`register_backbone`), the models :class:`Backbone` and :class:`BackboneClassifier`,
  :func:`backbone_architecture`
- :func:`save_checkpoint`, :func:`load_checkpoint`, :func:`load_pretrained`, :class:`LoadReport`,
  :class:`CheckpointError`, :func:`describe_checkpoint`
- :func:`fast_training_context`, :func:`prepare_model_for_speed`, :func:`fast_path_supported`
"""

from semgen.models.backbones import (
    BACKBONES,
    Backbone,
    BackboneClassifier,
    BackboneSpec,
    MissingExtraError,
    backbone_architecture,
    backbone_names,
    get_backbone,
    parse_backbone_args,
    register_backbone,
)
from semgen.models.checkpoint import (
    CheckpointError,
    LoadReport,
    describe_checkpoint,
    load_checkpoint,
    load_pretrained,
    read_state_dict,
    save_checkpoint,
    save_weights,
)
from semgen.models.layers import PublishedBatchNorm
from semgen.models.speed import fast_path_supported, fast_training_context, prepare_model_for_speed
from semgen.models.unet import (
    ENCODERS,
    MODELS,
    EncoderClassifier,
    EncoderSpec,
    UNet,
    build_model,
    get_encoder,
    parameter_counts,
    register_encoder,
)

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneClassifier",
    "BackboneSpec",
    "MissingExtraError",
    "backbone_architecture",
    "backbone_names",
    "get_backbone",
    "parse_backbone_args",
    "register_backbone",
    "ENCODERS",
    "MODELS",
    "CheckpointError",
    "EncoderClassifier",
    "EncoderSpec",
    "LoadReport",
    "PublishedBatchNorm",
    "UNet",
    "build_model",
    "describe_checkpoint",
    "fast_path_supported",
    "fast_training_context",
    "get_encoder",
    "load_checkpoint",
    "load_pretrained",
    "parameter_counts",
    "prepare_model_for_speed",
    "read_state_dict",
    "register_encoder",
    "save_checkpoint",
    "save_weights",
]
