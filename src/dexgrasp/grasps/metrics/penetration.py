"""Maximum penetration depth of the hand into the object.

The object is described by a signed distance function, positive *inside* (the convention of
DexGraspNet's penetration energy): the penetration of a grasp is the largest SDF value over
the hand's surface points, clamped at 0. ``mesh_sdf`` builds that function for a watertight
triangle mesh (exact, numpy only); analytic SDFs (sphere, box) are given for tests and simple objects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SDF = Callable[[np.ndarray], np.ndarray]  # (N, 3) metres -> (N,) metres, > 0 inside


def max_penetration(hand_points: np.ndarray, sdf: SDF) -> float:
    """Deepest hand point inside the object.

    Args:
        hand_points: (N, 3) hand surface points, metres, object frame.
        sdf: signed distance of the object, positive inside.
    Returns:
        Penetration depth in metres (>= 0).
    """
    pts = np.asarray(hand_points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        return 0.0
    depth = np.asarray(sdf(pts), dtype=np.float64)
    if depth.shape != (len(pts),):
        raise ValueError(f"sdf returned shape {depth.shape}, expected ({len(pts)},)")
    return float(max(depth.max(), 0.0))


def _chunk(n_faces: int, chunk: int | None) -> int:
    """Points per block so that a block's (points x faces) temporaries stay ~ tens of MB."""
    return chunk if chunk is not None else max(1, min(256, 200_000 // max(n_faces, 1)))


def mesh_sdf(mesh, chunk: int | None = None) -> SDF:
    """SDF of a watertight triangle mesh (positive inside), exact and pure numpy.

    Distance: closest point on every triangle; sign: generalised winding number (> 0.5
    inside). Cost O(points x faces), computed in blocks of ``chunk`` points (default: sized
    to the face count).

    Args:
        mesh: a ``trimesh.Trimesh`` or a ``(vertices (V, 3), faces (F, 3))`` pair.
    """
    if isinstance(mesh, tuple):
        verts, faces = mesh
    else:
        if not getattr(mesh, "is_watertight", True):
            raise ValueError("mesh must be watertight for a signed distance")
        verts, faces = mesh.vertices, mesh.faces
    tri = np.asarray(verts, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]  # (F, 3, 3)
    if tri.ndim != 3 or tri.shape[1:] != (3, 3) or len(tri) == 0:
        raise ValueError(f"mesh faces must index (F, 3) triangles, got {tri.shape}")
    chunk = _chunk(len(tri), chunk)

    def sdf(points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        out = np.empty(len(pts))
        for i in range(0, len(pts), chunk):
            p = pts[i : i + chunk]
            dist = np.sqrt(_point_triangle_sq_dist(p, tri).min(axis=1))
            inside = _winding_number(p, tri) > 0.5
            out[i : i + chunk] = np.where(inside, dist, -dist)
        return out

    return sdf


def mesh_penetration(hand_points: np.ndarray, mesh, chunk: int | None = None) -> float:
    """Max depth of (N, 3) hand points inside a watertight mesh, metres (>= 0).

    Same answer as ``max_penetration(points, mesh_sdf(mesh))`` but only points inside the
    mesh's bounding box get a winding number and only inside points get a distance.
    """
    verts, faces = mesh if isinstance(mesh, tuple) else (mesh.vertices, mesh.faces)
    verts = np.asarray(verts, dtype=np.float64)
    pts = np.asarray(hand_points, dtype=np.float64).reshape(-1, 3)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    pts = pts[np.all((pts >= lo) & (pts <= hi), axis=1)]
    if len(pts) == 0:
        return 0.0
    tri = verts[np.asarray(faces, dtype=np.int64)]
    chunk = _chunk(len(tri), chunk)
    inside = np.concatenate(
        [_winding_number(pts[i : i + chunk], tri) > 0.5 for i in range(0, len(pts), chunk)]
    )
    pts = pts[inside]
    if len(pts) == 0:
        return 0.0
    best = 0.0
    for i in range(0, len(pts), chunk):
        d2 = _point_triangle_sq_dist(pts[i : i + chunk], tri).min(axis=1)
        best = max(best, float(np.sqrt(d2.max())))
    return best


def _winding_number(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Generalised winding number of (P, 3) points w.r.t. (F, 3, 3) triangles -> (P,)."""
    a, b, c = (tri[None, :, k] - p[:, None] for k in range(3))  # (P, F, 3)
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    den = (la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc
           + np.einsum("pfi,pfi->pf", b, c) * la + np.einsum("pfi,pfi->pf", c, a) * lb)  # fmt: skip
    return np.arctan2(det, den).sum(axis=1) / (2 * np.pi)


def _point_triangle_sq_dist(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Squared distance from each of (P, 3) points to each of (F, 3, 3) triangles -> (P, F)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac = b - a, c - a
    n = np.cross(ab, ac)
    nn = np.einsum("fi,fi->f", n, n).clip(1e-30)
    ap = p[:, None] - a[None]  # (P, F, 3)
    # Projection onto the plane, barycentric coordinates.
    t = np.einsum("pfi,fi->pf", ap, n) / nn
    proj = ap - t[..., None] * n[None]
    u = np.einsum("pfi,fi->pf", np.cross(proj, ac[None]), n) / nn * -1
    v = np.einsum("pfi,fi->pf", np.cross(ab[None], proj), n) / nn
    # u, v: weights of b and c; inside when u, v >= 0 and u + v <= 1.
    inside = (u >= 0) & (v >= 0) & (u + v <= 1)
    d_plane = t**2 * nn
    d_edges = np.minimum(
        np.minimum(_seg_sq_dist(p, a, b), _seg_sq_dist(p, b, c)), _seg_sq_dist(p, c, a)
    )
    return np.where(inside, d_plane, d_edges)


def _seg_sq_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distance of (P, 3) points to (F,) segments a-b -> (P, F)."""
    ab = b - a
    ap = p[:, None] - a[None]
    t = (np.einsum("pfi,fi->pf", ap, ab) / np.einsum("fi,fi->f", ab, ab).clip(1e-30)).clip(0, 1)
    d = ap - t[..., None] * ab[None]
    return np.einsum("pfi,pfi->pf", d, d)


def sphere_sdf(radius: float, center: np.ndarray | None = None) -> SDF:
    """SDF of a sphere (positive inside)."""
    c = np.zeros(3) if center is None else np.asarray(center, dtype=np.float64)

    def sdf(points: np.ndarray) -> np.ndarray:
        return radius - np.linalg.norm(np.asarray(points) - c, axis=-1)

    return sdf


def box_sdf(half_extents: np.ndarray) -> SDF:
    """SDF of an axis-aligned box centred at the origin (positive inside)."""
    h = np.asarray(half_extents, dtype=np.float64)

    def sdf(points: np.ndarray) -> np.ndarray:
        q = np.abs(np.asarray(points, dtype=np.float64)) - h
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
        inside = np.minimum(q.max(axis=-1), 0.0)
        return -(outside + inside)

    return sdf


def point_cloud_sdf(points: np.ndarray, normals: np.ndarray | None = None, k: int = 16) -> SDF:
    """Approximate SDF (positive inside) of a surface known only by points.

    The value at ``q`` is the distance from ``q`` to its nearest surface point ``p`` along
    ``p``'s outward normal, ``(p - q) . n``. Without ``normals`` they are estimated: the
    smallest principal axis of each point's ``k`` nearest neighbours, turned to point away
    from the cloud's centroid (right for the convex-ish procedural objects; concave pockets
    may get inward normals). Good near the surface, which is where a hand touches it. Outside
    the cloud's bounding box the value is minus the distance to the box (no lookup).
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) < 4 or not np.all(np.isfinite(pts)):
        raise ValueError(f"points: need at least 4 finite (N, 3) points, got {pts.shape}")
    tree = cKDTree(pts)
    if normals is None:
        _, nb = tree.query(pts, k=min(k, len(pts)))
        local = pts[nb] - pts[nb].mean(axis=1, keepdims=True)  # (N, k, 3)
        _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))
        nrm = vecs[:, :, 0]  # eigenvector of the smallest eigenvalue
        flip = np.einsum("ni,ni->n", nrm, pts - pts.mean(axis=0)) < 0
        nrm[flip] *= -1
    else:
        nrm = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
        if nrm.shape != pts.shape:
            raise ValueError(f"normals: expected shape {pts.shape}, got {nrm.shape}")
        nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)

    lo, hi = pts.min(axis=0), pts.max(axis=0)

    def sdf(query: np.ndarray) -> np.ndarray:
        q = np.asarray(query, dtype=np.float64).reshape(-1, 3)
        out = -np.linalg.norm(np.maximum(lo - q, 0) + np.maximum(q - hi, 0), axis=1)
        near = np.flatnonzero(out == 0)  # inside the bounding box: look up the nearest point
        _, i = tree.query(q[near])
        out[near] = np.einsum("ni,ni->n", pts[i] - q[near], nrm[i])
        return out

    return sdf
