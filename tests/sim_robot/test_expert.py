"""The scripted expert: object boxes, plans, and a real grasp in a minimal tabletop."""

from __future__ import annotations

import copy

import mujoco
import numpy as np
import pytest

from dexgrasp.constants import EPISODE_STEPS
from dexgrasp.sim import layout, robot
from dexgrasp.sim.expert import (
    ExpertConfig,
    PlanningError,
    ScriptedExpert,
    object_box,
    pose_distance,
)
from dexgrasp.sim.ik import interpolate_rotation, rotation_angle

from .conftest import build_tabletop


def _scene(box_pos=(0.6, 0.05), box_half=(0.025, 0.03, 0.045)):
    m = build_tabletop(box_pos, box_half).compile()
    d = mujoco.MjData(m)
    robot.set_robot_qpos(m, d, robot.HOME_QPOS)
    d.ctrl[:] = robot.HOME_QPOS
    mujoco.mj_step(m, d, nstep=100)
    return m, d


def test_object_box_matches_geometry():
    m, d = _scene(box_half=(0.02, 0.04, 0.05))
    box = object_box(m, d, m.body("box").id)
    np.testing.assert_allclose(np.sort(box.half), [0.02, 0.04, 0.05], atol=2e-3)
    assert box.half[0] <= box.half[1]  # narrow axis first
    assert box.center[2] == pytest.approx(layout.TABLE_TOP_Z + 0.05, abs=3e-3)
    np.testing.assert_allclose(box.axes.T @ box.axes, np.eye(3), atol=1e-6)


@pytest.mark.parametrize("kind", ["mesh", "ellipsoid"])
def test_object_box_is_tight_for_rotated_round_geoms(kind):
    """Geoms whose frame is rotated inside the body (MuJoCo aligns meshes with their
    principal axes) must not inflate the box: the corners of a rotated geom AABB would."""
    spec = mujoco.MjSpec()
    body = spec.worldbody.add_body(name="fruit", pos=[0.6, 0.0, 0.8])
    radii = np.array([0.03, 0.035, 0.04])
    quat = np.array([0.9, 0.3, 0.2, 0.25])
    quat /= np.linalg.norm(quat)
    if kind == "mesh":
        rng = np.random.default_rng(0)
        v = rng.normal(size=(300, 3))
        v = v / np.linalg.norm(v, axis=1, keepdims=True) * radii
        spec.add_mesh(name="hull", uservert=v.reshape(-1).tolist())
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname="hull")
    else:
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_ELLIPSOID, size=radii.tolist(), quat=quat)
    m = spec.compile()
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    box = object_box(m, d, m.body("fruit").id)
    # Exact extents of the geom along the body (world) axes.
    g = 0
    rot = d.geom_xmat[g].reshape(3, 3)
    if kind == "mesh":
        adr, num = m.mesh_vertadr[0], m.mesh_vertnum[0]
        pts = d.geom_xpos[g] + m.mesh_vert[adr : adr + num] @ rot.T
        expect = (pts.max(0) - pts.min(0)) / 2
    else:
        expect = np.linalg.norm(rot * radii, axis=1)  # support of an ellipsoid along x, y, z
    np.testing.assert_allclose(np.sort(2 * box.half), np.sort(2 * expect), atol=1e-4)


def test_plan_is_smooth_and_within_limits():
    m, d = _scene()
    actions = ScriptedExpert(m).plan(d, m.body("box").id)
    assert actions.shape == (EPISODE_STEPS, 13) and actions.dtype == np.float32
    lim = robot.joint_limits()
    assert np.all(actions >= lim[:, 0] - 1e-6) and np.all(actions <= lim[:, 1] + 1e-6)
    assert np.abs(np.diff(actions[:, :7], axis=0)).max() < 0.25  # rad per 50 ms step


def test_expert_grasps_and_lifts_a_box():
    m, d = _scene()
    body = m.body("box").id
    z0 = d.xpos[body][2]
    actions = ScriptedExpert(m).plan(d, body)
    for a in actions:
        d.ctrl[:] = a
        mujoco.mj_step(m, d, nstep=25)
    mujoco.mj_step(m, d, nstep=500)  # keep holding for one more second
    assert d.xpos[body][2] - z0 > layout.SUCCESS_LIFT_M


def test_unreachable_object_raises_planning_error():
    m, d = _scene(box_pos=(0.6, 0.0))
    body = m.body("box").id
    d.qpos[m.body_jntadr[body] and m.jnt_qposadr[m.body_jntadr[body]]] = 2.5  # far away
    mujoco.mj_forward(m, d)
    with pytest.raises(PlanningError, match="no reachable"):
        ScriptedExpert(m).plan(d, body)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="episode_steps"):
        ExpertConfig(episode_steps=20)
    with pytest.raises(ValueError, match="hand_close"):
        ExpertConfig(hand_close=(1.0, 1.0))


def test_lookahead_predicts_the_real_outcome_exactly():
    m, d = _scene()
    body = m.body("box").id
    expert = ScriptedExpert(m)
    actions = expert.plan(d, body)
    assert expert.predicted_success is True
    twin = copy.copy(d)  # what the lookahead saw
    for a in actions:
        d.ctrl[:] = a
        mujoco.mj_step(m, d, nstep=25)
        twin.ctrl[:] = a
        mujoco.mj_step(m, twin, nstep=25)
    np.testing.assert_array_equal(d.qpos, twin.qpos)  # deterministic physics


@pytest.mark.parametrize("box_pos", [(0.6, 0.05), (0.5, -0.15)])
def test_top_grasps_have_one_canonical_finger_direction(box_pos):
    """Each pair of mirrored top grasps has exactly one canonical member, and the planner
    prefers it, so the wrist roll follows the object's orientation."""
    m, d = _scene(box_pos=box_pos, box_half=(0.02, 0.03, 0.03))
    expert = ScriptedExpert(m)
    box = object_box(m, d, m.body("box").id)
    tops = [g for g in expert.candidates(box) if g.kind != "side"]
    assert tops and len(tops) % 2 == 0
    for a, b in zip(tops[::2], tops[1::2]):  # candidates come as (fingers, -fingers) pairs
        assert a.canonical != b.canonical
    best = expert.choose(d, m.body("box").id)
    assert best.canonical
    assert best.q_grasp[5] >= ExpertConfig().ik.wrist_pitch_min


def test_aimed_rest_posture_gives_canonical_top_grasps_one_wrist_roll_branch():
    """With the IK rest posture aimed at the grasp (and its wrist roll on the canonical
    branch), every feasible canonical top grasp ends with the wrist roll on the same side,
    and the base turns towards the object: joints follow the scene, not the search."""
    rolls, yaw_err = [], []
    for box_pos in [(0.6, 0.05), (0.5, -0.15), (0.45, 0.2), (0.68, -0.05)]:
        m, d = _scene(box_pos=box_pos, box_half=(0.03, 0.032, 0.03))
        expert = ScriptedExpert(m, ExpertConfig(aim_rest=True))
        grasps = [g for g in expert.ranked(d, m.body("box").id) if g.kind != "side"]
        for g in grasps:
            if g.canonical:
                rolls.append(g.q_grasp[6])
                yaw_err.append(abs(g.q_grasp[0] - np.arctan2(g.pos[1], g.pos[0])))
            assert g.rest is not None
            np.testing.assert_allclose(g.rest, expert.aimed_rest(g.pre_pos, top=True))
    assert len(rolls) >= 8
    assert max(rolls) < -1.5, rolls
    assert max(yaw_err) < 1.0, yaw_err


def test_ik_rest_argument_only_changes_the_nullspace():
    from dexgrasp.sim.ik import ArmIK, IKConfig, palm_rotation

    ik = ArmIK(robot.robot_model(), config=IKConfig(settle_iters=25))
    target, rot = (
        np.array([0.55, 0.1, layout.TABLE_TOP_Z + 0.2]),
        palm_rotation([0, 0, -1], [0, 1, 0]),
    )
    rest = ik.rest.copy()
    rest[0] = 0.9
    a, b = ik.solve(target, rot), ik.solve(target, rot, q_init=rest, rest=rest)
    assert a.success and b.success
    np.testing.assert_allclose(ik.forward(a.qpos)[0], ik.forward(b.qpos)[0], atol=5e-3)
    assert abs(b.qpos[0] - 0.9) < abs(a.qpos[0] - 0.9)  # pulled towards the given rest
    np.testing.assert_array_equal(ik.rest, robot.IK_REST_ARM)  # the solver's own rest unchanged


def test_prefer_picks_the_grasp_nearest_the_given_pose():
    """Continuing a grasp: the planned grasp is the working one nearest the preferred palm
    pose, not the cheapest, and every feasible grasp tried before it was nearer."""
    m, d = _scene()
    body = m.body("box").id
    expert = ScriptedExpert(m)
    ranked = expert.ranked(d, body)
    assert len(ranked) > 1
    far = ranked[-1]  # the most expensive feasible grasp
    expert.plan(d, body, prefer=(far.pos, far.rot))
    chosen = expert.last_grasp
    assert expert.predicted_success is True
    dist = pose_distance(far.pos, far.rot, chosen)
    assert dist <= pose_distance(far.pos, far.rot, ranked[0]) + 1e-9
    expert.plan(d, body)
    assert expert.last_grasp.cost <= chosen.cost  # the default ranking is by cost


def test_direct_approach_goes_straight_from_a_palm_near_the_grasp():
    """From a palm 3 cm above the grasp, ``direct`` moves there on a straight line (no back-off
    to the pre-grasp 10 cm away) and still lifts the box; the default trajectory backs off."""
    m, d = _scene()
    body = m.body("box").id
    expert = ScriptedExpert(m)
    expert.plan(d, body)
    g = expert.last_grasp
    near = expert.ik.solve(g.pos + np.array([0.0, 0.0, 0.03]), g.rot, q_init=g.q_grasp).qpos
    adr = robot.joint_qpos_adr(m)
    d.qpos[adr] = d.ctrl[:13] = np.concatenate([near, g.hand_pre])  # mid-approach, pre-shaped
    mujoco.mj_forward(m, d)
    z0 = d.xpos[body][2]
    direct = expert.trajectory(d, g, direct=True)
    backed = expert.trajectory(d, g)
    top = [expert.ik.forward(a[:7])[0][2] for a in direct[:10]]
    assert max(top) <= g.pos[2] + 0.031  # never rises above where it started
    assert max(expert.ik.forward(a[:7])[0][2] for a in backed[:25]) > g.pos[2] + 0.05
    assert expert.simulate(d, body, direct)
    assert d.xpos[body][2] == pytest.approx(z0)  # simulate works on a copy


def test_interpolate_rotation_ends_and_midpoint():
    a = np.eye(3)
    b = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg z
    np.testing.assert_allclose(interpolate_rotation(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(interpolate_rotation(a, b, 1.0), b, atol=1e-12)
    mid = interpolate_rotation(a, b, 0.5)
    assert rotation_angle(a, mid) == pytest.approx(np.pi / 4)
    assert rotation_angle(mid, b) == pytest.approx(np.pi / 4)
