"""Collection CLI: deterministic scene sequence, store contents, resuming, pictures."""

from __future__ import annotations

import numpy as np
import pytest

from dexgrasp.constants import ACTION, EPISODE_STEPS, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.sim.cli import collect, render_scene, scene_seed_for


def test_scene_seeds_are_deterministic_and_distinct():
    a = [scene_seed_for(0, "train", k) for k in range(50)]
    assert a == [scene_seed_for(0, "train", k) for k in range(50)]
    assert len(set(a)) == 50
    assert scene_seed_for(0, "train", 3) != scene_seed_for(0, "unseen", 3)
    assert scene_seed_for(0, "train", 3) != scene_seed_for(1, "train", 3)
    assert all(0 <= s < 2**31 for s in a)


def test_rollout_records_a_demonstration():
    from dexgrasp.sim.cli import _make_env
    from dexgrasp.sim.rollout import rollout

    env = _make_env("train", 32)
    seed = scene_seed_for(3, "train", 0)
    r = rollout(env, seed, keep_failures=True)
    env.close()
    assert r.meta["scene_seed"] == seed and r.meta["target"] in r.meta["objects"]
    assert r.meta["instruction"].endswith(r.meta["target"])
    ep = r.frames
    assert ep[OBS_HEAD].shape == (EPISODE_STEPS, 32, 32, 3)
    assert ep[OBS_MASK].shape == (EPISODE_STEPS, 32, 32)
    assert ep[OBS_STATE].shape == ep[ACTION].shape == (EPISODE_STEPS, 13)
    assert ep[ACTION].dtype == np.float32
    # the arm follows the commanded targets
    assert np.abs(ep[OBS_STATE][-1] - ep[ACTION][-2])[:7].max() < 0.1


def test_action_noise_is_smooth_tapered_and_validated():
    from dexgrasp.sim.rollout import ActionNoise

    noise = ActionNoise(sigma=0.05, tau=10.0, taper_from=20, taper_to=30)
    x = noise.sample(4000, 7, np.random.default_rng(0))
    assert x.shape == (4000, 7)
    assert np.all(x[30:] == 0) and np.all(x[:20] != 0)
    taper = np.abs(x[20:30]) / np.maximum(np.abs(x[19:29]), 1e-12)
    assert np.median(taper) < 1.0  # shrinking towards the end of the taper
    long = ActionNoise(sigma=0.05, tau=10.0, taper_from=10**6, taper_to=10**6)
    y = long.sample(20000, 7, np.random.default_rng(1))
    assert abs(y.std() - 0.05) < 0.01  # stationary std is sigma
    lag1 = np.mean([np.corrcoef(y[:-1, j], y[1:, j])[0, 1] for j in range(7)])
    assert abs(lag1 - np.exp(-0.1)) < 0.03  # correlated over tau steps, not white
    for bad in ({"sigma": -0.1}, {"tau": 0.5}, {"taper_from": 5, "taper_to": 2}):
        with pytest.raises(ValueError, match="ActionNoise"):
            ActionNoise(**bad)


def test_noisy_rollout_records_the_clean_plan_and_drifts_off_it():
    """DART: the stored labels are the expert's plan; only the executed targets are noisy,
    so the recorded states leave the plan and the labels lead back."""
    from dexgrasp.sim.cli import _make_env
    from dexgrasp.sim.rollout import ActionNoise, rollout

    env = _make_env("train", 32)
    seed = scene_seed_for(3, "train", 0)
    clean = rollout(env, seed, keep_failures=True)
    noisy = rollout(env, seed, keep_failures=True, action_noise=ActionNoise(sigma=0.04))
    again = rollout(env, seed, keep_failures=True, action_noise=ActionNoise(sigma=0.04))
    env.close()
    n = min(len(clean.frames[ACTION]), len(noisy.frames[ACTION]))
    assert n > 30
    np.testing.assert_array_equal(noisy.frames[ACTION][:n], clean.frames[ACTION][:n])
    drift = np.abs(noisy.frames[OBS_STATE][:n, :7] - clean.frames[OBS_STATE][:n, :7])
    assert drift[:25].max() > 0.02  # the arm left the plan during the reach
    assert noisy.meta["action_noise"] == 0.04 and "action_noise" not in clean.meta
    np.testing.assert_array_equal(again.frames[OBS_STATE], noisy.frames[OBS_STATE])


@pytest.mark.slow
def test_collect_writes_episodes_and_resumes(tmp_path):
    from dexgrasp.data.episodes import EpisodeStore

    out = tmp_path / "demos.zarr"
    s1 = collect(out, 1, workers=1, image_size=32, seed=3, progress=False)
    assert s1["stored"] == 1
    store = EpisodeStore(out)
    ep = store.episode(0)
    assert ep[OBS_HEAD].shape == (EPISODE_STEPS, 32, 32, 3)
    assert ep[OBS_WRIST].shape == (EPISODE_STEPS, 32, 32, 3)
    assert ep[OBS_MASK].shape == (EPISODE_STEPS, 32, 32)
    assert ep[OBS_STATE].shape == ep[ACTION].shape == (EPISODE_STEPS, 13)
    meta = store.meta(0)
    assert meta["split"] == "train" and meta["target"] in meta["objects"]
    assert meta["instruction"].endswith(meta["target"])
    assert meta["scene_seed"] == scene_seed_for(3, "train", meta["attempt"])
    # the arm moves towards the commanded targets
    assert np.abs(ep[OBS_STATE][-1] - ep[ACTION][-1])[:7].max() < 0.1

    s2 = collect(out, 2, workers=1, image_size=32, seed=3, progress=False)
    assert s2["stored"] == 2 and s2["added"] == 1
    store = EpisodeStore(out)
    assert store.meta(1)["attempt"] > store.meta(0)["attempt"]  # no scene repeated
    s3 = collect(out, 2, workers=1, image_size=32, seed=3, progress=False)
    assert s3["added"] == 0


def test_collect_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        collect(tmp_path / "x.zarr", 1, workers=0)
    with pytest.raises(ValueError, match="split"):
        collect(tmp_path / "x.zarr", 1, split="nope")


def test_render_scene_writes_pngs(tmp_path):
    import imageio.v3 as iio

    paths = render_scene(5, tmp_path, image_size=48)
    head = iio.imread(paths[0])
    assert head.shape == (48, 48, 3) and head.std() > 1
    assert iio.imread(paths[1]).shape == (48, 48, 3)


def test_any_branch_fallback_rescues_a_scene_the_home_branch_cannot_grasp():
    """Collection scene 7 (seed 0): every home-branch grasp fails the lookahead; with the
    fallback the expert flips the wrist and lifts the target."""
    from dexgrasp.sim.cli import _make_env
    from dexgrasp.sim.expert import ExpertConfig
    from dexgrasp.sim.rollout import rollout

    env = _make_env("train", 32)
    seed = scene_seed_for(0, "train", 7)
    strict = rollout(env, seed, record=False, config=ExpertConfig(aim_rest=False))
    rescued = rollout(
        env, seed, record=False, config=ExpertConfig(aim_rest=False, any_branch_fallback=True)
    )
    env.close()
    assert not strict.success
    assert rescued.success
