"""Time profiles for scripted motions."""

from __future__ import annotations

import numpy as np


def min_jerk(n: int) -> np.ndarray:
    """(n,) smooth 0 -> 1 profile (minimum jerk), ending exactly at 1."""
    s = np.arange(1, n + 1) / n
    return 10 * s**3 - 15 * s**4 + 6 * s**5
