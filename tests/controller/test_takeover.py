"""Expert takeover: the expert's episode starts where the policy's rollout was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_STATE
from dexgrasp.vla.controller.takeover import TakeoverConfig, policy_takeovers

from .test_model import make_policy


@pytest.fixture
def env():
    """A small-image, 3-object scene env with room for the expert after the policy's steps."""
    gym = pytest.importorskip("gymnasium")
    import dexgrasp.sim  # noqa: F401  (registers the env)

    made = gym.make("dexgrasp/TabletopGrasp-v0", image_size=(32, 32), n_objects=3, max_steps=500)
    yield made
    made.close()


def test_expert_takes_over_from_the_policy_state(env):
    policy = make_policy(image_size=32)
    policy.train()  # policy_takeovers puts it in eval mode (train mode samples differently)
    cfg = TakeoverConfig(takeovers=2, min_step=3, max_steps=8)
    ok, runs = policy_takeovers(env, policy, 11, np.random.default_rng(0), cfg)
    assert not ok and len(runs) == 2  # a random policy fails; two distinct takeover steps
    steps = [r.meta["takeover_step"] for r in runs]
    assert len(set(steps)) == 2 and all(3 <= t < 8 for t in steps)
    assert all(r.meta["scene_seed"] == 11 for r in runs)
    done = [r for r in runs if r.success]
    assert done, [r.reason for r in runs]
    # Replay the policy (same scene, same diffusion noise) to the takeover step: the expert's
    # first recorded state is the state the policy left the robot in.
    r = done[0]
    obs, _ = env.reset(seed=11, options={"scene_seed": 11})
    policy.reset()
    gen = torch.Generator().manual_seed(11)
    for _ in range(r.meta["takeover_step"]):
        with torch.inference_mode():
            action = policy.select_action(obs, generator=gen).numpy().astype(np.float32)
        obs = env.step(action)[0]
    assert np.array_equal(r.frames[OBS_STATE][0], obs[OBS_STATE])
    assert np.abs(obs[OBS_STATE] - r.frames[OBS_STATE][-1]).max() > 0.05  # the expert moved
    assert len(r.frames[ACTION]) == len(r.frames[OBS_STATE]) == 75
    with pytest.raises(ValueError, match="min_step"):
        TakeoverConfig(min_step=8, max_steps=8)


def test_takeover_refuses_a_bad_checkpoint(tmp_path):
    from dexgrasp.cli import main
    from dexgrasp.vla.controller.takeover import TakeoverSource

    with pytest.raises(ValueError, match="not a controller checkpoint"):
        TakeoverSource(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="takeovers"):
        TakeoverSource(tmp_path, takeovers=0)
    out = tmp_path / "d.zarr"
    argv = ["takeover", "--ckpt", str(tmp_path / "missing"), "--episodes", "1", "--out", str(out)]
    assert main(argv) == 2
    assert not out.exists()  # nothing written


def test_takeover_source_pickles_without_its_policy(tmp_path):
    import pickle

    from dexgrasp.vla.controller.takeover import TakeoverSource

    (tmp_path / "config.json").write_text("{}")
    src = TakeoverSource(tmp_path, takeovers=3)
    src._policy = object()  # loaded in a worker: never sent to another process
    back = pickle.loads(pickle.dumps(src))
    assert back._policy is None and back.config.takeovers == 3
    assert back.meta == {"takeover_policy": str(tmp_path), "takeover_continue_grasp": False}


class _ClosingPolicy:
    """Holds the arm at home and closes the hand from action ``close_at`` (1-based) on: a
    policy that grasps the air, with a known closure step and pose."""

    def __init__(self, close_at: int) -> None:
        self.close_at, self.t = close_at, 0

    def eval(self) -> None:
        pass

    def reset(self) -> None:
        self.t = 0

    def select_action(self, obs, generator=None) -> torch.Tensor:
        from dexgrasp.sim import robot

        self.t += 1
        action = np.array(robot.HOME_QPOS, dtype=np.float32)
        if self.t >= self.close_at:
            action[9:13] = 1.5  # the four fingers' flexion
        return torch.from_numpy(action)


def test_continue_grasp_takes_over_just_before_the_hand_closed(env):
    cfg = TakeoverConfig(takeovers=2, min_step=1, max_steps=12, continue_grasp=True, window=3)
    ok, runs = policy_takeovers(env, _ClosingPolicy(8), 11, np.random.default_rng(0), cfg)
    assert not ok and len(runs) == 2
    for r in runs:
        assert r.meta["takeover_closed_step"] == 8
        assert 5 <= r.meta["takeover_step"] <= 8  # within the window before the closure
        assert r.meta["prefer_distance"] >= 0 and r.meta["direct"] is False  # home is far
    with pytest.raises(ValueError, match="window"):
        TakeoverConfig(window=0)


def test_after_miss_takes_over_only_from_the_stalled_closed_hand(env):
    cfg = TakeoverConfig(takeovers=2, min_step=1, max_steps=12, after_miss=True, window=3)
    ok, runs = policy_takeovers(env, _ClosingPolicy(5), 11, np.random.default_rng(0), cfg)
    assert not ok and len(runs) == 2
    for r in runs:
        assert r.meta["takeover_closed_step"] == 5
        assert 8 <= r.meta["takeover_step"] <= 11  # at least `window` steps after the closure
    # a failed episode whose hand never closed gives no takeover
    ok, runs = policy_takeovers(env, _ClosingPolicy(99), 11, np.random.default_rng(0), cfg)
    assert not ok and runs == []
    with pytest.raises(ValueError, match="exclude each other"):
        TakeoverConfig(continue_grasp=True, after_miss=True)
