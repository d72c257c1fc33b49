"""The CLI verbs and closed-loop evaluation plumbing (a short episode in the simulator)."""

from __future__ import annotations

import json

import pytest

from dexgrasp.cli import main
from dexgrasp.vla.controller.modeling import DexGraspVLAController

from .conftest import tiny_config
from .test_model import make_policy


def _train_tiny(store, out, *flags: str) -> int:
    """``dexgrasp train controller`` on ``store`` with the tiny config (written next to ``out``)."""
    cfg = out.parent / "cfg.json"
    cfg.write_text(json.dumps(tiny_config().to_dict()))
    args = ["train", "controller", "--data", str(store), "--out", str(out), "--config", str(cfg)]
    return main([*args, *flags, "--quiet"])


def test_cli_train_then_eval(tmp_path, tiny_store, capsys):
    pytest.importorskip("mujoco")
    out = tmp_path / "run"
    assert (
        _train_tiny(tiny_store, out, "--batch-size", "8", "--max-steps", "3", "--episodes", "2")
        == 0
    )
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 0  # log_every=10 > 3 steps
    DexGraspVLAController.from_pretrained(out)
    prov = json.loads((out / "provenance.json").read_text())
    assert (
        prov["episodes"] == 2
        and prov["scene_seeds"] == [0, 1]
        and "--max-steps 3" in prov["command"]
    )
    rc = main(["eval", "controller", "--ckpt", str(out), "--episodes", "1", "--max-steps", "8",
               "--set", "num_samples=2", "--out", str(tmp_path / "eval.json"), "--quiet"])  # fmt: skip
    assert rc == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["episodes"] == 1 and result["reasons"] == {"time_limit": 1}
    assert result["controller_steps_per_s"] > 0
    assert result["failures"] == {"never_touched": 1} and result["touched"] == [False]
    assert result["inference"]["num_samples"] == 2
    assert main(["eval", "controller", "--ckpt", str(tmp_path / "missing")]) == 2
    for bad in (
        "hidden_dim=8",
        "num_samples=0",
        "num_samples",
        "num_samples=1.5",
        "noise_scale=x",
        "noise_scale=3",
    ):
        assert main(["eval", "controller", "--ckpt", str(out), "--set", bad]) == 2


def test_closed_loop_runs_in_the_simulator():
    pytest.importorskip("mujoco")
    from dexgrasp.vla.controller.evaluate import evaluate_controller

    result = evaluate_controller(
        make_policy(), split="unseen", episodes=2, max_steps=5, progress=False
    )
    assert result.episodes == 2 and len(result.outcomes) == 2
    assert result.seeds == [1_000_000, 1_000_001]
    assert result.mean_steps == 5 and 0 <= result.success_rate <= 1
    assert len(result.touched) == len(result.max_lift_m) == 2
    assert all(0 <= h < 0.1 for h in result.max_lift_m)  # 5 steps lift nothing


def test_retries_reset_the_robot_and_keep_the_scene():
    """Ours@k: a failed attempt (out of steps) is followed by another from the home pose, in
    the same scene; ``t`` restarts, the steps add up, and @k never decreases with k."""
    pytest.importorskip("mujoco")
    import gymnasium as gym
    import numpy as np

    import dexgrasp.sim  # noqa: F401
    from dexgrasp.vla.controller.evaluate import closed_loop, evaluate_controller

    policy = make_policy()
    env = gym.make("dexgrasp/TabletopGrasp-v0", split="train", max_steps=3, image_size=(64, 64))
    try:
        u = env.unwrapped
        home = np.asarray(u._robot.HOME_QPOS)
        seen, before = [], None
        for step in closed_loop(env, policy, 5, attempts=3):
            seen.append((step.attempt, step.t))
            positions = {k: v["pos"] for k, v in step.info["objects"].items()}
            if step.done:
                assert step.info["termination_reason"] == "time_limit"
                before = positions
            elif step.t == 0 and step.attempt > 1:  # just reset: robot home, scene kept
                state = u.data.qpos[u._robot.joint_qpos_adr(u.model)]
                np.testing.assert_allclose(state, home, atol=0.05)
                for name, pos in positions.items():
                    np.testing.assert_allclose(pos, before[name], atol=0.01)
        assert seen == [(a, t) for a in (1, 2, 3) for t in range(4)]
        obs, info = u.reset_robot(settle_steps=0)
        np.testing.assert_allclose(obs["observation.state"], home, atol=1e-6)
        assert info["success"] is False and u._steps == 0
        with pytest.raises(ValueError, match="attempts"):
            evaluate_controller(policy, episodes=1, attempts=0)
    finally:
        env.close()
    r = evaluate_controller(policy, split="train", episodes=2, max_steps=3, attempts=2,
                            env_kwargs={"image_size": (64, 64)}, progress=False)  # fmt: skip
    assert r.attempts == 2 and r.lengths == [6, 6] and r.success_attempt == [0, 0]
    assert r.successes_at(1) == r.successes_at(2) == r.successes == 0


def test_successes_at_k_attempts():
    r = _result([1, 2, 3, 4], [True, False, True, True], 10.0, 1.0)
    assert r.successes_at(1) == 3  # a single-attempt result
    r.attempts, r.success_attempt = 3, [1, 0, 3, 2]
    assert [r.successes_at(k) for k in (1, 2, 3)] == [1, 2, 3]
    assert "@1: 1, @2: 2, @3: 3 of 4" in r.summary()


def _result(seeds, outcomes, steps, rate, touched=None, lifts=None, lengths=None):
    from dexgrasp.vla.controller.evaluate import EvalResult

    n = len(seeds)
    touched = touched or [True] * n
    lifts = lifts or [0.2 if o else 0.0 for o in outcomes]
    return EvalResult(
        split="train", episodes=n, successes=sum(outcomes), success_rate=sum(outcomes) / n,
        reasons={"success": sum(outcomes), "time_limit": n - sum(outcomes)}, mean_steps=steps,
        controller_steps_per_s=rate, env_steps_per_s=rate, closed_loop_steps_per_s=rate / 2,
        seeds=seeds, outcomes=outcomes, touched=touched, max_lift_m=lifts,
        lengths=lengths or [int(steps)] * n,
    )  # fmt: skip


def test_merge_results_of_shards():
    from dexgrasp.vla.controller.evaluate import merge_results

    a = _result([10, 11], [True, False], 100.0, 50.0)  # 200 steps in 4 s
    b = _result([12, 13, 14], [True, True, True], 60.0, 30.0)  # 180 steps in 6 s
    m = merge_results([b, a])
    assert m.seeds == [10, 11, 12, 13, 14] and m.outcomes == [True, False, True, True, True]
    assert m.episodes == 5 and m.successes == 4 and m.success_rate == pytest.approx(0.8)
    assert m.reasons == {"success": 4, "time_limit": 1}
    assert m.mean_steps == pytest.approx(380 / 5)
    assert m.controller_steps_per_s == pytest.approx(380 / 10)
    assert m.touched == [True] * 5 and m.max_lift_m == [0.2, 0.0, 0.2, 0.2, 0.2]
    assert m.lengths == [100, 100, 60, 60, 60]


def test_successes_within_a_shorter_step_limit():
    r = _result([1, 2, 3, 4], [True, False, True, True], 150.0, 1.0, lengths=[90, 240, 160, 200])
    assert r.successes_within(160) == 2 and r.successes_within(89) == 0
    assert r.successes_within(240) == r.successes == 3


def test_failures_are_sorted_by_stage():
    r = _result(
        [1, 2, 3, 4, 5], [False, False, False, False, True], 10.0, 1.0,
        touched=[False, True, True, True, True], lifts=[0.0, 0.02, 0.15, 0.0, 0.2],
    )  # fmt: skip
    assert r.failures == {"never_touched": 1, "touched_not_lifted": 2, "lifted_not_held": 1}
    assert "touched_not_lifted" in r.summary()


@pytest.mark.slow
def test_parallel_evaluation_matches_serial(tmp_path):
    """Per-episode noise seeds: the outcome does not depend on the number of workers."""
    pytest.importorskip("mujoco")
    from dexgrasp.vla.controller.evaluate import evaluate_checkpoint

    make_policy().save_pretrained(tmp_path / "ckpt")
    kw = {"split": "train", "episodes": 3, "max_steps": 4, "progress": False}
    one = evaluate_checkpoint(tmp_path / "ckpt", workers=1, **kw)
    two = evaluate_checkpoint(tmp_path / "ckpt", workers=2, **kw)
    assert one.seeds == two.seeds and one.outcomes == two.outcomes
    assert one.mean_steps == two.mean_steps


def test_cli_train_selects_takeover_episodes_by_step(tmp_path, episodes):
    from dexgrasp.data.episodes import EpisodeWriter

    store = tmp_path / "mixed.zarr"
    metas = [{}, {"takeover_step": 5}, {"takeover_step": 50}]
    with EpisodeWriter(store) as w:
        for i, (ep, extra) in enumerate(zip(episodes, metas, strict=True)):
            w.add_episode(ep, {"scene_seed": i, "split": "train", **extra})
    out = tmp_path / "run"
    assert (
        _train_tiny(
            store, out, "--batch-size", "4", "--max-steps", "1", "--min-takeover-step", "10"
        )
        == 0
    )
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["episodes"] == 2 and prov["scene_seeds"] == [0, 2]  # the step-5 takeover is out


def test_inference_settings_take_their_type_from_the_config(tmp_path):
    from dexgrasp.vla.controller.cli import _inference_settings

    out = _inference_settings(["noise_scale=0.5", "n_action_steps=3"], tmp_path)
    assert out == {"noise_scale": 0.5, "n_action_steps": 3}
    assert type(out["noise_scale"]) is float and type(out["n_action_steps"]) is int
    with pytest.raises(ValueError, match="must be an integer"):
        _inference_settings(["n_action_steps=0.5"], tmp_path)
    with pytest.raises(ValueError, match="must be a number"):
        _inference_settings(["noise_scale=low"], tmp_path)
    out = _inference_settings(["sample_select=coherent", "episode_noise=True"], tmp_path)
    assert out == {"sample_select": "coherent", "episode_noise": True}
    with pytest.raises(ValueError, match="must be true or false"):
        _inference_settings(["episode_noise=maybe"], tmp_path)
