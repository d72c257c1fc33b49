"""The two Shadow Hand models of the public datasets, and the mapping between them.

* ``shadow_openai`` -- the OpenAI Shadow Hand (gymnasium-robotics; DexGraspNet / DexGYS use
  the same kinematics). Our 28-D grasp: palm pose (translation + axis-angle) + 22 joints in
  ``SHADOW_JOINT_NAMES`` order (FFJ3..FFJ0, MFJ3..MFJ0, RFJ3..RFJ0, LFJ4..LFJ0, THJ4..THJ0).
* ``shadow_menagerie`` -- the MuJoCo Menagerie Shadow Hand (E3M5) used by Dexonomy and
  DexGraspBench. Their 29-D vector: free-joint position (3, m) + quaternion (4, wxyz) +
  22 joints in MJCF tree order (rh_FFJ4..FFJ1, MFJ4..MFJ1, RFJ4..RFJ1, LFJ5..LFJ1,
  THJ5..THJ1). Joint numbers run one higher than OpenAI's for the same joint.

Mapping menagerie -> openai (checked joint by joint against both MJCFs, in the palm frame):
* the palm bodies coincide (same finger-base positions; the little-finger metacarpal
  differs by ~2 mm), but the menagerie free joint sits 0.034 m below the palm along the
  palm's z axis: ``palm = pos + R @ (0, 0, 0.034)`` (the offset DexGraspBench's own
  converter applies), rotation unchanged;
* joint k of each finger maps to joint k in the same position of the OpenAI order, with
  the sign flipped where the hinge axes point opposite ways: FF/MF knuckle (J4, axis
  -y vs +y) and the two outer thumb joints (THJ2 -> THJ1, THJ1 -> THJ0, axis -y vs +y);
* menagerie ranges are wider in places (proximal J3 down to -0.26 rad, THJ2 +-0.70 rad),
  so mapped joints are clipped to the OpenAI limits; ``clipped`` reports how much.
"""

from __future__ import annotations

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM, SHADOW_JOINT_NAMES

HAND_OPENAI = "shadow_openai"
HAND_MENAGERIE = "shadow_menagerie"
HANDS = (HAND_OPENAI, HAND_MENAGERIE)

MENAGERIE_JOINT_NAMES = (
    "rh_FFJ4", "rh_FFJ3", "rh_FFJ2", "rh_FFJ1",
    "rh_MFJ4", "rh_MFJ3", "rh_MFJ2", "rh_MFJ1",
    "rh_RFJ4", "rh_RFJ3", "rh_RFJ2", "rh_RFJ1",
    "rh_LFJ5", "rh_LFJ4", "rh_LFJ3", "rh_LFJ2", "rh_LFJ1",
    "rh_THJ5", "rh_THJ4", "rh_THJ3", "rh_THJ2", "rh_THJ1",
)  # fmt: skip
MENAGERIE_QPOS_DIM = 7 + len(MENAGERIE_JOINT_NAMES)  # 29
# Sign that takes a menagerie joint angle to the OpenAI joint at the same index.
MENAGERIE_TO_OPENAI_SIGN = np.array(
    [-1, 1, 1, 1,  -1, 1, 1, 1,  1, 1, 1, 1,  1, 1, 1, 1, 1,  1, 1, 1, -1, -1], dtype=np.float64
)  # fmt: skip
MENAGERIE_PALM_OFFSET = np.array([0.0, 0.0, 0.034])  # palm origin in the free-joint frame, m

# OpenAI hand joint limits (rad), SHADOW_JOINT_NAMES order, from the gymnasium-robotics MJCF.
OPENAI_LOWER = np.array(
    [-0.349, 0, 0, 0] * 3 + [0, -0.349, 0, 0, 0] + [-1.047, 0, -0.209, -0.524, -1.571]
)
OPENAI_UPPER = np.array(
    [0.349, 1.571, 1.571, 1.571] * 3 + [0.785, 0.349, 1.571, 1.571, 1.571] + [1.047, 1.222, 0.209, 0.524, 0.0]
)  # fmt: skip
assert len(MENAGERIE_JOINT_NAMES) == len(SHADOW_JOINT_NAMES) == len(OPENAI_LOWER)


def quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz quaternions (normalised here) -> (..., 3, 3)."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-9):
        raise ValueError("quaternion of zero length")
    xyzw = np.roll(q / norm, -1, axis=-1)
    return Rotation.from_quat(xyzw.reshape(-1, 4)).as_matrix().reshape(q.shape[:-1] + (3, 3))


def menagerie_to_openai(
    qpos: np.ndarray,
    object_pose: np.ndarray | None = None,
    object_scale: float = 1.0,
) -> tuple[np.ndarray, float]:
    """Convert menagerie 29-D hand states (world frame) to our 28-D grasps (object frame).

    Args:
        qpos: (..., 29) position (m) + quaternion (wxyz) + 22 menagerie joints (rad).
        object_pose: (7,) object position + wxyz quaternion in the same world frame
            (default: identity). The grasp is re-expressed in the object frame.
        object_scale: scale applied to the object mesh; positions are metric either way.
    Returns:
        (grasps (..., 28), clipped): ``clipped`` is the largest joint change (rad) the
        OpenAI limits forced.
    """
    from scipy.spatial.transform import Rotation

    q = np.asarray(qpos, dtype=np.float64)
    if q.shape[-1] != MENAGERIE_QPOS_DIM:
        raise ValueError(f"menagerie qpos must have {MENAGERIE_QPOS_DIM} values, got {q.shape}")
    if not np.isfinite(q).all():
        raise ValueError("menagerie qpos contains non-finite values")
    del object_scale  # scale acts on the object mesh, not on the hand pose
    batch = q.shape[:-1]
    q = q.reshape(-1, MENAGERIE_QPOS_DIM)
    r_world = quat_wxyz_to_matrix(q[:, 3:7])  # (B, 3, 3)
    palm_world = q[:, :3] + r_world @ MENAGERIE_PALM_OFFSET
    if object_pose is not None:
        op = np.asarray(object_pose, dtype=np.float64).reshape(7)
        r_obj = quat_wxyz_to_matrix(op[3:7])
        palm = (palm_world - op[:3]) @ r_obj  # R_o^T (p - t_o), row vectors
        rot = np.einsum("ji,bjk->bik", r_obj, r_world)
    else:
        palm, rot = palm_world, r_world
    joints = q[:, 7:] * MENAGERIE_TO_OPENAI_SIGN
    clipped_joints = np.clip(joints, OPENAI_LOWER, OPENAI_UPPER)
    out = np.empty((len(q), GRASP_DIM))
    out[:, 0:3] = palm
    out[:, 3:6] = Rotation.from_matrix(rot).as_rotvec()
    out[:, 6:] = clipped_joints
    clipped = float(np.abs(clipped_joints - joints).max()) if len(q) else 0.0
    return out.reshape(batch + (GRASP_DIM,)), clipped


def openai_to_menagerie(grasps: np.ndarray) -> np.ndarray:
    """Inverse of :func:`menagerie_to_openai` (object frame = world, no clipping): (..., 29)."""
    from scipy.spatial.transform import Rotation

    g = np.asarray(grasps, dtype=np.float64)
    if g.shape[-1] != GRASP_DIM:
        raise ValueError(f"grasps must have {GRASP_DIM} values, got {g.shape}")
    batch = g.shape[:-1]
    g = g.reshape(-1, GRASP_DIM)
    rot = Rotation.from_rotvec(g[:, 3:6])
    out = np.empty((len(g), MENAGERIE_QPOS_DIM))
    out[:, :3] = g[:, :3] - rot.as_matrix() @ MENAGERIE_PALM_OFFSET
    out[:, 3:7] = np.roll(rot.as_quat(), 1, axis=-1)
    out[:, 7:] = g[:, 6:] * MENAGERIE_TO_OPENAI_SIGN
    return out.reshape(batch + (MENAGERIE_QPOS_DIM,))
