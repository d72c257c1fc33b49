"""On-disk data: the episode store (zarr) and normalisation statistics.

    from dexgrasp.data import EpisodeStore, EpisodeWriter, NormalizationStats, StoreError

Importing this package does not import zarr; opening a store does.
"""

from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter, StoreError
from dexgrasp.data.normalize import NormalizationError, NormalizationStats

__all__ = [
    "EpisodeStore",
    "EpisodeWriter",
    "NormalizationError",
    "NormalizationStats",
    "StoreError",
]
