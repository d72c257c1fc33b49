"""Object extents for grasp planning: an oriented bounding box from a body's collision geoms."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


class PlanningError(RuntimeError):
    """No feasible grasp was found for the target."""


@dataclass
class ObjectBox:
    """Oriented bounding box of an object in the world frame (metres)."""

    center: np.ndarray  # (3,)
    axes: np.ndarray  # (3, 3) columns: narrow horizontal, long horizontal, up
    half: np.ndarray  # (3,) half-extents along those axes


def _geom_support(model: mujoco.MjModel, g: int, u: np.ndarray) -> np.ndarray:
    """(K,) support of geom ``g`` along the K unit directions ``u`` (K, 3) given in the geom
    frame: how far the geom reaches along each, from the geom centre (m). Exact per shape
    (mesh vertices for meshes), so rotated meshes and ellipsoids are not inflated."""
    size = model.geom_size[g]
    t = model.geom_type[g]
    if t == mujoco.mjtGeom.mjGEOM_SPHERE:
        return np.full(len(u), size[0])
    if t == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        return np.linalg.norm(u * size, axis=1)
    if t == mujoco.mjtGeom.mjGEOM_BOX:
        return np.abs(u) @ size
    if t == mujoco.mjtGeom.mjGEOM_CYLINDER:
        return size[0] * np.hypot(u[:, 0], u[:, 1]) + size[1] * np.abs(u[:, 2])
    if t == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return size[0] + size[1] * np.abs(u[:, 2])
    if t == mujoco.mjtGeom.mjGEOM_MESH and model.geom_dataid[g] >= 0:
        mid = model.geom_dataid[g]
        adr, num = model.mesh_vertadr[mid], model.mesh_vertnum[mid]
        return (model.mesh_vert[adr : adr + num] @ u.T).max(0)
    # Anything else: the corners of its bounding box in the geom frame.
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    c, h = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
    return ((c + signs * h) @ u.T).max(0)


def object_box(model: mujoco.MjModel, data: mujoco.MjData, body_id: int) -> ObjectBox:
    """Oriented bounding box of the collision geoms of ``body_id``, from its current pose.

    The box is aligned with the body frame; its extent along each body axis is the exact
    support of the geoms (see ``_geom_support``).
    """
    rot = data.xmat[body_id].reshape(3, 3)
    dirs = np.concatenate([rot.T, -rot.T])  # (6, 3) world: +x, +y, +z, -x, -y, -z of the body
    reach = np.full(6, -np.inf)
    found = False
    for g in range(model.ngeom):
        if model.geom_bodyid[g] != body_id or model.geom_contype[g] == 0:
            continue
        found = True
        gm = data.geom_xmat[g].reshape(3, 3)
        offset = dirs @ (data.geom_xpos[g] - data.xpos[body_id])
        reach = np.maximum(reach, offset + _geom_support(model, g, dirs @ gm))
    if not found:
        raise PlanningError(f"body {model.body(body_id).name!r} has no collision geoms")
    hi, lo = reach[:3], -reach[3:]
    # The object axis most aligned with world z is "up"; the others are ordered narrow, long.
    up = int(np.argmax(np.abs(rot[2])))
    others = [i for i in range(3) if i != up]
    half = (hi - lo) / 2
    center = data.xpos[body_id] + rot @ ((hi + lo) / 2)
    if half[others[0]] > half[others[1]]:
        others.reverse()
    axes = rot[:, [others[0], others[1], up]].copy()
    axes[:, 2] *= np.sign(axes[2, 2]) or 1.0
    # Make the horizontal axes exactly horizontal (objects may be slightly tilted).
    for k in range(2):
        axes[2, k] = 0.0
        norm = np.linalg.norm(axes[:, k])
        axes[:, k] = axes[:, k] / norm if norm > 1e-6 else np.eye(3)[:, k]
    return ObjectBox(center, axes, half[[others[0], others[1], up]])
