"""Gymnasium environment ``dexgrasp/TabletopGrasp-v0``: grasp a named object out of clutter.

    import gymnasium as gym, dexgrasp.sim
    env = gym.make("dexgrasp/TabletopGrasp-v0", split="unseen", background="pink_towel")
    obs, info = env.reset(seed=0, options={"target": "green bottle"})
    obs, reward, terminated, truncated, info = env.step(action)   # action: (13,) rad

Observations (``dexgrasp.constants`` keys): head and wrist RGB (H, W, 3) uint8, the head
camera's ground-truth target mask (H, W) uint8 {0, 1}, joint positions (13,) float32 rad.
Actions: 13 absolute joint targets (rad), clipped to the joint limits, held for one control
period (1 / ``CONTROL_HZ`` s = several physics substeps).

Success (paper Sec. 5.2): the target's lowest point is at least ``layout.SUCCESS_LIFT_M``
above the table while touching the robot, continuously for ``hold_time_s`` seconds.
Physics blow-ups end the episode as a failure with a ``termination_reason``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

from dexgrasp.constants import CONTROL_HZ, JOINT_NAMES, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.sim import layout, rooms
from dexgrasp.sim import scene as scene_lib
from dexgrasp.sim.objects import SPLITS, get_library

ENV_ID = "dexgrasp/TabletopGrasp-v0"
DISCO_REV_PER_S = 0.25  # how fast the disco spotlights sweep
MAX_QVEL = 200.0  # rad/s or m/s: anything faster is a blow-up
_BAD_WARNINGS = (
    mujoco.mjtWarning.mjWARN_BADQACC,
    mujoco.mjtWarning.mjWARN_BADQVEL,
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_CNSTRFULL,
    mujoco.mjtWarning.mjWARN_CONTACTFULL,
)
_RESET_OPTIONS = {"scene_seed", "target", "objects", "background", "lighting", "room"}


@dataclass
class EnvConfig:
    """Options of ``TabletopGraspEnv``; validated on construction.

    image_size: (height, width) of both cameras, pixels. hold_time_s: seconds the target must
    stay lifted. max_steps: control steps before truncation.
    """

    split: str = "train"
    n_objects: int = 6
    background: str = "white_table"
    lighting: str = "white"
    room: str = "collection"
    image_size: tuple[int, int] = (224, 224)
    hold_time_s: float = layout.DEFAULT_HOLD_TIME_S
    max_steps: int = 300
    shadows: bool = False
    multisample: bool = False
    require_contact: bool = True
    library_seed: int = 0
    head_camera_pos: tuple[float, float, float] | None = None  # None: rooms.HEAD_CAMERA_POS
    head_camera_lookat: tuple[float, float, float] | None = None  # None: layout.HEAD_CAMERA_LOOKAT

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if not 1 <= self.n_objects <= 12:
            raise ValueError(f"n_objects must be in [1, 12], got {self.n_objects}")
        for field_name, allowed in (
            ("background", rooms.BACKGROUNDS),
            ("lighting", rooms.LIGHTINGS),
            ("room", rooms.ROOMS),
        ):
            if getattr(self, field_name) not in allowed:
                raise ValueError(
                    f"{field_name} must be one of {allowed}, got {getattr(self, field_name)!r}"
                )
        size = (
            (self.image_size, self.image_size)
            if isinstance(self.image_size, int)
            else tuple(self.image_size)
        )
        if len(size) != 2 or not all(
            isinstance(s, (int, np.integer)) and 16 <= s <= 2048 for s in size
        ):
            raise ValueError(
                f"image_size must be (height, width) with each in [16, 2048], got {self.image_size!r}"
            )
        self.image_size = (int(size[0]), int(size[1]))
        if not 0.0 <= self.hold_time_s <= 60.0:
            raise ValueError(f"hold_time_s must be in [0, 60] seconds, got {self.hold_time_s}")
        for field_name in ("head_camera_pos", "head_camera_lookat"):
            v = getattr(self, field_name)
            if v is not None:
                arr = np.asarray(v, dtype=float)
                if arr.shape != (3,) or not np.all(np.isfinite(arr)):
                    raise ValueError(f"{field_name} must be 3 finite numbers (m), got {v!r}")
                setattr(self, field_name, tuple(float(x) for x in arr))
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")


class TabletopGraspEnv(gym.Env):
    """Cluttered-tabletop dexterous grasping with the 7-DoF arm + 6-DoF hand (see module doc)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, render_mode: str | None = "rgb_array", **kwargs) -> None:
        from dexgrasp.sim import robot

        self.config = EnvConfig(**kwargs)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.render_mode = render_mode
        self._robot = robot
        self.library = get_library(self.config.library_seed)
        self.joint_limits = np.asarray(robot.joint_limits(), np.float64)  # (13, 2)
        h, w = self.config.image_size
        self.observation_space = gym.spaces.Dict(
            {
                OBS_HEAD: gym.spaces.Box(0, 255, (h, w, 3), np.uint8),
                OBS_WRIST: gym.spaces.Box(0, 255, (h, w, 3), np.uint8),
                OBS_MASK: gym.spaces.Box(0, 1, (h, w), np.uint8),
                OBS_STATE: gym.spaces.Box(
                    (self.joint_limits[:, 0] - 0.5).astype(np.float32),
                    (self.joint_limits[:, 1] + 0.5).astype(np.float32),
                    dtype=np.float32,
                ),
            }
        )
        self.action_space = gym.spaces.Box(
            self.joint_limits[:, 0].astype(np.float32),
            self.joint_limits[:, 1].astype(np.float32),
            dtype=np.float32,
        )
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self.scene: scene_lib.Scene | None = None
        self._renderer: scene_lib.SceneRenderer | None = None
        self._target: str | None = None
        self._hold_steps_needed = int(math.ceil(self.config.hold_time_s * CONTROL_HZ))
        self._reset_episode_counters()

    # -- gymnasium API ---------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - _RESET_OPTIONS
        if unknown:
            raise ValueError(
                f"unknown reset options {sorted(unknown)}; allowed: {sorted(_RESET_OPTIONS)}"
            )
        cfg = self.config
        scene_seed = options.get("scene_seed")
        if scene_seed is None:
            scene_seed = int(self.np_random.integers(2**31 - 1))
        kw = {k: options.get(k, getattr(cfg, k)) for k in ("background", "lighting", "room")}
        for attempt in range(10):  # resample (deterministically) if an object falls off
            desc = scene_lib.sample_scene(
                self.library,
                cfg.split,
                cfg.n_objects,
                seed=int(scene_seed) + 1_000_003 * attempt,
                target=options.get("target"),
                objects=options.get("objects"),
                **kw,
            )
            self._build(desc)
            if all(scene_lib.on_table(self.model, self.data, self.scene, margin=0.01).values()):
                break
        self._target = desc.target
        self._reset_episode_counters()
        return self._observation(), self._info()

    def step(self, action):
        if self.model is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (len(JOINT_NAMES),):
            raise ValueError(f"action must have shape (13,), got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains NaN or inf: {action}")
        m, d = self.model, self.data
        self.data.ctrl[: len(JOINT_NAMES)] = np.clip(
            action, self.joint_limits[:, 0], self.joint_limits[:, 1]
        )
        state = np.empty(mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_INTEGRATION))
        mujoco.mj_getState(m, d, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        warnings_before = [d.warning[w].number for w in _BAD_WARNINGS]
        if self.scene.description.lighting == "disco":
            self._spin_disco_lights(self._steps)
        mujoco.mj_step(m, d, nstep=self.n_substeps)
        self._steps += 1
        reason = self._instability([d.warning[w].number for w in _BAD_WARNINGS], warnings_before)
        terminated, truncated = False, False
        if reason is not None:
            # Roll back to the state before the step so the observation stays valid.
            mujoco.mj_setState(m, d, state, mujoco.mjtState.mjSTATE_INTEGRATION)
            mujoco.mj_forward(m, d)
            self._termination_reason, terminated = reason, True
        else:
            height = self.object_heights()[self._target]
            lifted = height >= layout.SUCCESS_LIFT_M and (
                not self.config.require_contact or self._touching_robot(self._target)
            )
            self._hold = self._hold + 1 if lifted else 0
            if lifted and self._hold >= max(1, self._hold_steps_needed):
                self._success, terminated, self._termination_reason = True, True, "success"
            elif height < -0.1:
                terminated, self._termination_reason = True, "target_fell"
        if not terminated and self._steps >= self.config.max_steps:
            truncated, self._termination_reason = True, "time_limit"
        reward = 1.0 if self._success else 0.0
        return self._observation(), reward, terminated, truncated, self._info()

    def render(self):
        if self.render_mode != "rgb_array" or self.model is None:
            return None
        return self.render_camera(rooms.HEAD_CAMERA)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- public helpers (used by the expert, the runtime and the planner oracle) -------
    @property
    def target_name(self) -> str | None:
        return self._target

    @property
    def instruction(self) -> str:
        """A plain grasping instruction for the current target, e.g. 'grasp the green bottle'."""
        return f"grasp the {self._target}"

    @property
    def target_body_id(self) -> int:
        return self.scene.get(self._target).body_id

    @property
    def n_substeps(self) -> int:
        """Physics steps per control step (1 / CONTROL_HZ s)."""
        return max(1, int(round(1.0 / (CONTROL_HZ * self.model.opt.timestep))))

    def set_target(self, name: str) -> None:
        """Make ``name`` (an object of the current scene) the target; resets the hold timer."""
        obj = self.scene.get(name)
        if obj.removed:
            raise ValueError(f"object {name!r} was removed from the table and cannot be the target")
        self._target, self._hold, self._success = name, 0, False

    def render_camera(
        self, name: str, size: tuple[int, int] | None = None, segmentation: bool = False
    ) -> np.ndarray:
        """Render camera ``name`` at ``size`` (height, width): (H, W, 3) uint8, or with
        ``segmentation`` the raw (H, W, 2) int32 MuJoCo (object id, object type) map."""
        if self._renderer is None:
            raise RuntimeError("call reset() before rendering")
        size = tuple(size or self.config.image_size)
        return self._renderer.render(self.data, name, size, segmentation, self.config.shadows)

    def segmentation(
        self, camera: str = rooms.HEAD_CAMERA, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """(H, W) int32 map: index of the scene object seen at each pixel, -1 elsewhere."""
        seg = self.render_camera(camera, size, segmentation=True)
        ids, types = seg[..., 0], seg[..., 1]
        out = np.full(ids.shape, -1, np.int32)
        geom = (types == int(mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)
        out[geom] = self.scene.geom_to_object[ids[geom]]
        return out

    def object_boxes(
        self, camera: str = rooms.HEAD_CAMERA, size: tuple[int, int] | None = None
    ) -> dict[str, tuple[int, int, int, int]]:
        """name -> (x1, y1, x2, y2) pixel box (x2, y2 exclusive) of every visible object."""
        seg = self.segmentation(camera, size)
        boxes = {}
        for o in self.scene.objects:
            ys, xs = np.nonzero(seg == o.index)
            if len(xs):
                boxes[o.name] = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        return boxes

    def table_mask(
        self, camera: str = rooms.HEAD_CAMERA, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """(H, W) bool: pixels showing the table top or its covering (for workspace crops)."""
        seg = self.render_camera(camera, size, segmentation=True)
        ids = [self.model.geom(rooms.TABLE_GEOM).id]
        if self.scene.description.background != "white_table":
            ids.append(self.model.geom("background").id)
        return (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)) & np.isin(seg[..., 0], ids)

    def scene_metadata(self) -> dict:
        """JSON-friendly description of the current scene (for episode metadata and planners)."""
        desc = self.scene.description
        return {
            "scene_seed": desc.seed,
            "split": desc.split,
            "room": desc.room,
            "background": desc.background,
            "lighting": desc.lighting,
            "target": self._target,
            "instruction": self.instruction,
            "objects": [
                {**o.spec.attributes(), "spawn_pos": list(p.pos), "spawn_quat": list(p.quat)}
                for o, p in zip(self.scene.objects, desc.objects)
            ],
        }

    def object_heights(self) -> dict[str, float]:
        """name -> height (m) of the object's lowest point above the table surface."""
        return scene_lib.object_heights(self.model, self.data, self.scene)

    def teleport_object(self, name: str, pos, quat=(1.0, 0.0, 0.0, 0.0)) -> None:
        """Move object ``name`` to ``pos`` (3,) m with orientation ``quat`` (4,) w-x-y-z, at rest."""
        pos, quat = np.asarray(pos, float), np.asarray(quat, float)
        if (
            pos.shape != (3,)
            or quat.shape != (4,)
            or not np.all(np.isfinite(pos))
            or np.linalg.norm(quat) < 1e-9
        ):
            raise ValueError(
                f"teleport needs a finite pos (3,) and a non-zero quat (4,), got {pos}, {quat}"
            )
        o = self.scene.get(name)
        self.data.qpos[o.qpos_adr : o.qpos_adr + 3] = pos
        self.data.qpos[o.qpos_adr + 3 : o.qpos_adr + 7] = quat / np.linalg.norm(quat)
        self.data.qvel[o.qvel_adr : o.qvel_adr + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def remove_object(self, name: str) -> None:
        """Take object ``name`` off the table (e.g. after a successful place): it is parked
        on the floor behind the robot, out of both cameras' working views."""
        o = self.scene.get(name)
        self.teleport_object(name, (-1.0, -1.2 + 0.25 * o.index, 0.5 * max(o.spec.size) + 0.01))
        o.removed = True
        if name == self._target:
            self._hold, self._success = 0, False

    def home_robot(self) -> None:
        """Teleport the robot to its home pose with the hand open (targets too, velocities
        zero), the objects untouched; no physics step, no observation."""
        if self.model is None:
            raise RuntimeError("call reset() before moving the robot home")
        home = np.asarray(self._robot.HOME_QPOS, float)
        self._robot.set_robot_qpos(self.model, self.data, home)
        self.data.ctrl[: len(JOINT_NAMES)] = home
        mujoco.mj_forward(self.model, self.data)

    def reset_robot(self, settle_steps: int = 10) -> tuple[dict, dict]:
        """Start a new grasp attempt in the same scene: the robot back at home with the hand
        open (a teleport), the objects where they are, then ``settle_steps`` control steps
        holding home so whatever the hand let go of comes to rest. The step and hold counters
        start again (a fresh ``max_steps`` budget). DexGraspVLA's planner resets the robot
        like this after each failed attempt (the paper's Ours@k). Returns (observation, info).
        """
        self.home_robot()
        mujoco.mj_step(self.model, self.data, nstep=self.n_substeps * settle_steps)
        self._reset_episode_counters()
        return self._observation(), self._info()

    def get_state(self) -> dict:
        """A snapshot of the episode (physics state, step and hold counters) for ``set_state``:
        e.g. to hand a policy's rollout over to the expert at an earlier step."""
        m, d = self.model, self.data
        physics = np.empty(mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_INTEGRATION))
        mujoco.mj_getState(m, d, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        counters = (self._steps, self._hold, self._success, self._termination_reason)
        return {"physics": physics, "counters": counters, "target": self._target}

    def set_state(self, state: dict) -> tuple[dict, dict]:
        """Restore a ``get_state`` snapshot of the current scene; returns (observation, info)."""
        m, d = self.model, self.data
        physics = np.asarray(state["physics"], dtype=np.float64)
        size = mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_INTEGRATION)
        if physics.shape != (size,):
            raise ValueError(
                f"state['physics'] has shape {physics.shape}, this scene needs ({size},): "
                "the snapshot is from another scene"
            )
        self._steps, self._hold, self._success, self._termination_reason = state["counters"]
        self._target = state["target"]
        if self.scene.description.lighting == "disco" and self._steps > 0:
            self._spin_disco_lights(self._steps - 1)  # as the step that led here left them
        mujoco.mj_setState(m, d, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        # Positions (and light directions) for the restored state itself: the observation
        # can differ slightly from the one ``step`` returned there, whose rendering lags the
        # state by one physics substep (MuJoCo computes positions before integrating).
        mujoco.mj_forward(m, d)
        return self._observation(), self._info()

    # -- internals -------------------------------------------------------------------
    def _reset_episode_counters(self) -> None:
        self._steps, self._hold, self._success, self._termination_reason = 0, 0, False, None

    def _build(self, desc: scene_lib.SceneDescription) -> None:
        spec = scene_lib.build_spec(
            desc,
            shadows=self.config.shadows,
            multisample=self.config.multisample,
            max_image_size=self.config.image_size,
            head_camera_pos=self.config.head_camera_pos,
            head_camera_lookat=self.config.head_camera_lookat,
        )
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.scene = scene_lib.Scene.from_model(desc, self.model)
        if self._renderer is None:
            self._renderer = scene_lib.SceneRenderer()
        self._renderer.set_model(self.model)
        self.home_robot()
        self.scene.settle_time = scene_lib.settle(self.model, self.data, self.scene)
        self._disco_dirs = self.model.light_dir.copy()

    def _spin_disco_lights(self, step: int) -> None:
        """Disco spotlights sweep around the vertical axis (DISCO_REV_PER_S), deterministic in
        time: where they stand during control step ``step``."""
        m = self.model
        ang = 2 * np.pi * DISCO_REV_PER_S * step / CONTROL_HZ
        c, s = np.cos(ang), np.sin(ang)
        base = self._disco_dirs
        m.light_dir[: len(base), 0] = c * base[:, 0] - s * base[:, 1]
        m.light_dir[: len(base), 1] = s * base[:, 0] + c * base[:, 1]

    def _instability(self, after: list[int], before: list[int]) -> str | None:
        d = self.data
        for w, a, b in zip(_BAD_WARNINGS, after, before):
            if a > b:
                return f"physics_unstable: {w.name}"
        if not (np.all(np.isfinite(d.qpos)) and np.all(np.isfinite(d.qvel))):
            return "physics_unstable: non-finite state"
        if np.abs(d.qvel).max(initial=0.0) > MAX_QVEL:
            return f"physics_unstable: |qvel| > {MAX_QVEL}"
        return None

    def _touching_robot(self, name: str) -> bool:
        return scene_lib.touching_robot(
            self.model, self.data, self.scene, self.scene.get(name).body_id
        )

    def _observation(self) -> dict[str, np.ndarray]:
        seg = self.segmentation(rooms.HEAD_CAMERA)
        target_idx = self.scene.get(self._target).index
        return {
            OBS_HEAD: self.render_camera(rooms.HEAD_CAMERA),
            OBS_WRIST: self.render_camera(self._robot.WRIST_CAMERA),
            OBS_MASK: (seg == target_idx).astype(np.uint8),
            OBS_STATE: self.data.qpos[self._robot.joint_qpos_adr(self.model)].astype(np.float32),
        }

    def _info(self) -> dict:
        heights = self.object_heights()
        objects = {
            o.name: {
                "pos": self.data.xpos[o.body_id].copy(),
                "quat": self.data.xquat[o.body_id].copy(),
                "height": heights[o.name],
                "removed": o.removed,
            }
            for o in self.scene.objects
        }
        return {
            "success": self._success,
            "is_success": self._success,
            "objects": objects,
            "target": self._target,
            "target_touching": self._target is not None and self._touching_robot(self._target),
            "termination_reason": self._termination_reason,
            "hold_time_s": self.config.hold_time_s,
            "scene_seed": self.scene.description.seed,
            "split": self.scene.description.split,
            "room": self.scene.description.room,
            "background": self.scene.description.background,
            "lighting": self.scene.description.lighting,
            "step": self._steps,
        }
