"""Self-discovery of anatomical patterns (Semantic Genesis, paper Sec. 2, Fig. 1a).

An auto-encoder embeds every scan; for each of C classes a reference scan, its K
nearest training scans (L2 in feature space) and nearest validation scans are cut at
one accepted coordinate, placed relative to each scan's body, at several resolutions.
The result is a folder ``PATTERNS/`` with a manifest of crop boxes (the voxels stay
in the memory-mapped cohort) and an atlas to look at.

- :func:`discover` (`semgen discover`) writes ``PATTERNS/``;
- :class:`PatternSet` reads it; :class:`PatternDataset` serves (crop, class) pairs to
  pre-training.
"""

from semgen.discovery.acceptance import AcceptanceRule
from semgen.discovery.autoencoder import AutoEncoder
from semgen.discovery.config import DiscoveryConfig
from semgen.discovery.dataset import PatternDataset, PatternSet
from semgen.discovery.pipeline import discover
from semgen.discovery.planning import DiscoveryError

__all__ = [
    "AcceptanceRule",
    "AutoEncoder",
    "DiscoveryConfig",
    "DiscoveryError",
    "PatternDataset",
    "PatternSet",
    "discover",
]
