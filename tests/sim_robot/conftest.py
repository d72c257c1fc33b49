"""Shared fixtures: a minimal tabletop (floor, table, one box) with the robot."""

from __future__ import annotations

import mujoco
import pytest

from dexgrasp.sim import layout, robot


def build_tabletop(box_pos=(0.6, 0.0), box_half=(0.025, 0.025, 0.05)) -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.worldbody.add_light(pos=[0.3, 0, 3], dir=[0, 0, -1])
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1])
    tx, ty = layout.TABLE_CENTER_XY
    hx, hy = layout.TABLE_HALF_SIZE_XY
    z = layout.TABLE_TOP_Z
    spec.worldbody.add_geom(
        name="table", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[tx, ty, z / 2], size=[hx, hy, z / 2]
    )
    box = spec.worldbody.add_body(name="box", pos=[*box_pos, z + box_half[2] + 0.001])
    box.add_freejoint()
    box.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX, size=list(box_half), mass=0.15, rgba=[0.8, 0.2, 0.2, 1]
    )
    robot.add_robot(spec)
    return spec


@pytest.fixture(scope="session")
def tabletop_model() -> mujoco.MjModel:
    return build_tabletop().compile()
