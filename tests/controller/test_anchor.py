"""Target-anchored palm actions (action_anchor="mask"): calibration, statistics, the policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_MASK
from dexgrasp.vla.controller.configuration import ConfigError
from dexgrasp.vla.controller.dataset import ControllerDataset, first_frame_geometry
from dexgrasp.vla.controller.kinematics import PALM_ACTION_DIM
from dexgrasp.vla.controller.modeling import DexGraspVLAController
from dexgrasp.vla.controller.normalize import Normalizer
from dexgrasp.vla.controller.target import (
    ANCHOR_FEATURES,
    ANCHOR_GEOMETRY,
    anchor_features,
    anchor_position,
    fit_anchor_calibration,
    mask_geometry,
)

from .conftest import tiny_config
from .test_model import make_batch


def anchored_policy() -> DexGraspVLAController:
    rng = np.random.default_rng(1)
    norm = Normalizer.from_arrays(
        rng.normal(size=(40, 13)), rng.normal(scale=0.05, size=(40, PALM_ACTION_DIM))
    )
    cfg = tiny_config(action_space="palm", action_anchor="mask", prediction_type="sample")
    policy = DexGraspVLAController(cfg, norm)
    calib = torch.zeros(ANCHOR_FEATURES, 3)
    calib[0] = torch.tensor([0.5, 0.0, 0.8])  # intercept
    calib[2] = torch.tensor([0.0, 0.3, 0.0])  # centroid x -> world y
    policy.anchor_calib.copy_(calib)
    return policy


def test_anchor_features_and_empty_mask():
    geo = mask_geometry(torch.zeros(2, 8, 8))
    feats = anchor_features(geo)
    assert feats.shape == (2, ANCHOR_FEATURES)
    assert torch.equal(feats[:, 0], torch.ones(2)) and not feats[:, 1:].any()
    calib = torch.randn(ANCHOR_FEATURES, 3)
    torch.testing.assert_close(anchor_position(geo, calib), calib[:1].expand(2, 3))


def test_calibration_locates_the_target():
    pytest.importorskip("mujoco")
    calib, fit = fit_anchor_calibration((64, 64), scenes=60)
    assert calib.shape == (ANCHOR_FEATURES, 3)
    assert fit["median_xy_m"] < 0.03  # a table about 0.4 x 0.55 m; the mean alone is ~0.15
    with pytest.raises(ValueError, match="at least 50"):
        fit_anchor_calibration((64, 64), scenes=10)


def test_anchor_needs_absolute_palm_actions():
    with pytest.raises(ConfigError, match="action_anchor='mask' needs"):
        tiny_config(action_anchor="mask")
    with pytest.raises(ConfigError, match="action_anchor="):
        tiny_config(action_space="palm", action_anchor="box")


def test_policy_predicts_offsets_from_the_first_frame_anchor(monkeypatch):
    policy = anchored_policy()
    norm = policy.normalizer
    offset = torch.zeros(PALM_ACTION_DIM)
    offset[:3] = torch.tensor([0.01, -0.02, 0.03])  # inside the statistics (clip_sample)
    pred = norm.normalize(ACTION, offset)
    monkeypatch.setattr(policy.dit, "forward", lambda x, t, cond: pred.expand_as(x))
    batch = {k: v for k, v in make_batch(2).items() if k != ACTION}
    policy.eval()
    policy.use_kv_cache = False  # the cached path calls dit.forward_cached, not the stub
    chunk, _ = policy._model_chunk(batch)
    anchor = policy.target_anchor(batch)
    assert not torch.allclose(anchor[0], anchor[1])  # the two masks differ
    torch.testing.assert_close(chunk[:, :, :3], (anchor + offset[:3])[:, None].expand(2, 16, 3))
    # select_action reads the anchor on an episode's first chunk and keeps it
    monkeypatch.setattr(policy, "_to_joints", lambda c, s: torch.zeros(*c.shape[:2], 13))
    seen = []
    real = policy._model_chunk
    monkeypatch.setattr(
        policy,
        "_model_chunk",
        lambda o, g=None, p=None, plan=None: seen.append(o[ANCHOR_GEOMETRY]) or real(o, g, p, plan),
    )
    obs = {k: v[0].numpy() for k, v in batch.items()}
    for _ in range(policy.config.n_action_steps + 1):
        policy.select_action(obs)
        obs[OBS_MASK] = np.roll(obs[OBS_MASK], 5, axis=1)  # the target "moves" in the image
    assert len(seen) == 2 and torch.equal(seen[0], seen[1])
    torch.testing.assert_close(seen[0], mask_geometry(batch[OBS_MASK][:1])[0])
    policy.reset()
    policy.select_action(obs)
    assert not torch.equal(seen[2], seen[0])  # a new episode reads its own first mask


def test_training_loss_sees_the_anchored_actions(monkeypatch):
    policy = anchored_policy()
    batch = make_batch(2)
    shifted = dict(batch)
    shifted[ANCHOR_GEOMETRY] = mask_geometry(torch.roll(batch[OBS_MASK], 6, dims=2))
    seen = []
    real = policy.dit.forward
    monkeypatch.setattr(
        policy.dit, "forward", lambda x, t, cond: seen.append(x.clone()) or real(x, t, cond)
    )
    torch.manual_seed(0)
    policy(batch)
    torch.manual_seed(0)
    policy(shifted)
    assert not torch.allclose(seen[0], seen[1])  # another anchor, other targets


def test_dataset_and_statistics_use_the_episode_first_frame(tiny_store, episodes):
    from dexgrasp.data.episodes import EpisodeStore

    store = EpisodeStore(tiny_store)
    ds = ControllerDataset(store, horizon=4, anchor=True)
    geo = first_frame_geometry(store)
    start, stop = store.episode_bounds(1)
    first = mask_geometry(torch.from_numpy(episodes[1][OBS_MASK][:1]))[0].numpy()
    np.testing.assert_allclose(geo[start:stop], np.broadcast_to(first, (stop - start, 8)))
    item = ds[int(np.flatnonzero(ds.frames == start + 3)[0])]
    np.testing.assert_allclose(item[ANCHOR_GEOMETRY].numpy(), first)
    assert ANCHOR_GEOMETRY not in ControllerDataset(store, horizon=4)[0]
    anchors = np.tile(np.array([1.0, 2.0, 3.0]), (store.num_frames, 1))
    plain = np.concatenate(list(ds.stat_chunks(relative=False)[ACTION]()))
    moved = np.concatenate(list(ds.stat_chunks(relative=False, anchors=anchors)[ACTION]()))
    np.testing.assert_allclose(moved[:, :3], plain[:, :3] - anchors[0])
    np.testing.assert_allclose(moved[:, 3:], plain[:, 3:])
