"""The simulator behind the runtime's protocols: a :class:`Robot`, a :class:`SceneTruth`
for the oracle planner and the judge, and ground-truth masks for perception.

It drives ``dexgrasp/TabletopGrasp-v0`` at the level of its MuJoCo model: one control
period per ``send_action`` (the env's substeps, joint targets clipped to the limits) and
camera renders only when asked for, so scripted controllers run fast. Objects that end up
off the table are parked out of view with the env's ``remove_object`` and remembered as
"placed" (let go of by the hand clear of the table, or lying in the drop zone) or "fell".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dexgrasp.constants import ACTION_DIM, ARM_DIM, OBS_HEAD, OBS_STATE, OBS_WRIST
from dexgrasp.sim.motion import min_jerk
from dexgrasp.vla.planner.oracle import ObjectTruth
from dexgrasp.vla.runtime.protocols import POSES, RobotError

PLACE_RADIUS_M = 0.35  # xy distance from the drop zone within which objects count as placed
ON_TABLE_MAX_LIFT_M = 0.03  # resting objects: lowest point at most this high above the table
PLACE_CLEARANCE_M = 0.08  # the place swing ends with palm and held objects this far off the table
RELAX_STEPS = 2  # control steps with the hand targets at its measured position before opening
OPEN_STEPS = 10  # control steps to open the hand when releasing


class SimRobot:
    """:class:`~dexgrasp.vla.runtime.protocols.Robot` and
    :class:`~dexgrasp.vla.planner.oracle.SceneTruth` over a ``TabletopGraspEnv``.

    ``frame_hook(robot)`` (optional) is called every ``frame_every`` control steps, also
    during scripted motions, so a recorder can grab video frames.
    """

    def __init__(self, env: Any, *, move_steps: int = 50, frame_every: int = 2) -> None:
        import mujoco

        from dexgrasp.sim import layout, robot

        self.env = env.unwrapped if hasattr(env, "unwrapped") else env
        if self.env.model is None:
            raise RobotError("reset the environment before wrapping it in SimRobot")
        self._mj, self._robot, self._layout = mujoco, robot, layout
        # Scripted moves take move_steps control steps. Some expert grasps creep out of the hand
        # after 1-2 s however the arm moves (docs/runtime.md), so the swing is short, but not
        # abrupt: "clear the table", 40 runs: 140 steps 57.5%, 80 steps 75.0%, 50 steps 87.5%,
        # 35 steps 80.0%.
        self.move_steps = move_steps
        self.frame_every = frame_every
        self.frame_hook: Callable[[SimRobot], None] | None = None
        self.steps = 0
        self.status: dict[str, str] = {o.name: "on_table" for o in self.env.scene.objects}
        self._released: set[str] = set()  # let go of by the hand clear of the table
        self._qadr = robot.joint_qpos_adr(self.env.model)
        self._limits = np.asarray(robot.joint_limits(), np.float64)
        self._truth_cache: tuple[float, list[ObjectTruth]] | None = None
        self._seg_cache: tuple[float, np.ndarray] | None = None

    @classmethod
    def make(
        cls,
        scene_seed: int,
        *,
        n_objects: int = 3,
        split: str = "unseen",
        image_size: tuple[int, int] = (240, 320),
        objects: list[str] | None = None,
        **env_kwargs: Any,
    ) -> SimRobot:
        """A fresh seeded scene (``image_size`` is (height, width))."""
        import gymnasium as gym

        import dexgrasp.sim  # noqa: F401  (registers the env)

        env = gym.make(
            "dexgrasp/TabletopGrasp-v0",
            split=split,
            n_objects=n_objects,
            image_size=image_size,
            **env_kwargs,
        )
        options: dict[str, Any] = {"scene_seed": int(scene_seed)}
        if objects:
            options["objects"] = list(objects)
        env.reset(seed=int(scene_seed), options=options)
        return cls(env)

    def close(self) -> None:
        """Release the renderers (always close a SimRobot you are done with: leaked EGL
        contexts from earlier scenes corrupt later renders in the same process)."""
        self.env.close()

    def __enter__(self) -> SimRobot:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- Robot protocol ------------------------------------------------------------------
    @property
    def model(self) -> Any:
        return self.env.model

    @property
    def data(self) -> Any:
        return self.env.data

    @property
    def image_hw(self) -> tuple[int, int]:
        return tuple(self.env.config.image_size)  # type: ignore[return-value]

    def state(self) -> np.ndarray:
        return self.data.qpos[self._qadr].astype(np.float32)

    def observe(self, images: bool = True) -> dict[str, Any]:
        obs: dict[str, Any] = {OBS_STATE: self.state()}
        if images:
            obs[OBS_HEAD] = self.env.render_camera("head")
            obs[OBS_WRIST] = self.env.render_camera(self._robot.WRIST_CAMERA)
        return obs

    def send_action(self, action: np.ndarray) -> None:
        action = np.asarray(action, np.float64).reshape(-1)
        if action.shape != (ACTION_DIM,) or not np.all(np.isfinite(action)):
            raise RobotError(f"action must be 13 finite joint targets, got {action}")
        m, d = self.model, self.data
        d.ctrl[:ACTION_DIM] = np.clip(action, self._limits[:, 0], self._limits[:, 1])
        self._mj.mj_step(m, d, nstep=self.env.n_substeps)
        self.steps += 1
        if not (np.all(np.isfinite(d.qpos)) and np.all(np.isfinite(d.qvel))):
            raise RobotError("simulation became unstable (non-finite state)")
        if self.frame_hook is not None and self.steps % self.frame_every == 0:
            self.frame_hook(self)

    def _interpolate(self, target: np.ndarray, steps: int) -> None:
        start = self.data.ctrl[:ACTION_DIM].copy()
        for s in min_jerk(steps):
            self.send_action(start + s * (target - start))

    def move_to(self, pose: str) -> None:
        """Scripted motion to "home" (joint-space, to the home pose) or "place".

        "place" swings the arm about its base joint, keeping every other joint and the hand
        targets as they are (a grasped object stays at its lifted height and the grip is not
        disturbed by wrist motion), to the azimuth of the drop zone beside the table, or
        further until the palm and every object in the hand are ``PLACE_CLEARANCE_M`` clear
        of the table top.
        """
        if pose not in POSES:
            raise ValueError(f"pose must be one of {POSES}, got {pose!r}")
        target = self.data.ctrl[:ACTION_DIM].copy()
        if pose == "home":
            target[:ARM_DIM] = self._robot.HOME_QPOS[:ARM_DIM]
            self._interpolate(target, self.move_steps)
            return
        az, az_hand = self._place_azimuth()
        target[0] = np.clip(target[0] + (az - az_hand), *self._limits[0])
        self._interpolate(target, self.move_steps)

    def _place_azimuth(self) -> tuple[float, float]:
        """(azimuth to swing the palm to, its azimuth now) about the base joint, radians.

        Starts at the drop zone's azimuth and turns further (towards the robot's right/back,
        at most to -2.2 rad) until the palm and the held objects, each swung about the base
        at its own radius, are clear of the table top by ``PLACE_CLEARANCE_M``: an object
        hanging off the palm's side must not be let go of above the table's edge.
        """
        base = np.asarray(self._layout.ROBOT_BASE_POS[:2])
        palm = np.asarray(self.data.site(self._robot.PALM_SITE).xpos[:2])
        points = [palm] + [
            np.asarray(self.data.xpos[o.body_id][:2])
            for o in self.env.scene.objects
            if not o.removed and self._touching_robot(o.body_id)
        ]
        rel = np.array(points) - base
        radius, angle = np.linalg.norm(rel, axis=1), np.arctan2(rel[:, 1], rel[:, 0])
        az_hand = float(angle[0])
        drop = np.asarray(self._layout.PLACE_POS[:2]) - base
        az = float(np.arctan2(drop[1], drop[0]))

        def clear(a: float) -> bool:
            turned = angle + (a - az_hand)
            xy = base + radius[:, None] * np.stack([np.cos(turned), np.sin(turned)], axis=1)
            return not any(self._on_table_xy(p, PLACE_CLEARANCE_M) for p in xy)

        while az > -2.2 and not clear(az):
            az -= 0.1
        return az, az_hand

    def release(self) -> None:
        """Relax the grip, open the hand, let the object drop, tidy up.

        Objects the hand lets go of clear of the table count as placed wherever they land."""
        for o in self.env.scene.objects:
            clear = not self._on_table_xy(self.data.xpos[o.body_id][:2], 0.02)
            if not o.removed and clear and self._touching_robot(o.body_id):
                self._released.add(o.name)
        # Relax the grip first: hand targets at the measured joint positions take the squeeze
        # off every finger at once. Opening straight from the squeezing targets lets the
        # thumb's servo keep pushing after the fingers have let go, which flicks the object
        # sideways, up to 0.7 m/s, possibly back onto the table.
        target = self.data.ctrl[:ACTION_DIM].copy()
        target[ARM_DIM:] = self.data.qpos[self._qadr[ARM_DIM:]]
        for _ in range(RELAX_STEPS):
            self.send_action(target)
        target[ARM_DIM:] = self._robot.HAND_OPEN
        self._interpolate(target, OPEN_STEPS)
        for _ in range(15):  # let the object drop
            self.send_action(target)
        self.tidy()

    def reset(self) -> None:
        """Open the hand and put the robot back at home (a teleport in simulation), then
        park whatever left the table."""
        self.env.home_robot()
        home = np.asarray(self._robot.HOME_QPOS, np.float64)
        for _ in range(10):
            self.send_action(home)
        self.tidy()

    # --- bookkeeping ------------------------------------------------------------------------
    def tidy(self) -> list[str]:
        """Park objects that are off the table (not held); returns their names."""
        heights = self.env.object_heights()
        parked = []
        for o in self.env.scene.objects:
            if o.removed or self._touching_robot(o.body_id):
                continue
            xy = self.data.xpos[o.body_id][:2]
            if self._on_table_xy(xy) and heights[o.name] > -0.05:
                continue
            near_drop = np.linalg.norm(xy - np.asarray(self._layout.PLACE_POS[:2])) < PLACE_RADIUS_M
            self.status[o.name] = "placed" if (near_drop or o.name in self._released) else "fell"
            self.env.remove_object(o.name)
            parked.append(o.name)
        self._truth_cache = self._seg_cache = None
        return parked

    def _on_table_xy(self, xy: np.ndarray, margin: float = 0.0) -> bool:
        (cx, cy), (hx, hy) = self._layout.TABLE_CENTER_XY, self._layout.TABLE_HALF_SIZE_XY
        return abs(xy[0] - cx) <= hx + margin and abs(xy[1] - cy) <= hy + margin

    def _touching_robot(self, body_id: int) -> bool:
        from dexgrasp.sim.scene import touching_robot

        return touching_robot(self.model, self.data, self.env.scene, body_id)

    # --- ground truth (SceneTruth, masks) -----------------------------------------------------
    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of the head camera."""
        h, w = self.image_hw
        return (w, h)

    def segmentation(self) -> np.ndarray:
        """(H, W) int32 object index per head-camera pixel (-1 elsewhere), cached per sim time."""
        t = float(self.data.time)
        if self._seg_cache is None or self._seg_cache[0] != t:
            self._seg_cache = (t, self.env.segmentation("head"))
        return self._seg_cache[1]

    def object_masks(self) -> dict[str, np.ndarray]:
        """name -> (H, W) uint8 head-camera mask of every object still in the scene."""
        seg = self.segmentation()
        return {
            o.name: (seg == o.index).astype(np.uint8)
            for o in self.env.scene.objects
            if not o.removed
        }

    def objects(self) -> list[ObjectTruth]:
        t = float(self.data.time)
        if self._truth_cache is not None and self._truth_cache[0] == t:
            return self._truth_cache[1]
        seg = self.segmentation()
        heights = self.env.object_heights()
        out = []
        for o in self.env.scene.objects:
            ys, xs = np.nonzero(seg == o.index)
            box = (
                (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
                if len(xs)
                else None
            )
            held = self._touching_robot(o.body_id)
            lift = float(heights[o.name])
            on_table = (
                not o.removed
                and lift <= ON_TABLE_MAX_LIFT_M
                and self._on_table_xy(self.data.xpos[o.body_id][:2])
            )
            spec = o.spec
            tags = frozenset(
                t for t, flag in (("food", spec.is_food), ("drink", spec.is_drink)) if flag
            )
            out.append(
                ObjectTruth(
                    name=spec.name,
                    category=spec.category,
                    noun=spec.noun,
                    color=spec.color_name,
                    box=None if o.removed else box,
                    lift_m=-1.0 if o.removed else lift,
                    on_table=on_table,
                    tags=tags,
                    held=held,
                )
            )
        self._truth_cache = (t, out)
        return out


def project_points(robot: SimRobot, points: np.ndarray, camera: str = "head") -> np.ndarray:
    """(N, 3) world points (m) -> (N, 2) pixel coordinates (x right, y down) in ``camera``."""
    m, d = robot.model, robot.data
    cam = m.camera(camera).id
    h, w = robot.image_hw
    pos, rot = d.cam_xpos[cam], d.cam_xmat[cam].reshape(3, 3)
    local = (np.asarray(points, float) - pos) @ rot  # camera frame: x right, y up, -z forward
    f = 0.5 * h / np.tan(np.deg2rad(m.cam_fovy[cam]) / 2)
    depth = np.maximum(-local[:, 2], 1e-6)
    return np.stack([w / 2 + f * local[:, 0] / depth, h / 2 - f * local[:, 1] / depth], axis=1)


def table_region(robot: SimRobot, margin_m: float = 0.02, object_height_m: float = 0.25) -> Any:
    """The table top as a :class:`~dexgrasp.vla.planner.workspace.WorkspaceRegion` of the head
    image: the convex hull of the table's corners and of the far corners raised by
    ``object_height_m`` (objects standing at the far edge stick out above it)."""
    from dexgrasp.sim import layout
    from dexgrasp.vla.planner.workspace import WorkspaceRegion, convex_hull

    (cx, cy), (hx, hy) = layout.TABLE_CENTER_XY, layout.TABLE_HALF_SIZE_XY
    hx, hy, z = hx + margin_m, hy + margin_m, layout.TABLE_TOP_Z
    corners = [(cx + sx * hx, cy + sy * hy, z) for sx in (-1, 1) for sy in (-1, 1)]
    raised = [(cx + hx, cy + sy * hy, z + object_height_m) for sy in (-1, 1)]
    h, w = robot.image_hw
    pix = project_points(robot, np.array(corners + raised))
    hull = convex_hull(np.clip(pix, [-w, -h], [2 * w, 2 * h]))
    return WorkspaceRegion.from_pixels([tuple(p) for p in hull], w, h)


def table_x_range(robot: SimRobot) -> tuple[float, float]:
    """Left and right edge (pixels) of the table at its centre line in the head image."""
    from dexgrasp.sim import layout

    (cx, cy), (_, hy) = layout.TABLE_CENTER_XY, layout.TABLE_HALF_SIZE_XY
    pts = np.array([[cx, cy + hy, layout.TABLE_TOP_Z], [cx, cy - hy, layout.TABLE_TOP_Z]])
    px = project_points(robot, pts)[:, 0]
    w = robot.image_hw[1]
    lo, hi = float(np.clip(px.min(), 0, w - 2)), float(np.clip(px.max(), 1, w))
    return (lo, hi) if hi > lo + 1 else (0.0, float(w))
