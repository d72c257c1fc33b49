"""The runtime end to end in the MuJoCo world: oracle planner, ground-truth perception,
scripted expert, a 2-object scene."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from dexgrasp.constants import OBS_HEAD, OBS_STATE, OBS_WRIST  # noqa: E402
from dexgrasp.vla.planner.oracle import SceneTruth  # noqa: E402
from dexgrasp.vla.runtime.protocols import Robot  # noqa: E402

# The sim's proposed head-camera pose (tests/sim_world): used while the default pose is
# blocked by the arm at home (docs/sim.md "Known issues").
PROPOSED_CAMERA = {"head_camera_pos": (-0.25, 0.30, 0.75 + 0.80)}


def _camera_kwargs() -> dict:
    from dexgrasp.vla.runtime.sim_robot import SimRobot

    probe = SimRobot.make(1, n_objects=2, image_size=(120, 160))
    visible = sum(o.box is not None for o in probe.objects())
    probe.close()
    return {} if visible == 2 else PROPOSED_CAMERA


@pytest.fixture(scope="module")
def env_kwargs() -> dict:
    return _camera_kwargs()


@pytest.fixture(scope="module")
def robot(env_kwargs):
    from dexgrasp.vla.runtime.sim_robot import SimRobot

    with SimRobot.make(1, n_objects=2, image_size=(120, 160), **env_kwargs) as r:
        yield r


def test_sim_robot_protocols_and_truth(robot):
    assert isinstance(robot, Robot) and isinstance(robot, SceneTruth)
    obs = robot.observe()
    assert obs[OBS_HEAD].shape == (120, 160, 3) and obs[OBS_WRIST].shape == (120, 160, 3)
    assert obs[OBS_STATE].shape == (13,) and obs[OBS_STATE].dtype == np.float32
    assert OBS_HEAD not in robot.observe(images=False)
    truth = robot.objects()
    assert len(truth) == 2 and all(o.on_table and abs(o.lift_m) < 0.02 for o in truth)
    assert all(o.box is not None for o in truth)
    masks = robot.object_masks()
    for o in truth:
        if o.box is not None:
            x1, y1, x2, y2 = o.box
            assert masks[o.name][y1:y2, x1:x2].sum() == masks[o.name].sum() > 0
    with pytest.raises(ValueError, match="pose"):
        robot.move_to("kitchen")
    with pytest.raises(Exception, match="13"):
        robot.send_action(np.zeros(12))


def test_table_region_covers_objects(robot):
    from dexgrasp.vla.runtime.sim_robot import table_region, table_x_range

    region = table_region(robot)
    inside = region.mask(120, 160)
    for o in robot.objects():
        if o.box is not None:
            cx, cy = (o.box[0] + o.box[2]) // 2, (o.box[1] + o.box[3]) // 2
            assert inside[cy, cx]
    lo, hi = table_x_range(robot)
    assert 0 <= lo < hi <= 160


def test_clear_the_table_end_to_end(tmp_path, env_kwargs):
    from dexgrasp.vla.runtime import RuntimeConfig, run_in_sim

    result, out, summary = run_in_sim(
        "clear the table",
        scene_seed=1,
        n_objects=2,
        out=tmp_path / "run",
        video=False,  # video writing: tests/runtime/test_loop.py and the CLI test
        image_size=(120, 160),
        env_kwargs=env_kwargs,
        config=RuntimeConfig(attempt_steps=100, max_attempts=3),
    )
    # Whether the scripted expert manages each grasp is the simulator's business (measured by
    # bench/bench_runtime.py); here: the loop ran, the oracle was right, the records agree.
    assert result.attempts and result.reason in (
        "completed",
        "object_attempt_budget",
        "attempt_budget",
    )
    assert all(v["accuracy"] == 1.0 for v in summary["accuracy"].values()), summary["accuracy"]
    assert summary["wrong_picks"] == []
    # Only the place motion puts objects in the drop zone; a picked object can still slip out
    # of the hand on the way (how often: bench/bench_runtime.py, docs/runtime.md).
    placed = {n for n, s in summary["object_status"].items() if s == "placed"}
    assert placed and placed <= set(result.picked), (placed, result.picked)
    status = summary["object_status"]
    assert summary["gt_success"] == all(status[n] == "placed" for n in summary["expected_targets"])
    if result.completed:  # the oracle declares completion only with nothing left on the table
        assert "on_table" not in status.values(), status
    assert not (out / "video.mp4").exists()
    assert len(list((out / "planner").glob("*.png"))) >= 4
    saved = json.loads((out / "summary.json").read_text())
    assert saved["object_status"] == summary["object_status"]
    assert saved["n_grasped"] == len(result.picked)
