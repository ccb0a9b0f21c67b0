"""semgen: Semantic Genesis (Haghighi et al., MICCAI 2020) for PyTorch.

Self-discovery, self-classification and self-restoration of anatomical patterns
for pre-training 2D and 3D U-Nets on unlabeled medical images, plus fine-tuning
and the paper's evaluation protocol. Heavy submodules are imported on use, so
``import semgen`` is instant.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
