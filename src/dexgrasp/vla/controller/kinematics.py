"""Palm-space actions for the controller (``action_space="palm"``, a deviation from the paper).

The paper's controller predicts joint targets. In this library's demonstrations the palm pose
is a smooth function of where the target is, while the arm joints are not: the 7-DoF arm
reaches the same palm pose with different elbow swivels and wrist branches, so demonstrations
of targets a few pixels apart differ by as much joint posture as random pairs
(docs/controller.md, Status). A palm-space policy predicts, per step, the palm site's
position (3, metres, world frame), its rotation as the first two columns of the rotation
matrix (6) and the hand joint targets (6): ``PALM_ACTION_DIM`` = 15. Joint targets come back
by damped-least-squares IK seeded with the previous step's joints (the posture follows the
robot continuously, with the nullspace pulled towards the seed, not towards a rest posture).

The kinematics are those of the simulated arm (``dexgrasp.sim.robot``); another robot needs
its own forward/inverse kinematics with the same two methods.
"""

from __future__ import annotations

import numpy as np

from dexgrasp.constants import ARM_DIM, HAND_DIM

PALM_ACTION_DIM = 3 + 6 + HAND_DIM  # position, rotation (two columns), hand joints


def rotation_to_6d(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 6): the first two columns, stacked."""
    rot = np.asarray(rot)
    return np.concatenate([rot[..., :, 0], rot[..., :, 1]], axis=-1)


def rotation_from_6d(d6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (any two non-parallel vectors are valid)."""
    d6 = np.asarray(d6, dtype=np.float64)
    a, b = d6[..., :3], d6[..., 3:]
    x = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9)
    b = b - x * np.sum(x * b, axis=-1, keepdims=True)
    y = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


class PalmKinematics:
    """Joint targets <-> palm-space actions for the simulated arm and hand.

    Args:
        ik_iters: iterations per tracking solve (seeded by the previous step, so few suffice).
    """

    def __init__(self, ik_iters: int = 30) -> None:
        from dexgrasp.sim import robot
        from dexgrasp.sim.ik import ArmIK, IKConfig

        self.ik = ArmIK(robot.robot_model(), config=IKConfig(max_iters=ik_iters))

    def to_palm(self, joints: np.ndarray) -> np.ndarray:
        """(..., 13) joint targets -> (..., 15) palm position, rotation 6D, hand joints."""
        joints = np.asarray(joints, dtype=np.float64)
        if joints.shape[-1] != ARM_DIM + HAND_DIM:
            raise ValueError(f"joints must be (..., {ARM_DIM + HAND_DIM}), got {joints.shape}")
        flat = joints.reshape(-1, joints.shape[-1])
        out = np.empty((len(flat), PALM_ACTION_DIM))
        for i, q in enumerate(flat):
            pos, rot = self.ik.forward(q[:ARM_DIM])
            out[i, :3], out[i, 3:9] = pos, rotation_to_6d(rot)
        out[:, 9:] = flat[:, ARM_DIM:]
        return out.reshape(*joints.shape[:-1], PALM_ACTION_DIM)

    def to_joints(self, palm: np.ndarray, start: np.ndarray) -> np.ndarray:
        """(T, 15) palm actions -> (T, 13) joint targets, solved in order from ``start`` (13,)
        (the measured joints): each step's IK starts from, and is pulled towards, the last."""
        palm = np.asarray(palm, dtype=np.float64)
        if palm.ndim != 2 or palm.shape[1] != PALM_ACTION_DIM:
            raise ValueError(f"palm actions must be (T, {PALM_ACTION_DIM}), got {palm.shape}")
        if not np.all(np.isfinite(palm)):
            raise ValueError("palm actions must be finite")
        q = np.asarray(start, dtype=np.float64)[:ARM_DIM]
        rots = rotation_from_6d(palm[:, 3:9])
        out = np.empty((len(palm), ARM_DIM + HAND_DIM))
        for k in range(len(palm)):
            q = self.ik.solve(palm[k, :3], rots[k], q_init=q, rest=q).qpos
            out[k, :ARM_DIM] = q
        out[:, ARM_DIM:] = palm[:, 9:]
        return out
