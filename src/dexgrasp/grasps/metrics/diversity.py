"""Grasp diversity: standard deviation of palm translation, palm rotation and joint angles.

Follows the DexGYS evaluation: translation in centimetres, rotation as intrinsic XYZ Euler angles in
degrees with differences from the circular mean wrapped into [-180, 180] before the (unbiased) standard deviation,
joints in degrees. Each number is the mean over its dimensions.
"""

from __future__ import annotations

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM, JOINT_SLICE, ROTATION_SLICE, TRANSLATION_SLICE


def _wrapped_std(deg: np.ndarray) -> np.ndarray:
    """Unbiased per-column std of angles in degrees about their circular mean.

    Differences are wrapped into [-180, 180]. (DexGYS wraps differences from the arithmetic
    mean, which still counts 179 and -179 degrees as far apart; the circular mean does not.)
    """
    rad = np.deg2rad(deg)
    centre = np.rad2deg(np.arctan2(np.sin(rad).mean(axis=0), np.cos(rad).mean(axis=0)))
    diff = np.abs(deg - centre[None]) % 360.0
    diff = np.where(diff <= 180.0, diff, 360.0 - diff)
    return np.sqrt((diff**2).sum(axis=0) / (len(deg) - 1))


def diversity(grasps: np.ndarray) -> dict[str, float]:
    """Diversity of a set of 28-D grasps.

    Args:
        grasps: (N, 28) grasps (N >= 2), DexGYS convention (see ``conventions``).
    Returns:
        ``delta_t`` (cm), ``delta_r`` (deg), ``delta_q`` (deg).
    """
    from scipy.spatial.transform import Rotation

    g = np.asarray(grasps, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != GRASP_DIM:
        raise ValueError(f"grasps must be (N, {GRASP_DIM}), got {g.shape}")
    if len(g) < 2:
        raise ValueError("diversity needs at least 2 grasps")
    trans_cm = g[:, TRANSLATION_SLICE] * 100.0
    euler_deg = Rotation.from_rotvec(g[:, ROTATION_SLICE]).as_euler("XYZ", degrees=True)
    joints_deg = np.rad2deg(g[:, JOINT_SLICE])
    return {
        "delta_t": float(trans_cm.std(axis=0, ddof=1).mean()),
        "delta_r": float(_wrapped_std(euler_deg).mean()),
        "delta_q": float(joints_deg.std(axis=0, ddof=1).mean()),
    }
