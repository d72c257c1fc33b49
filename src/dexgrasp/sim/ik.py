"""Inverse kinematics for the arm: damped least squares on the MuJoCo site Jacobian.

Solves for the 7 arm joints that put the ``palm`` site (the hand's grasp centre) at a target
position and orientation, respecting joint limits, with the redundant degree of freedom
pulled towards a comfortable posture through the Jacobian's nullspace.

The solver works on its own ``MjData`` (kinematics only), so it never disturbs a running
simulation. It accepts any model that contains the robot (the bare robot or a full scene).

Example::

    ik = ArmIK(model)
    result = ik.solve(pos=[0.6, 0.0, 0.85], rot=palm_rotation(approach=[0, 0, -1], fingers=[1, 0, 0]))
    result.qpos  # (7,) arm joints, radians
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexgrasp.constants import ARM_DIM, ARM_JOINT_NAMES
from dexgrasp.sim import robot

WRIST_PITCH = ARM_JOINT_NAMES.index("arm_joint6")


@dataclass
class IKConfig:
    """Solver settings. Lengths in metres, angles in radians."""

    max_iters: int = 150
    damping: float = 0.03  # DLS damping lambda
    pos_tol: float = 0.002
    rot_tol: float = 0.02
    rot_weight: float = 0.35  # metres per radian: trades orientation against position error
    max_step: float = 0.25  # largest joint change per iteration, radians
    nullspace_gain: float = 0.15
    limit_margin: float = 0.02  # keep this far inside the joint limits
    # One wrist branch: a spherical wrist reaches every palm pose twice (arm_joint5 + pi,
    # arm_joint6 negated, arm_joint7 + pi). A lower bound on the wrist pitch (arm_joint6)
    # keeps solutions on the home posture's branch, so similar targets give similar joints.
    wrist_pitch_min: float | None = None
    # Iterations after convergence that keep drifting towards the rest posture through the
    # nullspace (the pose error stays within tolerance): the redundant elbow swivel then
    # depends on the target, not on where the search happened to stop.
    settle_iters: int = 0

    def __post_init__(self) -> None:
        for name in ("max_iters", "damping", "pos_tol", "rot_tol", "rot_weight", "max_step"):
            if getattr(self, name) <= 0:
                raise ValueError(f"IKConfig.{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.nullspace_gain <= 1:
            raise ValueError(
                f"IKConfig.nullspace_gain must be in [0, 1], got {self.nullspace_gain}"
            )
        if self.limit_margin < 0:
            raise ValueError(f"IKConfig.limit_margin must be >= 0, got {self.limit_margin}")
        if self.settle_iters < 0:
            raise ValueError(f"IKConfig.settle_iters must be >= 0, got {self.settle_iters}")


@dataclass
class IKResult:
    qpos: np.ndarray  # (7,) arm joints, radians
    pos_err: float  # metres
    rot_err: float  # radians (0 when no orientation was asked for)
    success: bool
    iters: int


def palm_rotation(approach, fingers) -> np.ndarray:
    """(3, 3) rotation of the palm site: columns = palm normal (x), y, finger direction (z).

    ``approach``: direction the palm faces (towards the object), ``fingers``: direction the
    straight fingers point; made orthogonal to ``approach`` here.
    """
    x = np.asarray(approach, dtype=float)
    x = x / np.linalg.norm(x)
    z = np.asarray(fingers, dtype=float)
    z = z - x * (z @ x)
    norm = np.linalg.norm(z)
    if norm < 1e-6:
        raise ValueError("palm_rotation: fingers must not be parallel to approach")
    z = z / norm
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def _rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3,) world-frame rotation vector taking ``current`` towards ``target`` (small-angle)."""
    # 0.5 * sum_i current[:, i] x target[:, i], written out (np.cross is slow on 3-vectors).
    c, t = current, target
    err = 0.5 * np.array(
        [
            (c[1] * t[2] - c[2] * t[1]).sum(),
            (c[2] * t[0] - c[0] * t[2]).sum(),
            (c[0] * t[1] - c[1] * t[0]).sum(),
        ]
    )
    # Past 90 degrees the cross-product form saturates; use the exact axis-angle instead.
    # trace(target @ current.T) = sum of the element-wise product.
    cos_angle = (float((t * c).sum()) - 1) / 2
    if cos_angle < np.cos(1.0):
        return rotation_vector(current, target)
    return err


def rotation_vector(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3,) world-frame axis * angle of the rotation taking ``a`` to ``b`` (both (3, 3)): exact."""
    quat, vel = np.zeros(4), np.zeros(3)
    mujoco.mju_mat2Quat(quat, (b @ a.T).reshape(9))
    mujoco.mju_quat2Vel(vel, quat, 1.0)
    return vel


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (rad) of the rotation between rotation matrices ``a`` and ``b`` (3, 3)."""
    return float(np.arccos(np.clip((float((a * b).sum()) - 1) / 2, -1.0, 1.0)))


def interpolate_rotation(a: np.ndarray, b: np.ndarray, s: float) -> np.ndarray:
    """Rotation (3, 3) a fraction ``s`` of the way from ``a`` to ``b`` (geodesic)."""
    vel = rotation_vector(a, b)
    angle = float(np.linalg.norm(vel))
    if angle < 1e-9:
        return a.copy()
    part, mat = np.zeros(4), np.zeros(9)
    mujoco.mju_axisAngle2Quat(part, vel / angle, s * angle)
    mujoco.mju_quat2Mat(mat, part)
    return mat.reshape(3, 3) @ a


class ArmIK:
    """Damped-least-squares IK for the arm joints of a model that contains the robot."""

    def __init__(
        self,
        model: mujoco.MjModel,
        site: str = robot.PALM_SITE,
        rest: np.ndarray | None = None,
        config: IKConfig | None = None,
    ) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.config = config or IKConfig()
        self.site_id = model.site(site).id
        self.qadr = np.array([model.jnt_qposadr[model.joint(n).id] for n in ARM_JOINT_NAMES])
        self.dadr = np.array([model.jnt_dofadr[model.joint(n).id] for n in ARM_JOINT_NAMES])
        limits = robot.joint_limits()[:ARM_DIM]
        m = self.config.limit_margin
        self.lo, self.hi = limits[:, 0] + m, limits[:, 1] - m
        if self.config.wrist_pitch_min is not None:
            self.lo[WRIST_PITCH] = max(self.lo[WRIST_PITCH], self.config.wrist_pitch_min)
        self.rest = np.asarray(robot.IK_REST_ARM if rest is None else rest, dtype=float)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Palm site position (3,) and rotation (3, 3) for arm joints ``q`` (7,)."""
        self.data.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, self.data)
        return (
            self.data.site_xpos[self.site_id].copy(),
            self.data.site_xmat[self.site_id].reshape(3, 3).copy(),
        )

    def solve(
        self,
        pos,
        rot: np.ndarray | None = None,
        q_init: np.ndarray | None = None,
        hand: np.ndarray | None = None,
        rest: np.ndarray | None = None,
    ) -> IKResult:
        """Arm joints that place the palm site at ``pos`` (3,) with rotation ``rot`` (3, 3).

        ``rot=None`` solves for position only. ``q_init`` (7,) seeds the search (default: the
        rest posture); ``hand`` (6,) sets the finger joints (they do not move the site);
        ``rest`` (7,) replaces the solver's rest posture (the nullspace pull) for this solve.
        """
        cfg = self.config
        rest = self.rest if rest is None else np.asarray(rest, dtype=float).reshape(ARM_DIM)
        target = np.asarray(pos, dtype=float).reshape(3)
        if not np.all(np.isfinite(target)):
            raise ValueError(f"IK target position must be finite, got {target}")
        if rot is not None:
            rot = np.asarray(rot, dtype=float).reshape(3, 3)
        q = np.clip(rest if q_init is None else np.asarray(q_init, dtype=float), self.lo, self.hi)
        if hand is not None:
            robot.set_robot_qpos(self.model, self.data, np.concatenate([q, hand]))
        pos_err = rot_err = np.inf
        it = 0
        settle = 0  # iterations spent settling after convergence
        for it in range(1, cfg.max_iters + 1):  # noqa: B007
            cur_pos, cur_rot = self.forward(q)
            e_pos = target - cur_pos
            pos_err = float(np.linalg.norm(e_pos))
            if rot is not None:
                e_rot = _rotation_error(cur_rot, rot)
                rot_err = float(np.linalg.norm(e_rot))
            else:
                e_rot, rot_err = np.zeros(3), 0.0
            if pos_err < cfg.pos_tol and rot_err < cfg.rot_tol:
                if settle >= cfg.settle_iters:
                    break
                settle += 1
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site_id)
            jp = self._jacp[:, self.dadr]
            if rot is not None:
                jac = np.vstack([jp, cfg.rot_weight * self._jacr[:, self.dadr]])
                err = np.concatenate([e_pos, cfg.rot_weight * e_rot])
            else:
                jac, err = jp, e_pos
            jjt = jac @ jac.T + cfg.damping**2 * np.eye(jac.shape[0])
            dq = jac.T @ np.linalg.solve(jjt, err)
            # Nullspace: drift towards the rest posture without disturbing the task.
            pinv = jac.T @ np.linalg.solve(jjt, np.eye(jac.shape[0]))
            null = np.eye(ARM_DIM) - pinv @ jac
            dq += null @ (cfg.nullspace_gain * (rest - q))
            step = np.max(np.abs(dq))
            if step > cfg.max_step:
                dq *= cfg.max_step / step
            q = np.clip(q + dq, self.lo, self.hi)
        ok = pos_err < cfg.pos_tol * 3 and rot_err < cfg.rot_tol * 3
        return IKResult(q.copy(), pos_err, rot_err, bool(ok), it)


def solve_with_restarts(
    ik: ArmIK,
    pos,
    rot: np.ndarray | None,
    q_init: np.ndarray,
    restarts: int = 4,
    seed: int = 0,
    rest: np.ndarray | None = None,
    extra_seeds: tuple[np.ndarray, ...] = (),
) -> IKResult:
    """``ik.solve`` from ``q_init``, then from ``extra_seeds``, the rest posture and perturbed
    rest postures (deterministic), until one succeeds; returns the best attempt. ``rest`` as
    in ``ArmIK.solve``."""
    rng = np.random.default_rng(seed)
    rest = ik.rest if rest is None else np.asarray(rest, dtype=float)
    best = ik.solve(pos, rot, q_init=q_init, rest=rest)
    seeds = [*extra_seeds]
    if not np.allclose(q_init, rest):
        seeds.append(rest)
    seeds += [rest + rng.normal(0.0, 0.5, ARM_DIM) for _ in range(restarts - 1)]
    for q0 in seeds:
        if best.success:
            break
        res = ik.solve(pos, rot, q_init=q0, rest=rest)
        if res.success or res.pos_err + res.rot_err < best.pos_err + best.rot_err:
            best = res
    return best


def solve_place_arm(model: mujoco.MjModel | None = None) -> np.ndarray:
    """(7,) arm joints holding the palm, facing down, above ``layout.PLACE_POS``."""
    from dexgrasp.sim import layout

    ik = ArmIK(model or robot.robot_model())
    target = np.asarray(layout.PLACE_POS, dtype=float)
    radial = target[:2] / np.linalg.norm(target[:2])
    rot = palm_rotation(approach=[0, 0, -1], fingers=[radial[0], radial[1], 0.0])
    result = ik.solve(target, rot)
    if not result.success:
        raise RuntimeError(
            f"IK could not reach the place pose {target}: position error {result.pos_err:.3f} m, "
            f"rotation error {result.rot_err:.3f} rad"
        )
    return result.qpos
