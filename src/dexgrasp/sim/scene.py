"""Cluttered tabletop scenes: sampling, building into MuJoCo, settling, ground-truth queries.

A scene is a deterministic function of (library, split, n_objects, scene seed, target):
objects are drawn from the split, placed on the table without overlapping footprints,
dropped from a few millimetres and simulated until at rest (``settle``).

    lib = ObjectLibrary(seed=0)
    desc = sample_scene(lib, "train", n_objects=6, seed=3)
    spec = build_spec(desc)          # room, table, lights, camera, objects, robot
    model = spec.compile(); data = mujoco.MjData(model)
    scene = Scene.from_model(desc, model)
    settle(model, data, scene)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from dexgrasp.sim import layout, rooms
from dexgrasp.sim.objects import ObjectLibrary, ObjectSpec, add_object_body, body_name_for

# Nonprehensile scenes: a flat target among graspable distractors of the matching split.
DISTRACTOR_SPLIT = {"nonprehensile_train": "train", "nonprehensile_unseen": "unseen"}
FOOTPRINT_GAP = 0.01  # m between footprint circles
DROP_HEIGHT = 0.003  # m above the table at spawn
_LYING_CATEGORIES = {"bottle": 0.25, "can": 0.2, "tool": 0.15}


@dataclass(frozen=True)
class PlacedObject:
    """An object and its spawn pose (before settling). pos: (3,) m, quat: (4,) w-x-y-z."""

    index: int
    spec: ObjectSpec
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def body_name(self) -> str:
        return body_name_for(self.index, self.spec)


@dataclass(frozen=True)
class SceneDescription:
    """Everything needed to rebuild a scene exactly."""

    seed: int
    split: str
    objects: tuple[PlacedObject, ...]
    target: str
    room: str = "collection"
    background: str = "white_table"
    lighting: str = "white"

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objects]


@dataclass
class SceneObject:
    """A placed object bound to a compiled model: ids for fast state access."""

    index: int
    spec: ObjectSpec
    body_name: str
    body_id: int
    geom_ids: np.ndarray  # all geoms of the body (collision + visual)
    collision_geom_ids: np.ndarray
    qpos_adr: int  # 7 entries: pos (3) + quat (4)
    qvel_adr: int  # 6 entries
    removed: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Scene:
    """A scene description plus model ids: what ``env.unwrapped.scene`` exposes."""

    description: SceneDescription
    objects: list[SceneObject]
    geom_to_object: np.ndarray  # (ngeom,) int32: object index, -1 for non-object geoms
    robot_body_mask: np.ndarray  # (nbody,) bool: bodies of the robot
    settle_time: float = 0.0
    by_name: dict[str, SceneObject] = field(default_factory=dict)

    @classmethod
    def from_model(cls, desc: SceneDescription, model: mujoco.MjModel) -> Scene:
        objs, g2o = [], np.full(model.ngeom, -1, np.int32)
        for p in desc.objects:
            bid = model.body(p.body_name).id
            geoms = np.flatnonzero(model.geom_bodyid == bid)
            coll = geoms[(model.geom_contype[geoms] | model.geom_conaffinity[geoms]) > 0]
            jid = model.body_jntadr[bid]
            objs.append(
                SceneObject(
                    p.index,
                    p.spec,
                    p.body_name,
                    bid,
                    geoms,
                    coll,
                    int(model.jnt_qposadr[jid]),
                    int(model.jnt_dofadr[jid]),
                )
            )
            g2o[geoms] = p.index
        robot_mask = np.zeros(model.nbody, bool)
        try:
            root = model.body("robot_base").id
            robot_mask = model.body_rootid == root
        except KeyError:
            pass
        return cls(desc, objs, g2o, robot_mask, by_name={o.name: o for o in objs})

    def get(self, name: str) -> SceneObject:
        if name not in self.by_name:
            raise KeyError(f"object {name!r} is not in this scene; objects: {sorted(self.by_name)}")
        return self.by_name[name]


# -- sampling --------------------------------------------------------------------------
def _yaw_quat(yaw: float, lying: bool) -> np.ndarray:
    qz = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    if not lying:
        return qz
    qx = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0])  # object y -> world z
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, qz, qx)
    return out


def sample_scene(
    library: ObjectLibrary,
    split: str = "train",
    n_objects: int = 6,
    seed: int = 0,
    target: str | None = None,
    objects: list[str] | None = None,
    room: str = "collection",
    background: str = "white_table",
    lighting: str = "white",
) -> SceneDescription:
    """Sample a cluttered scene of ``n_objects`` objects from ``split``.

    target: name of the target (must be in the scene; added if not drawn); default random.
    objects: explicit object names (overrides drawing from the split).
    """
    if n_objects < 1 or n_objects > 12:
        raise ValueError(f"n_objects must be in [1, 12], got {n_objects}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    pool = library.split(split)
    if objects is not None:
        chosen = [library.get(n) for n in objects]
        if len({o.name for o in chosen}) != len(chosen):
            raise ValueError(f"objects contains duplicates: {objects}")
    else:
        if split in DISTRACTOR_SPLIT:  # one flat target + graspable distractors
            flat = library.get(target) if target is not None else pool[rng.integers(len(pool))]
            others = library.split(DISTRACTOR_SPLIT[split])
            idx = rng.choice(len(others), n_objects - 1, replace=False)
            chosen = [flat] + [others[i] for i in idx]
        else:
            idx = rng.choice(len(pool), min(n_objects, len(pool)), replace=False)
            chosen = [pool[i] for i in idx]
            if target is not None and target not in [o.name for o in chosen]:
                chosen[0] = library.get(target)
    if target is None:
        target = (
            chosen[0].name
            if split in DISTRACTOR_SPLIT and objects is None
            else chosen[rng.integers(len(chosen))].name
        )
    if target not in [o.name for o in chosen]:
        raise ValueError(
            f"target {target!r} is not among the scene objects {[o.name for o in chosen]}"
        )
    placed = _place(chosen, rng)
    return SceneDescription(int(seed), split, tuple(placed), target, room, background, lighting)


def _obb_overlap(a: tuple, b: tuple, gap: float) -> bool:
    """Whether two 2D oriented boxes (centre (2,), half extents (2,), yaw) come closer than gap."""
    (ca, ha, ya), (cb, hb, yb) = a, b
    axes_a = np.array([[np.cos(ya), np.sin(ya)], [-np.sin(ya), np.cos(ya)]])
    axes_b = np.array([[np.cos(yb), np.sin(yb)], [-np.sin(yb), np.cos(yb)]])
    d = cb - ca
    for axis in np.concatenate([axes_a, axes_b]):
        ra = np.sum(ha * np.abs(axes_a @ axis))
        rb = np.sum(hb * np.abs(axes_b @ axis))
        if abs(d @ axis) > ra + rb + gap:
            return False  # separating axis found
    return True


def _place(
    chosen: list[ObjectSpec], rng: np.random.Generator, attempts: int = 30
) -> list[PlacedObject]:
    """Non-overlapping oriented footprints inside the workspace, largest objects first."""
    order = sorted(range(len(chosen)), key=lambda i: -max(chosen[i].size[:2]))
    lying = {
        i: chosen[i].height > 2 * chosen[i].width
        and rng.uniform() < _LYING_CATEGORIES.get(chosen[i].category, 0.0)
        for i in order
    }
    (x0, x1), (y0, y1) = layout.WORKSPACE_X, layout.WORKSPACE_Y
    tx, ty = layout.TABLE_CENTER_XY
    hx, hy = layout.TABLE_HALF_SIZE_XY
    for _ in range(attempts):
        boxes: list[tuple] = []
        poses: dict[int, tuple] = {}
        for i in order:
            w, d, h = chosen[i].size
            horiz, vert = ((w, h), d) if lying[i] else ((w, d), h)
            half = np.array(horiz) / 2
            radius = float(np.linalg.norm(half))
            for _ in range(200):
                xy = rng.uniform([x0, y0], [x1, y1])
                xy = np.clip(
                    xy,
                    [tx - hx + radius + 0.02, ty - hy + radius + 0.02],
                    [tx + hx - radius - 0.02, ty + hy - radius - 0.02],
                )
                yaw = rng.uniform(-np.pi, np.pi)
                if not any(_obb_overlap((xy, half, yaw), b, FOOTPRINT_GAP) for b in boxes):
                    break
            else:
                break  # start over with a fresh arrangement
            boxes.append((xy, half, yaw))
            z = layout.TABLE_TOP_Z + vert / 2 + DROP_HEIGHT
            quat = _yaw_quat(yaw, lying[i])
            poses[i] = ((float(xy[0]), float(xy[1]), float(z)), tuple(float(q) for q in quat))
        if len(poses) == len(chosen):
            return [PlacedObject(i, chosen[i], *poses[i]) for i in range(len(chosen))]
    raise RuntimeError(f"could not place {len(chosen)} objects without overlap; use fewer objects")


# -- building --------------------------------------------------------------------------
def build_spec(
    desc: SceneDescription,
    robot: bool = True,
    shadows: bool = False,
    multisample: bool = False,
    max_image_size: tuple[int, int] = (480, 640),
    head_camera_pos: tuple[float, float, float] | None = None,
    head_camera_lookat: tuple[float, float, float] | None = None,
) -> mujoco.MjSpec:
    """MjSpec with room, table, background, lighting, head camera, objects and the robot.

    The head camera pose defaults to ``rooms.HEAD_CAMERA_POS`` / ``layout.HEAD_CAMERA_LOOKAT``.
    """
    spec = mujoco.MjSpec()
    spec.compiler.degree = False
    spec.modelname = "dexgrasp_tabletop"
    spec.visual.quality.offsamples = 4 if multisample else 0
    spec.visual.quality.shadowsize = 2048 if shadows else 1024
    spec.visual.global_.offheight = max(480, int(max_image_size[0]))
    spec.visual.global_.offwidth = max(640, int(max_image_size[1]))
    rooms.add_room(spec, desc.room)
    rooms.add_background(spec, desc.background)
    rooms.add_lighting(spec, desc.lighting, shadows=shadows)
    rooms.add_head_camera(spec, head_camera_pos, head_camera_lookat)
    for p in desc.objects:
        add_object_body(spec, p.spec, p.body_name, p.pos, p.quat)
    if robot:
        from dexgrasp.sim.robot import add_robot

        add_robot(spec)
    return spec


# -- state and ground truth ------------------------------------------------------------
def lowest_points(model: mujoco.MjModel, data: mujoco.MjData, geom_ids: np.ndarray) -> np.ndarray:
    """World z (m) of the lowest point of each geom in ``geom_ids`` (exact for primitives)."""
    out = np.empty(len(geom_ids))
    for k, g in enumerate(geom_ids):
        R = data.geom_xmat[g].reshape(3, 3)
        c = data.geom_xpos[g]
        s = model.geom_size[g]
        t = model.geom_type[g]
        rz = R[2]  # world-z row: z component of each local axis
        if t == mujoco.mjtGeom.mjGEOM_SPHERE:
            out[k] = c[2] - s[0]
        elif t == mujoco.mjtGeom.mjGEOM_CAPSULE:
            out[k] = c[2] - abs(rz[2]) * s[1] - s[0]
        elif t == mujoco.mjtGeom.mjGEOM_CYLINDER:
            out[k] = c[2] - abs(rz[2]) * s[1] - s[0] * np.sqrt(max(0.0, 1 - rz[2] ** 2))
        elif t == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
            out[k] = c[2] - np.sqrt(np.sum((rz * s) ** 2))
        elif t == mujoco.mjtGeom.mjGEOM_BOX:
            out[k] = c[2] - np.sum(np.abs(rz) * s)
        elif t == mujoco.mjtGeom.mjGEOM_MESH:
            m = model.geom_dataid[g]
            a, n = model.mesh_vertadr[m], model.mesh_vertnum[m]
            out[k] = c[2] + np.min(model.mesh_vert[a : a + n] @ rz)
        else:
            out[k] = c[2]
    return out


def object_heights(model: mujoco.MjModel, data: mujoco.MjData, scene: Scene) -> dict[str, float]:
    """Height (m) of each object's lowest point above the table surface."""
    return {
        o.name: float(lowest_points(model, data, o.collision_geom_ids).min() - layout.TABLE_TOP_Z)
        for o in scene.objects
    }


def touching_robot(model: mujoco.MjModel, data: mujoco.MjData, scene: Scene, body_id: int) -> bool:
    """Whether body ``body_id`` is in contact with any body of the robot (vectorised over the
    active contacts: cheap enough to ask every control step)."""
    if data.ncon == 0:
        return False
    bodies = model.geom_bodyid[data.contact.geom]  # (ncon, 2)
    mask = scene.robot_body_mask
    b1, b2 = bodies[:, 0], bodies[:, 1]
    return bool(np.any(((b1 == body_id) & mask[b2]) | ((b2 == body_id) & mask[b1])))


def object_speeds(data: mujoco.MjData, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """(linear m/s, angular rad/s) speeds of every object, shapes (n,), (n,)."""
    v = np.stack([data.qvel[o.qvel_adr : o.qvel_adr + 6] for o in scene.objects])
    return np.linalg.norm(v[:, :3], axis=1), np.linalg.norm(v[:, 3:], axis=1)


def settle(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    scene: Scene,
    max_time: float = 3.0,
    min_time: float = 0.3,
    lin_tol: float = 0.005,
    ang_tol: float = 0.05,
) -> float:
    """Simulate (controls unchanged) until every object is at rest; returns seconds simulated.

    At rest = linear speed < ``lin_tol`` m/s and angular speed < ``ang_tol`` rad/s. Object
    velocities are zeroed at the end so episodes start from a still scene.
    """
    t0 = data.time
    chunk = max(1, int(round(0.02 / model.opt.timestep)))
    while data.time - t0 < max_time:
        mujoco.mj_step(model, data, nstep=chunk)
        if data.time - t0 >= min_time:
            lin, ang = object_speeds(data, scene)
            if lin.max() < lin_tol and ang.max() < ang_tol:
                break
    for o in scene.objects:
        data.qvel[o.qvel_adr : o.qvel_adr + 6] = 0.0
    mujoco.mj_forward(model, data)
    return float(data.time - t0)


def penetrations(
    model: mujoco.MjModel, data: mujoco.MjData, scene: Scene
) -> list[tuple[str, str, float]]:
    """Contacts involving objects as (name1, name2, distance m); negative = penetration.

    Non-object geoms are named by their geom name or 'geom<id>'.
    """

    def label(g: int) -> str:
        i = scene.geom_to_object[g]
        return scene.objects[i].name if i >= 0 else (model.geom(g).name or f"geom{g}")

    out = []
    for c in data.contact[: data.ncon]:
        if scene.geom_to_object[c.geom1] >= 0 or scene.geom_to_object[c.geom2] >= 0:
            out.append((label(c.geom1), label(c.geom2), float(c.dist)))
    return out


def on_table(
    model: mujoco.MjModel, data: mujoco.MjData, scene: Scene, margin: float = 0.0
) -> dict[str, bool]:
    """Whether each object's centre lies over the table top and above its surface."""
    tx, ty = layout.TABLE_CENTER_XY
    hx, hy = layout.TABLE_HALF_SIZE_XY
    heights = object_heights(model, data, scene)
    out = {}
    for o in scene.objects:
        x, y = data.xpos[o.body_id][:2]
        out[o.name] = bool(
            abs(x - tx) < hx - margin and abs(y - ty) < hy - margin and heights[o.name] > -0.01
        )
    return out


# -- rendering -------------------------------------------------------------------------
class SceneRenderer:
    """Offscreen renderer that survives model changes.

    ``mujoco.Renderer`` creates a new OpenGL context per model; with software rendering
    (llvmpipe) that costs most of a reset. This keeps one GL context for its lifetime and
    only rebuilds MuJoCo's render context (``set_model``) when the scene changes.
    """

    def __init__(self, max_geom: int = 2000) -> None:
        from mujoco import gl_context

        if gl_context.GLContext is None:  # pragma: no cover - depends on the platform
            raise RuntimeError("no OpenGL backend: set MUJOCO_GL=egl (headless) or osmesa")
        self._gl = gl_context.GLContext(64, 64)  # rendering goes to MuJoCo's offscreen buffer
        self._ctx: mujoco.MjrContext | None = None
        self._scene: mujoco.MjvScene | None = None
        self._model: mujoco.MjModel | None = None
        self._option = mujoco.MjvOption()
        self._max_geom = max_geom

    def set_model(self, model: mujoco.MjModel) -> None:
        """Upload ``model``'s meshes and textures; call after every recompile."""
        self._gl.make_current()
        if self._ctx is not None:
            self._ctx.free()
        self._ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._ctx)
        self._scene = mujoco.MjvScene(model, maxgeom=self._max_geom)
        self._model = model

    def render(
        self,
        data: mujoco.MjData,
        camera: str,
        size: tuple[int, int],
        segmentation: bool = False,
        shadows: bool = False,
    ) -> np.ndarray:
        """(H, W, 3) uint8 image of ``camera``, or with ``segmentation`` an (H, W, 2) int32
        map of (object id, object type), -1 where nothing is drawn."""
        m = self._model
        if m is None or self._ctx is None or self._scene is None:
            raise RuntimeError("SceneRenderer.set_model must be called before render")
        h, w = size
        if h > m.vis.global_.offheight or w > m.vis.global_.offwidth:
            raise ValueError(
                f"image size {size} exceeds the offscreen buffer "
                f"({m.vis.global_.offheight}, {m.vis.global_.offwidth}); pass a larger image_size"
            )
        self._gl.make_current()
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        cam.fixedcamid = m.cam(camera).id
        mujoco.mjv_updateScene(
            m, data, self._option, None, cam, mujoco.mjtCatBit.mjCAT_ALL, self._scene
        )
        flags = self._scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = shadows and not segmentation
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = segmentation
        flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = segmentation
        rect = mujoco.MjrRect(0, 0, w, h)
        mujoco.mjr_render(rect, self._scene, self._ctx)
        rgb = np.empty((h, w, 3), np.uint8)
        mujoco.mjr_readPixels(rgb, None, rect, self._ctx)
        rgb = np.flipud(rgb)
        if not segmentation:
            return np.ascontiguousarray(rgb)
        # The colour of a pixel encodes (segid + 1) of the scene geom drawn there; 0 = none.
        code = (
            rgb[..., 0].astype(np.int32)
            | (rgb[..., 1].astype(np.int32) << 8)
            | (rgb[..., 2].astype(np.int32) << 16)
        )
        n = self._scene.ngeom
        lut = np.full((n + 2, 2), -1, np.int32)
        for i in range(n):
            g = self._scene.geoms[i]
            if g.segid >= 0:
                lut[g.segid + 1] = (g.objid, g.objtype)
        return lut[np.clip(code, 0, n + 1)]

    def close(self) -> None:
        if self._ctx is not None:
            self._gl.make_current()
            self._ctx.free()
            self._ctx = None
        if self._gl is not None:
            self._gl.free()
            self._gl = None
