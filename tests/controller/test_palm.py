"""Palm-space actions (action_space="palm"): 6D rotations, FK/IK, statistics, the policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_STATE
from dexgrasp.vla.controller.configuration import ConfigError
from dexgrasp.vla.controller.kinematics import (
    PALM_ACTION_DIM,
    PalmKinematics,
    rotation_from_6d,
    rotation_to_6d,
)
from dexgrasp.vla.controller.modeling import PALM_STATE, DexGraspVLAController
from dexgrasp.vla.controller.normalize import Normalizer

from .conftest import tiny_config
from .test_model import make_batch

# Two reachable postures: the robot's rest pose and a bent one.
REST = np.array([0.0, -0.35, 0.0, 2.1, 0.0, 0.95, 0.0, 1.3, 0.2, 0.5, 0.5, 0.5, 0.5])
BENT = REST + np.array([0.3, 0.4, -0.2, -0.5, 0.3, 0.2, 0.4, 0, 0.3, 0.5, 0.2, 0.1, 0])


@pytest.fixture(scope="module")
def kin() -> PalmKinematics:
    return PalmKinematics()


def test_6d_rotation_round_trip_and_orthonormalisation():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 3, 3)))
    q *= np.sign(np.linalg.det(q))[:, None, None]  # proper rotations
    np.testing.assert_allclose(rotation_from_6d(rotation_to_6d(q)), q, atol=1e-9)
    r = rotation_from_6d(rng.normal(size=(4, 6)))  # arbitrary vectors still give rotations
    np.testing.assert_allclose(
        r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-9
    )
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-9)


def test_ik_tracks_a_palm_path_back_to_its_poses(kin):
    path = REST + np.linspace(0, 1, 12)[:, None] * (BENT - REST)
    palm = kin.to_palm(path)
    assert palm.shape == (12, PALM_ACTION_DIM)
    joints = kin.to_joints(palm, REST)
    assert joints.shape == (12, 13)
    again = kin.to_palm(joints)
    assert np.abs(again[:, :3] - palm[:, :3]).max() < 0.004  # metres
    assert np.abs(again[:, 3:9] - palm[:, 3:9]).max() < 0.05
    np.testing.assert_array_equal(joints[:, 7:], path[:, 7:])  # hand joints pass through
    with pytest.raises(ValueError, match="finite"):
        kin.to_joints(np.full((2, PALM_ACTION_DIM), np.nan), REST)
    with pytest.raises(ValueError, match=r"\(T, 15\)"):
        kin.to_joints(palm[:, :13], REST)


def test_palm_statistics_describe_palm_windows(tiny_store, episodes, kin):
    from dexgrasp.data.episodes import EpisodeStore

    n = Normalizer.fit(EpisodeStore(tiny_store), episodes=[0], relative_horizon=3, kinematics=kin)
    assert n.dim(ACTION) == PALM_ACTION_DIM and n.dim(OBS_STATE) == 13
    ep = episodes[0]
    pa, ps = kin.to_palm(ep[ACTION]), kin.to_palm(ep[OBS_STATE])
    T = len(pa)
    deltas = np.array([pa[min(t + k, T - 1)] - ps[t] for t in range(T) for k in range(3)])
    np.testing.assert_allclose(n.stats.get(ACTION, "max"), deltas.max(0), atol=1e-5)
    np.testing.assert_allclose(n.stats.get(ACTION, "mean"), deltas.mean(0), atol=1e-5)
    absolute = Normalizer.fit(EpisodeStore(tiny_store), episodes=[0], kinematics=kin)
    np.testing.assert_allclose(absolute.stats.get(ACTION, "min"), pa.min(0), atol=1e-5)


def test_palm_policy_holds_still_and_returns_joint_targets(monkeypatch):
    rng = np.random.default_rng(1)
    kin = PalmKinematics()
    norm = Normalizer.from_arrays(
        rng.normal(size=(40, 13)), rng.normal(scale=0.05, size=(40, PALM_ACTION_DIM))
    )
    cfg = tiny_config(action_space="palm", action_mode="relative", prediction_type="sample")
    policy = DexGraspVLAController(cfg, norm)
    assert policy.dit.action_out.out_features == PALM_ACTION_DIM
    policy._kinematics = kin
    batch = make_batch(2)
    state = torch.from_numpy(np.stack([REST, BENT])).float()
    batch[OBS_STATE] = state
    hold = dict(batch, **{ACTION: state[:, None].expand(2, 16, 13)})
    zero = norm.normalize(ACTION, torch.zeros(PALM_ACTION_DIM))
    monkeypatch.setattr(policy.dit, "forward", lambda x, t, cond: zero.expand_as(x))
    loss, _ = policy(hold)  # the palm pose of the state itself: a zero relative chunk
    assert float(loss) < 1e-8
    policy.eval()
    policy.use_kv_cache = False
    chunk = policy.predict_action_chunk(batch)
    assert chunk.shape == (2, 16, 13)
    torch.testing.assert_close(chunk, hold[ACTION], atol=2e-3, rtol=0)
    obs = {k: v[1].numpy() for k, v in batch.items() if k != ACTION}
    np.testing.assert_allclose(policy.select_action(obs).numpy(), BENT, atol=2e-3)


def test_palm_space_needs_the_13_joint_robot():
    with pytest.raises(ConfigError, match="action_space='palm'"):
        tiny_config(action_space="palm", state_dim=12, action_dim=12)
    with pytest.raises(ConfigError, match="action_space="):
        tiny_config(action_space="cartesian")


def test_absolute_palm_policy_sees_the_palm_pose_of_its_state():
    rng = np.random.default_rng(2)
    norm = Normalizer.from_arrays(
        rng.normal(size=(40, 13)), rng.normal(scale=0.2, size=(40, PALM_ACTION_DIM))
    )
    policy = DexGraspVLAController(tiny_config(action_space="palm"), norm).eval()
    assert policy.palm_state_proj is not None
    batch = make_batch(2)
    batch[OBS_STATE] = torch.from_numpy(np.stack([REST, REST])).float()
    batch[OBS_STATE][1, :7] = torch.from_numpy(BENT[:7]).float()
    seen = {}
    policy.palm_state_proj.register_forward_hook(lambda m, i, o: seen.update(palm=i[0]))
    with_palm = policy.encode_observation(batch)
    palm = PalmKinematics().to_palm(batch[OBS_STATE].numpy())
    expected = norm.normalize(ACTION, torch.from_numpy(palm).float())
    torch.testing.assert_close(seen["palm"], expected)  # the normalised palm pose goes in
    given = dict(batch, **{PALM_STATE: torch.from_numpy(palm).float()})  # inference passes it
    torch.testing.assert_close(policy.encode_observation(given), with_palm)
    proj, policy.palm_state_proj = policy.palm_state_proj, None
    without = policy.encode_observation(batch)
    policy.palm_state_proj = proj
    assert not torch.allclose(with_palm[:, -1], without[:, -1])  # and moves the state token
    torch.testing.assert_close(with_palm[:, :-1], without[:, :-1])
    chunk = policy.predict_action_chunk(batch)
    assert chunk.shape == (2, 16, 13) and torch.isfinite(chunk).all()
    relative = DexGraspVLAController(tiny_config(action_space="palm", action_mode="relative"), norm)
    assert relative.palm_state_proj is None
