"""Synthetic episodes for the data tests (tiny images, fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST


def make_episode(seed: int, length: int = 6, size: int = 16) -> dict[str, np.ndarray]:
    """A deterministic episode with all five keys: (T, size, size, 3) images, 13-D state."""
    rng = np.random.default_rng(seed)
    return {
        OBS_HEAD: rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8),
        OBS_WRIST: rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8),
        OBS_MASK: rng.integers(0, 2, (length, size, size), dtype=np.uint8),
        OBS_STATE: rng.normal(size=(length, 13)).astype(np.float32),
        ACTION: rng.normal(size=(length, 13)).astype(np.float32),
    }


@pytest.fixture
def episodes() -> list[dict[str, np.ndarray]]:
    return [make_episode(seed, length=4 + seed) for seed in range(3)]


@pytest.fixture
def episode_factory():
    """`make_episode(seed, length=6, size=16)`."""
    return make_episode
