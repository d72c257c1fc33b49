"""The Gymnasium environment: registration, API checks, determinism, masks, success, failures."""

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dexgrasp.sim  # noqa: F401  (registers the env)
from dexgrasp import constants as C
from dexgrasp.sim import layout, robot
from dexgrasp.sim.env import ENV_ID


@pytest.fixture
def env():
    e = gym.make(ENV_ID, image_size=(96, 128), n_objects=4)
    yield e
    e.close()


def _arm_aside(u) -> None:
    """Swing the arm away from the head camera's view (tests of the mask machinery)."""
    q = np.array(robot.HOME_QPOS, float)
    q[0] = -1.5  # base yaw towards the robot's right
    robot.set_robot_qpos(u.model, u.data, q)
    mujoco.mj_forward(u.model, u.data)


def test_registered_and_observations(env):
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs[C.OBS_HEAD].shape == (96, 128, 3) and obs[C.OBS_HEAD].dtype == np.uint8
    assert obs[C.OBS_WRIST].shape == (96, 128, 3)
    assert obs[C.OBS_MASK].shape == (96, 128) and set(np.unique(obs[C.OBS_MASK])) <= {0, 1}
    assert obs[C.OBS_STATE].shape == (13,) and obs[C.OBS_STATE].dtype == np.float32
    np.testing.assert_allclose(obs[C.OBS_STATE], robot.HOME_QPOS, atol=0.05)
    assert {"success", "is_success", "objects", "target", "termination_reason"} <= set(info)
    assert info["target"] in info["objects"] and len(info["objects"]) == 4
    assert env.action_space.shape == (13,)


def test_check_env_passes():
    e = gym.make(ENV_ID, image_size=(64, 64), n_objects=3)
    check_env(e.unwrapped, skip_render_check=False)
    e.close()


def test_reset_is_deterministic(env):
    o1, i1 = env.reset(seed=3)
    o2, i2 = env.reset(seed=3)
    for k in o1:
        np.testing.assert_array_equal(o1[k], o2[k])
    assert i1["target"] == i2["target"] and list(i1["objects"]) == list(i2["objects"])
    _, i3 = env.reset(seed=4)
    assert list(i3["objects"]) != list(i1["objects"])
    _, i4 = env.reset(options={"scene_seed": i1["scene_seed"]})
    assert list(i4["objects"]) == list(i1["objects"])


def test_mask_matches_target(env):
    env.reset(seed=1)
    u = env.unwrapped
    _arm_aside(u)
    seg = u.segmentation("head")
    boxes = u.object_boxes("head")
    assert len(boxes) >= 3, "most objects should be visible with the arm out of the way"
    for name in boxes:
        u.set_target(name)
        mask = u._observation()[C.OBS_MASK]
        idx = u.scene.get(name).index
        np.testing.assert_array_equal(mask, (seg == idx).astype(np.uint8))
        x1, y1, x2, y2 = boxes[name]
        ys, xs = np.nonzero(mask)
        assert xs.min() == x1 and xs.max() + 1 == x2 and ys.min() == y1 and ys.max() + 1 == y2
        # The object's centre projects inside its box (pinhole camera, fovy from the model).
        cam = u.model.cam("head").id
        p = u.data.xpos[u.scene.get(name).body_id] - u.data.cam_xpos[cam]
        pc = u.data.cam_xmat[cam].reshape(3, 3).T @ p
        h, w = mask.shape
        f = 0.5 * h / np.tan(np.deg2rad(u.model.cam_fovy[cam]) / 2)
        px, py = w / 2 + f * pc[0] / -pc[2], h / 2 - f * pc[1] / -pc[2]
        assert x1 - 2 <= px <= x2 + 2 and y1 - 2 <= py <= y2 + 2, (name, (px, py), boxes[name])


def test_target_option_and_bad_options(env):
    lib = env.unwrapped.library
    name = lib.split("train")[5].name
    _, info = env.reset(seed=0, options={"target": name})
    assert info["target"] == name and env.unwrapped.target_name == name
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"scene": 1})
    with pytest.raises(KeyError, match="not in this scene"):
        env.unwrapped.set_target("purple unicorn")


def test_success_after_hold_time():
    e = gym.make(ENV_ID, image_size=(32, 32), n_objects=2, hold_time_s=0.0, require_contact=False)
    _, info = e.reset(seed=0)
    u = e.unwrapped
    pos = info["objects"][info["target"]]["pos"]
    u.teleport_object(info["target"], (pos[0], pos[1], layout.TABLE_TOP_Z + 0.4))
    _, reward, terminated, _, info = e.step(robot.HOME_QPOS)
    assert terminated and info["success"] and info["is_success"] and reward == 1.0
    assert info["termination_reason"] == "success"
    e.close()


def test_no_success_without_holding(env):
    _, info = env.reset(seed=0)
    u = env.unwrapped
    pos = info["objects"][info["target"]]["pos"]
    u.teleport_object(info["target"], (pos[0], pos[1], layout.TABLE_TOP_Z + 0.4))
    for _ in range(5):  # lifted, but not touching the hand, and shorter than the hold time
        _, _, terminated, _, info = env.step(robot.HOME_QPOS)
    assert not info["success"] and not terminated


def test_physics_blowup_ends_episode_without_crash(env):
    _, info = env.reset(seed=2)
    u = env.unwrapped
    o = u.scene.get(info["target"])
    u.data.qvel[o.qvel_adr : o.qvel_adr + 3] = 1e9
    obs, reward, terminated, truncated, info = env.step(robot.HOME_QPOS)
    assert terminated and not info["success"] and reward == 0.0
    assert info["termination_reason"].startswith("physics_unstable")
    assert env.observation_space.contains(obs)


def test_actions_are_clipped_and_validated(env):
    env.reset(seed=0)
    u = env.unwrapped
    env.step(np.full(13, 100.0))
    np.testing.assert_allclose(u.data.ctrl[:13], robot.joint_limits()[:, 1])
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(12))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(13, np.nan))


def test_truncation_at_time_limit():
    e = gym.make(ENV_ID, image_size=(32, 32), n_objects=2, max_steps=3)
    e.reset(seed=0)
    for _ in range(3):
        _, _, terminated, truncated, info = e.step(robot.HOME_QPOS)
    assert truncated and not terminated and info["termination_reason"] == "time_limit"
    e.close()


def test_remove_and_teleport(env):
    _, info = env.reset(seed=1)
    u = env.unwrapped
    _arm_aside(u)
    name = next(n for n in u.object_boxes() if n != info["target"])
    u.remove_object(name)
    assert name not in u.object_boxes()
    assert u.object_heights()[name] < -0.5
    assert u._info()["objects"][name]["removed"]
    with pytest.raises(ValueError, match="removed"):
        u.set_target(name)
    with pytest.raises(ValueError, match="finite"):
        u.teleport_object(info["target"], (np.nan, 0, 1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": "test"},
        {"n_objects": 0},
        {"background": "lava"},
        {"lighting": "strobe"},
        {"image_size": (5, 5)},
        {"hold_time_s": -1.0},
    ],
)
def test_bad_config_names_field(kwargs):
    field = next(iter(kwargs))
    with pytest.raises(ValueError, match=field):
        gym.make(ENV_ID, **kwargs)


def test_conditions_and_large_images():
    e = gym.make(
        ENV_ID,
        image_size=(480, 640),
        n_objects=6,
        room="evaluation",
        background="calibration_board",
        lighting="disco",
    )
    obs, info = e.reset(seed=0)
    assert obs[C.OBS_HEAD].shape == (480, 640, 3)
    obs2, _ = e.reset(seed=0, options={"background": "white_table", "lighting": "white"})
    assert list(info["objects"]) == list(e.unwrapped._info()["objects"])
    assert np.abs(obs[C.OBS_HEAD].astype(int) - obs2[C.OBS_HEAD]).mean() > 5
    e.close()


def _targets_visible_at_home(**kwargs) -> int:
    e = gym.make(ENV_ID, image_size=(96, 96), n_objects=6, **kwargs)
    visible = sum(int(e.reset(seed=s)[0][C.OBS_MASK].sum() > 0) for s in range(6))
    e.close()
    return visible


def test_head_camera_sees_targets_at_home():
    assert _targets_visible_at_home() >= 5


def test_physics_identical_across_conditions():
    """Backgrounds, lightings and rooms are visual only: same scene seed, same settled poses."""
    e = gym.make(ENV_ID, image_size=(32, 32), n_objects=5)
    _, a = e.reset(seed=7)
    _, b = e.reset(
        seed=7, options={"room": "evaluation", "background": "pink_towel", "lighting": "disco"}
    )
    for name in a["objects"]:
        np.testing.assert_array_equal(a["objects"][name]["pos"], b["objects"][name]["pos"])
    assert (
        b["room"] == "evaluation" and b["background"] == "pink_towel" and b["lighting"] == "disco"
    )
    e.close()


def test_explicit_objects_and_splits():
    e = gym.make(ENV_ID, image_size=(32, 32), split="unseen_subset", n_objects=3)
    lib = e.unwrapped.library
    names = [o.name for o in lib.split("unseen_subset")[:3]]
    _, info = e.reset(seed=0, options={"objects": names, "target": names[2]})
    assert sorted(info["objects"]) == sorted(names) and info["target"] == names[2]
    assert e.unwrapped.instruction == f"grasp the {names[2]}"
    subset = {o.name for o in lib.split("unseen_subset")}
    for s in range(3):
        _, info = e.reset(seed=s)
        assert set(info["objects"]) <= subset and info["split"] == "unseen_subset"
    e.close()


def test_table_mask_and_metadata(env):
    import json

    env.reset(seed=0, options={"background": "calibration_board"})
    u = env.unwrapped
    table = u.table_mask()
    assert table.shape == (96, 128) and 0.1 < table.mean() < 0.9
    assert not (table & (u.segmentation() >= 0)).any()
    meta = json.loads(json.dumps(u.scene_metadata()))
    assert meta["target"] == u.target_name and len(meta["objects"]) == 4
    assert {"name", "category", "color_name", "mass", "spawn_pos"} <= set(meta["objects"][0])


def test_disco_lights_sweep_and_white_light_is_static():
    for lighting, moves in (("disco", True), ("white", False)):
        e = gym.make(ENV_ID, image_size=(48, 64), n_objects=2, lighting=lighting)
        e.reset(seed=0)
        u = e.unwrapped
        dirs0 = u.model.light_dir.copy()
        for _ in range(10):
            e.step(robot.HOME_QPOS)
        assert (np.abs(u.model.light_dir - dirs0).max() > 0.1) == moves, lighting
        e.close()


def test_get_state_set_state_replays_exactly():
    """A snapshot restored mid-episode replays the same actions to the same states, counters
    and observations; a snapshot from another scene is refused."""
    e = gym.make(ENV_ID, image_size=(32, 32), n_objects=3, lighting="disco")
    u = e.unwrapped
    obs, _ = e.reset(seed=4, options={"scene_seed": 4})
    rng = np.random.default_rng(0)
    home = obs[C.OBS_STATE].astype(np.float64)
    actions = [home + rng.normal(0, 0.05, 13) for _ in range(6)]
    for a in actions[:2]:
        obs_at_2 = e.step(a)[0]
    snap = u.get_state()
    first = [e.step(a) for a in actions[2:]]
    obs_back, info_back = u.set_state(snap)
    assert info_back["step"] == 2
    for k in (C.OBS_MASK, C.OBS_STATE):
        assert np.array_equal(obs_back[k], obs_at_2[k]), k
    # Images: ``step`` renders one physics substep behind the state, ``set_state`` at it;
    # the disco lights stand where they stood at step 2.
    for k, tol in ((C.OBS_HEAD, 0.5), (C.OBS_WRIST, 5.0)):
        assert np.abs(obs_back[k].astype(float) - obs_at_2[k]).mean() < tol, k
    again = [e.step(a) for a in actions[2:]]
    for (o1, _, t1, tr1, i1), (o2, _, t2, tr2, i2) in zip(first, again, strict=True):
        assert np.array_equal(o1[C.OBS_STATE], o2[C.OBS_STATE])
        assert np.array_equal(o1[C.OBS_HEAD], o2[C.OBS_HEAD])
        assert (t1, tr1, i1["step"]) == (t2, tr2, i2["step"])
    other = gym.make(ENV_ID, image_size=(32, 32), n_objects=5)
    other.reset(seed=5, options={"scene_seed": 5})
    with pytest.raises(ValueError, match="another scene"):
        other.unwrapped.set_state(snap)
    e.close()
    other.close()
