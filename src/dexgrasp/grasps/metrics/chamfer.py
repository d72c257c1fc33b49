"""Chamfer distance between point sets (hand surface points of two grasps)."""

from __future__ import annotations

import numpy as np


def nearest_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each point of ``a`` (N, 3) to its nearest point in ``b`` (M, 3) -> (N,)."""
    from scipy.spatial import cKDTree

    a = _as_points(a, "a")
    b = _as_points(b, "b")
    dist, _ = cKDTree(b).query(a, k=1)
    return dist


def chamfer_distance(a: np.ndarray, b: np.ndarray, squared: bool = False) -> float:
    """Symmetric Chamfer distance: mean NN distance a->b plus mean NN distance b->a.

    Args:
        a: (N, 3) points, metres.
        b: (M, 3) points, metres.
        squared: average squared distances (the pytorch3d convention) instead of distances.
    Returns:
        Distance in the units of the input (m, or m^2 when squared).
    """
    d_ab = nearest_distances(a, b)
    d_ba = nearest_distances(b, a)
    if squared:
        d_ab, d_ba = d_ab**2, d_ba**2
    return float(d_ab.mean() + d_ba.mean())


def _as_points(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty (N, 3) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains non-finite values")
    return x
