"""Damped-least-squares IK on the palm site."""

from __future__ import annotations

import numpy as np
import pytest

from dexgrasp.sim import layout, robot
from dexgrasp.sim.ik import ArmIK, IKConfig, palm_rotation


@pytest.fixture(scope="module")
def ik(tabletop_model):
    return ArmIK(tabletop_model)


def test_palm_rotation_is_a_rotation():
    rot = palm_rotation([0, 0, -1], [1, 0.2, 0.3])
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(rot[:, 0], [0, 0, -1])
    with pytest.raises(ValueError, match="parallel"):
        palm_rotation([0, 0, 1], [0, 0, 2])


@pytest.mark.parametrize("x", layout.WORKSPACE_X)
@pytest.mark.parametrize("y", layout.WORKSPACE_Y)
def test_top_grasps_reach_workspace_corners(ik, x, y):
    target = np.array([x, y, layout.TABLE_TOP_Z + 0.06])
    rot = palm_rotation([0, 0, -1], [x, y, 0])
    res = ik.solve(target, rot)
    assert res.success, res
    pos, cur = ik.forward(res.qpos)
    assert np.linalg.norm(pos - target) < 0.006
    assert np.abs(cur - rot).max() < 0.06
    lim = robot.joint_limits()[:7]
    assert np.all(res.qpos >= lim[:, 0]) and np.all(res.qpos <= lim[:, 1])


def test_side_grasp_reaches_far_edge(ik):
    x, y = layout.WORKSPACE_X[1], 0.0
    res = ik.solve([x, y, layout.TABLE_TOP_Z + 0.08], palm_rotation([1, 0, 0], [0, 1, 0]))
    assert res.success, res


def test_unreachable_target_reports_failure(ik):
    res = ik.solve([3.0, 0.0, 1.0], palm_rotation([0, 0, -1], [1, 0, 0]))
    assert not res.success
    assert res.pos_err > 1.0


def test_bad_inputs_raise(ik):
    with pytest.raises(ValueError, match="finite"):
        ik.solve([np.nan, 0, 1])
    with pytest.raises(ValueError, match="damping"):
        IKConfig(damping=0.0)
    with pytest.raises(ValueError, match="nullspace_gain"):
        IKConfig(nullspace_gain=2.0)


def test_solver_does_not_touch_simulation_state(tabletop_model):
    import mujoco

    d = mujoco.MjData(tabletop_model)
    before = d.qpos.copy()
    ArmIK(tabletop_model).solve([0.6, 0.0, 0.9])
    np.testing.assert_array_equal(d.qpos, before)


def test_wrist_pitch_bound_keeps_one_wrist_branch(tabletop_model):
    """From a seed on the flipped wrist branch, the bounded solver still ends on the home one."""
    target = np.array([0.45, 0.1, layout.TABLE_TOP_Z + 0.08])
    rot = palm_rotation([0, 0, -1], [0.3, 1.0, 0])
    flipped = np.array(robot.IK_REST_ARM)
    flipped[4] += np.pi / 2
    flipped[5] = -1.0
    free = ArmIK(tabletop_model).solve(target, rot, q_init=flipped)
    bounded = ArmIK(tabletop_model, config=IKConfig(wrist_pitch_min=0.1))
    res = bounded.solve(target, rot, q_init=flipped)
    assert free.success and free.qpos[5] < 0  # without the bound it stays flipped
    assert res.success and res.qpos[5] >= 0.1


def test_settling_moves_towards_rest_without_losing_the_pose(tabletop_model):
    target = np.array([0.5, -0.15, layout.TABLE_TOP_Z + 0.1])
    rot = palm_rotation([0, 0, -1], [1.0, 0.0, 0])
    seed = np.array(robot.IK_REST_ARM) + np.array([0.0, 0.0, 0.8, 0.0, 0.0, 0.0, 0.0])
    plain = ArmIK(tabletop_model).solve(target, rot, q_init=seed)
    settled_ik = ArmIK(tabletop_model, config=IKConfig(settle_iters=40))
    settled = settled_ik.solve(target, rot, q_init=seed)
    assert plain.success and settled.success
    rest = np.asarray(robot.IK_REST_ARM)
    gain = np.linalg.norm(plain.qpos - rest) - np.linalg.norm(settled.qpos - rest)
    assert gain > 1e-3  # small: the nullspace drift during the search already does most
    pos, _ = settled_ik.forward(settled.qpos)
    assert np.linalg.norm(pos - target) < 0.006
    with pytest.raises(ValueError, match="settle_iters"):
        IKConfig(settle_iters=-1)
