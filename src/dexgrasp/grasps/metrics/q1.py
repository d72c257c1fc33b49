"""Q1 force-closure quality (Ferrari-Canny epsilon metric).

Each contact pushes on the object with a force inside its Coulomb friction cone; the cone is
linearised by ``n_edges`` unit-normal-force edge vectors. Every edge gives a 6-D wrench
``[f, torque_scale * (p x f)]``. Q1 is the radius of the largest ball around the origin that
fits inside the convex hull of these wrenches (plus the origin itself, so that a grasp whose
hull does not enclose the origin scores exactly 0).

Units: contact points in metres (object frame, about the object centre), forces are unit
normal forces, ``torque_scale`` in 1/m turns torques into force units (1 / characteristic
object length; 10 for ~10 cm objects).
"""

from __future__ import annotations

import numpy as np

DEFAULT_FRICTION = 0.5
DEFAULT_CONE_EDGES = 8
DEFAULT_TORQUE_SCALE = 10.0


def friction_cone_edges(normals: np.ndarray, mu: float, n_edges: int) -> np.ndarray:
    """Linearised friction cones.

    Args:
        normals: (K, 3) contact normals pointing into the object (direction of the push).
        mu: Coulomb friction coefficient (>= 0).
        n_edges: number of cone edges (>= 3).
    Returns:
        (K, n_edges, 3) edge forces ``n + mu * (cos t u + sin t v)``.
    """
    normals = np.asarray(normals, dtype=np.float64)
    if normals.ndim != 2 or normals.shape[1] != 3:
        raise ValueError(f"normals must be (K, 3), got {normals.shape}")
    if mu < 0:
        raise ValueError(f"mu must be >= 0, got {mu}")
    if n_edges < 3:
        raise ValueError(f"n_edges must be >= 3, got {n_edges}")
    n = normals / np.linalg.norm(normals, axis=1, keepdims=True).clip(1e-12)
    # A tangent not parallel to n: cross with the world axis least aligned with n.
    helper = np.eye(3)[np.argmin(np.abs(n), axis=1)]
    u = np.cross(n, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(n, u)
    theta = np.linspace(0.0, 2 * np.pi, n_edges, endpoint=False)
    tang = np.cos(theta)[None, :, None] * u[:, None] + np.sin(theta)[None, :, None] * v[:, None]
    return n[:, None, :] + mu * tang


def contact_wrenches(
    points: np.ndarray,
    normals: np.ndarray,
    mu: float = DEFAULT_FRICTION,
    n_edges: int = DEFAULT_CONE_EDGES,
    torque_scale: float = DEFAULT_TORQUE_SCALE,
    center: np.ndarray | None = None,
) -> np.ndarray:
    """Primitive wrenches of all contacts: (K * n_edges, 6) = [force, torque_scale * torque]."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape != np.asarray(normals).shape:
        raise ValueError(
            f"points {points.shape} and normals {np.asarray(normals).shape} must match"
        )
    forces = friction_cone_edges(normals, mu, n_edges)  # (K, E, 3)
    c = np.zeros(3) if center is None else np.asarray(center, dtype=np.float64)
    arms = np.broadcast_to((points - c)[:, None, :], forces.shape)
    torques = np.cross(arms, forces) * torque_scale
    return np.concatenate([forces, torques], axis=-1).reshape(-1, 6)


def wrench_space_q1(wrenches: np.ndarray) -> float:
    """Distance from the origin to the boundary of conv(wrenches U {0}), or 0.

    Args:
        wrenches: (M, D) wrench vectors (D = 6 for the full space).
    Returns:
        Q1 >= 0; 0 when the hull is degenerate or the origin is on its boundary.
    """
    from scipy.spatial import ConvexHull, QhullError

    w = np.asarray(wrenches, dtype=np.float64)
    if w.ndim != 2 or len(w) == 0:
        return 0.0
    w = np.concatenate([w, np.zeros((1, w.shape[1]))], axis=0)
    if len(w) <= w.shape[1]:
        return 0.0
    try:
        hull = ConvexHull(w)
    except (QhullError, ValueError):
        return 0.0  # flat hull: the wrenches span a lower-dimensional space
    # Facet equations: normal . x + offset <= 0 inside, with unit normals.
    offsets = -hull.equations[:, -1] / np.linalg.norm(hull.equations[:, :-1], axis=1)
    return float(max(offsets.min(), 0.0))


def q1_metric(
    points: np.ndarray,
    normals: np.ndarray,
    mu: float = DEFAULT_FRICTION,
    n_edges: int = DEFAULT_CONE_EDGES,
    torque_scale: float = DEFAULT_TORQUE_SCALE,
    center: np.ndarray | None = None,
) -> float:
    """Q1 of a grasp from its contacts.

    Args:
        points: (K, 3) contact positions, metres, object frame.
        normals: (K, 3) inward contact normals (hand pushes along them).
        mu, n_edges, torque_scale: friction model and torque units (see module docstring).
        center: torque reference point (default: origin = object centre).
    Returns:
        Q1 (unitless, >= 0). Fewer than 2 contacts give 0.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) < 2:
        return 0.0
    return wrench_space_q1(contact_wrenches(points, normals, mu, n_edges, torque_scale, center))
