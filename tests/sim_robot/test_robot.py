"""The robot model: names, limits, servos, coupling, cameras, named poses."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from dexgrasp.constants import JOINT_NAMES
from dexgrasp.sim import layout, robot


def _settle(model, data, ctrl, seconds=1.0):
    data.ctrl[:] = ctrl
    for _ in range(int(seconds / model.opt.timestep)):
        mujoco.mj_step(model, data)


def test_actuators_named_and_ordered(tabletop_model):
    m = tabletop_model
    assert m.nu == len(JOINT_NAMES) == 13
    for i, name in enumerate(JOINT_NAMES):
        assert m.actuator(i).name == name
        assert m.actuator_trnid[i, 0] == m.joint(name).id
    assert m.camera("wrist").id >= 0
    assert m.site("palm").id >= 0


def test_joint_limits_match_model(tabletop_model):
    lim = robot.joint_limits()
    assert lim.shape == (13, 2)
    assert np.all(lim[:, 0] < lim[:, 1])
    for i, name in enumerate(JOINT_NAMES):
        np.testing.assert_allclose(tabletop_model.jnt_range[tabletop_model.joint(name).id], lim[i])
        np.testing.assert_allclose(tabletop_model.actuator_ctrlrange[i], lim[i])
    assert np.all(lim[:, 0] <= robot.HOME_QPOS) and np.all(lim[:, 1] >= robot.HOME_QPOS)


def test_base_at_layout_position(tabletop_model):
    d = mujoco.MjData(tabletop_model)
    mujoco.mj_forward(tabletop_model, d)
    np.testing.assert_allclose(d.body("robot_base").xpos, layout.ROBOT_BASE_POS, atol=1e-9)


def test_home_pose_holds_without_sag(tabletop_model):
    m = tabletop_model
    d = mujoco.MjData(m)
    robot.set_robot_qpos(m, d, robot.HOME_QPOS)
    _settle(m, d, robot.HOME_QPOS, 1.0)
    q = d.qpos[robot.joint_qpos_adr(m)]
    np.testing.assert_allclose(q, robot.HOME_QPOS, atol=0.01)


def test_fingers_are_coupled(tabletop_model):
    m = tabletop_model
    d = mujoco.MjData(m)
    robot.set_robot_qpos(m, d, robot.HOME_QPOS)
    target = robot.HOME_QPOS.copy()
    target[JOINT_NAMES.index("middle")] = 1.0
    _settle(m, d, target, 0.5)
    mcp = d.joint("middle").qpos[0]
    assert mcp == pytest.approx(1.0, abs=0.05)
    expected = robot.coupled_qpos(d.qpos[robot.joint_qpos_adr(m)][7:])
    assert d.joint("middle_pip").qpos[0] == pytest.approx(expected["middle_pip"], abs=0.03)
    assert d.joint("middle_dip").qpos[0] == pytest.approx(expected["middle_dip"], abs=0.03)
    assert d.joint("index").qpos[0] == pytest.approx(0.0, abs=0.02)  # others stay open


def test_place_pose_reaches_drop_zone(tabletop_model):
    m = tabletop_model
    d = mujoco.MjData(m)
    q = robot.place_qpos()
    assert q.shape == (13,)
    robot.set_robot_qpos(m, d, q)
    mujoco.mj_forward(m, d)
    np.testing.assert_allclose(d.site("palm").xpos, layout.PLACE_POS, atol=0.01)
    assert d.site("palm").xmat.reshape(3, 3)[2, 0] < -0.95  # palm faces down


def test_wrist_camera_renders(tabletop_model):
    m = tabletop_model
    d = mujoco.MjData(m)
    robot.set_robot_qpos(m, d, robot.HOME_QPOS)
    mujoco.mj_forward(m, d)
    with mujoco.Renderer(m, 64, 64) as r:
        r.update_scene(d, "wrist")
        img = r.render()
    assert img.shape == (64, 64, 3)
    assert img.std() > 1.0  # not a blank frame


def test_set_robot_qpos_rejects_bad_shape(tabletop_model):
    d = mujoco.MjData(tabletop_model)
    with pytest.raises(ValueError, match="shape"):
        robot.set_robot_qpos(tabletop_model, d, np.zeros(12))
