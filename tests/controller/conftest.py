"""Fixtures for the controller tests: tiny configs and a tiny synthetic episode store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.vla.controller.configuration import ControllerConfig, EncoderConfig

IMG = 32  # stored image side, pixels


def tiny_config(**overrides) -> ControllerConfig:
    enc = {"kind": "conv", "feature_dim": 32, "patch_size": 8, "depth": 3}
    base = {
        "image_size": 32,
        "head_encoder": EncoderConfig(**enc),
        "wrist_encoder": EncoderConfig(**enc),
        "mask_vit_dim": 32,
        "mask_vit_depth": 1,
        "mask_vit_heads": 2,
        "hidden_dim": 32,
        "dit_layers": 2,
        "dit_heads": 2,
        "horizon": 16,
        "n_action_steps": 4,
        "num_inference_steps": 8,
    }
    base.update(overrides)
    return ControllerConfig(**base)


def synthetic_episode(rng: np.random.Generator, length: int) -> dict[str, np.ndarray]:
    """Smooth joint trajectories; the target's position in the mask sets the motion."""
    goal = rng.uniform(-1, 1, 13).astype(np.float32)
    s = np.linspace(0, 1, length, dtype=np.float32)[:, None]
    action = (goal * s).astype(np.float32)
    state = np.concatenate([action[:1], action[:-1]]).astype(np.float32)
    head = rng.integers(0, 255, (length, IMG, IMG, 3), dtype=np.uint8)
    wrist = rng.integers(0, 255, (length, IMG, IMG, 3), dtype=np.uint8)
    mask = np.zeros((length, IMG, IMG), np.uint8)
    mask[:, 8:16, 8:16] = 1
    return {OBS_HEAD: head, OBS_WRIST: wrist, OBS_MASK: mask, OBS_STATE: state, ACTION: action}


@pytest.fixture
def episodes() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [synthetic_episode(rng, n) for n in (20, 14, 18)]


@pytest.fixture
def tiny_store(tmp_path, episodes):
    from dexgrasp.data.episodes import EpisodeWriter

    path = tmp_path / "demos.zarr"
    with EpisodeWriter(path) as w:
        for i, ep in enumerate(episodes):
            w.add_episode(ep, {"scene_seed": i, "split": "train", "target": "cube"})
    return path


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    torch.manual_seed(0)
