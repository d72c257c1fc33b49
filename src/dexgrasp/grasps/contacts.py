"""Physics-based contact annotation (DextER 3.4 / supp. 6.3): MuJoCo contacts per hand link.

For a grasp, place the hand and the object in MuJoCo (forward kinematics only, nothing is
simulated), collect every hand-object contact closer than ``threshold`` and return the contact
positions in the object frame, grouped by DextER link name:
``{"rh_ffdistal": (k, 3) float32, "rh_thdistal": (k, 3) float32, ...}``.

MuJoCo reports a contact point midway between the two surfaces; it is projected onto the object
surface along the contact normal, so the positions lie on the object (as the paper's point-cloud
bins expect).

>>> sim = HandObjectSim.from_object(obj)
>>> contacts = annotate_contacts(sim, grasp)
"""

from __future__ import annotations

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES
from dexgrasp.grasps.simulate import HandObjectSim

DEFAULT_THRESHOLD = 0.002  # m: surfaces closer than 2 mm count as touching


def annotate_contacts(sim: HandObjectSim, grasp: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                      merge_radius: float = 0.003) -> dict[str, np.ndarray]:  # fmt: skip
    """Contact positions per hand link for one (28,) grasp, object frame, metres.

    ``merge_radius``: contacts of one link closer than this (m) are merged (MuJoCo can report
    several points for one touching patch). Links are ordered as ``LINK_NAMES``.
    """
    if threshold < 0:
        raise ValueError(f"threshold: must be >= 0, got {threshold}")
    sim.set_grasp(grasp)  # object at the origin: world frame = object frame
    per_link: dict[str, list[np.ndarray]] = {}
    for c in sim.contacts(max_dist=threshold):
        # c.pos is midway; the object surface is half the distance further along the normal
        on_object = c.pos + c.normal * (c.dist / 2)
        pts = per_link.setdefault(c.link, [])
        if all(np.linalg.norm(on_object - q) > merge_radius for q in pts):
            pts.append(on_object)
    return {
        link: np.asarray(per_link[link], dtype=np.float32).reshape(-1, 3)
        for link in LINK_NAMES
        if link in per_link
    }


def contact_links(contacts: dict[str, np.ndarray]) -> tuple[str, ...]:
    """Links with at least one contact, in ``LINK_NAMES`` order."""
    return tuple(link for link in LINK_NAMES if link in contacts and len(contacts[link]))


def validate_contacts(contacts: object, where: str = "contacts") -> dict[str, np.ndarray]:
    """Check a ``{link: (k, 3)}`` mapping; returns float32 arrays. Errors name the bad field."""
    if not isinstance(contacts, dict):
        raise ValueError(
            f"{where}: expected a mapping link -> positions, got {type(contacts).__name__}"
        )
    out = {}
    for link, pts in contacts.items():
        if link not in LINK_NAMES:
            raise ValueError(f"{where}[{link!r}]: unknown link; expected one of LINK_NAMES")
        arr = np.asarray(pts, dtype=np.float32)
        if arr.size == 0:
            arr = arr.reshape(0, 3)
        if arr.ndim != 2 or arr.shape[1] != 3 or not np.isfinite(arr).all():
            raise ValueError(
                f"{where}[{link!r}]: expected finite (k, 3) positions, got {arr.shape}"
            )
        out[link] = arr
    return out


def contacted_part(contacts: dict[str, np.ndarray], points: np.ndarray, labels: np.ndarray,
                   parts: tuple[str, ...], fallback: str = "") -> str:  # fmt: skip
    """The functional part touched by most contacts (nearest labelled surface point of each).

    ``points`` (N, 3) / ``labels`` (N,) are the object's labelled surface samples; ties go to the
    part listed first; no contacts -> ``fallback``.
    """
    pos = [p for p in contacts.values() if len(p)]
    if not pos:
        return fallback
    from scipy.spatial import cKDTree

    _, idx = cKDTree(np.asarray(points, dtype=np.float64)).query(
        np.concatenate(pos).astype(np.float64)
    )
    counts = np.bincount(np.asarray(labels)[idx], minlength=len(parts))
    return parts[int(np.argmax(counts))]


def fit_grasp_to_contacts(
    grasp: np.ndarray,
    contacts: dict[str, np.ndarray],
    hand=None,
    contact_sigma: float = 0.003,
    prior_sigma: tuple[float, float, float] = (0.03, 0.3, 0.5),
    iters: int = 20,
    sdf=None,
    pen_sigma: float = 0.002,
) -> np.ndarray:
    """Move a grasp so that each contacted link touches its contact positions.

    Damped Gauss-Newton on the (28,) grasp: for every contact position ``c`` of a link, the
    link's surface point nearest to ``c`` should lie on ``c`` (residual scaled by
    ``contact_sigma`` metres); a prior keeps the palm translation, palm rotation and joints
    near the start (scales ``prior_sigma``: metres, radians, radians). Joints stay within
    their limits. With ``sdf`` (the object's signed distance, positive inside, as in
    :mod:`dexgrasp.grasps.metrics.penetration`, e.g. ``point_cloud_sdf(points)``) every
    fourth hand surface point inside the object adds its depth (scale ``pen_sigma`` metres),
    so the links reach their contacts from outside. The Jacobian is a forward difference,
    all 28 columns in one batched forward-kinematics call. Links with no positions
    (``(0, 3)``), or without surface samples on the hand model, add nothing.

    Returns the fitted (28,) grasp; the input is returned unchanged when no link has a position.
    """
    from dexgrasp.grasps.hand import shadow_hand

    hand = hand or shadow_hand()
    g0 = np.asarray(grasp, dtype=np.float64).reshape(-1)
    if g0.shape != (GRASP_DIM,) or not np.all(np.isfinite(g0)):
        raise ValueError(f"grasp: expected a finite ({GRASP_DIM},) vector, got {g0.shape}")
    if contact_sigma <= 0 or min(prior_sigma) <= 0 or pen_sigma <= 0 or iters < 0:
        raise ValueError("contact_sigma, prior_sigma and pen_sigma must be > 0 and iters >= 0")
    contacts = validate_contacts(contacts)
    link_ids = hand.surface_point_links
    targets, members = [], []
    for link, pts in contacts.items():
        on_link = np.flatnonzero(link_ids == LINK_NAMES.index(link))
        if len(on_link) == 0:  # a link without surface samples (no geometry) cannot be fitted
            continue
        for c in np.asarray(pts, dtype=np.float64):
            targets.append(c)
            members.append(on_link)
    if not targets:
        return g0.copy()
    targets = np.asarray(targets)
    lower = np.concatenate([np.full(6, -np.inf), hand.lower])
    upper = np.concatenate([np.full(6, np.inf), hand.upper])
    prior = np.repeat(1.0 / np.asarray(prior_sigma, dtype=np.float64), [3, 3, GRASP_DIM - 6])
    step = 1e-5

    def residuals(gs: np.ndarray, surf: np.ndarray, pick: np.ndarray) -> np.ndarray:
        """(B, R) for grasps ``gs`` whose hand surface points are ``surf`` (B, N, 3)."""
        r_c = (surf[:, pick] - targets[None]).reshape(len(gs), -1) / contact_sigma
        parts = [r_c, (gs - g0) * prior]
        if sdf is not None:
            probe = surf[:, ::4]  # a quarter of the hand points keeps the SDF queries cheap
            depth = np.asarray(sdf(probe.reshape(-1, 3))).reshape(len(gs), -1)
            parts.append(np.maximum(depth, 0.0) / pen_sigma)
        return np.concatenate(parts, 1)

    def evaluate(g: np.ndarray) -> tuple[np.ndarray, float]:
        """Each contact's nearest point of its link at ``g`` and the cost there (one FK call)."""
        surf = hand.surface_points(g[None])
        pick = np.array([m[np.argmin(np.linalg.norm(surf[0, m] - c, axis=1))]
                         for m, c in zip(members, targets)])  # fmt: skip
        return pick, float(np.sum(residuals(g[None], surf, pick) ** 2))

    g, damping = g0.copy(), 1e-3
    pick, cost = evaluate(g)
    for _ in range(iters):
        batch = np.repeat(g[None], GRASP_DIM + 1, 0)
        batch[1:] += np.eye(GRASP_DIM) * step
        res = residuals(batch, hand.surface_points(batch), pick)
        r0, jac = res[0], (res[1:] - res[0]).T / step  # (R,), (R, 28)
        jtj, jtr = jac.T @ jac, jac.T @ r0
        while damping < 1e8:
            cand = np.clip(g - np.linalg.solve(jtj + damping * np.diag(np.diag(jtj) + 1e-9), jtr),
                           lower, upper)  # fmt: skip
            cand_pick, new = evaluate(cand)
            if new < cost:
                g, pick, cost, damping = cand, cand_pick, new, max(damping / 3, 1e-6)
                break
            damping *= 4
        else:
            break
    return g


def touching_links(
    grasps: np.ndarray,
    points: np.ndarray,
    hand=None,
    sdf=None,
    touch: float = 0.005,
) -> tuple[np.ndarray, np.ndarray]:
    """Which hand links each grasp brings to the object.

    A link touches when one of its surface points lies within ``touch`` metres of an object
    point or inside the object (``sdf`` > 0). Only the object's points and the hand model are
    used, no simulation.

    Args:
        grasps: (B, 28) grasps, object frame.
        points: (N, 3) object points, metres, object frame.
        hand: a ``ShadowHand`` (default: ``shadow_hand()``).
        sdf: the object's signed distance, positive inside (default: ``point_cloud_sdf(points)``).
        touch: contact distance, metres.
    Returns:
        (B, len(LINK_NAMES)) bool touching links, and (B, P, 3) hand surface points.
        Links without surface samples on the hand model never touch.
    """
    from scipy.spatial import cKDTree

    from dexgrasp.grasps.hand import shadow_hand
    from dexgrasp.grasps.metrics.penetration import point_cloud_sdf

    g = np.atleast_2d(np.asarray(grasps, dtype=np.float64))
    if g.ndim != 2 or g.shape[1] != GRASP_DIM or not np.all(np.isfinite(g)):
        raise ValueError(f"grasps: expected finite (B, {GRASP_DIM}), got {g.shape}")
    if touch <= 0:
        raise ValueError(f"touch must be > 0 metres, got {touch}")
    hand = hand or shadow_hand()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    sdf = sdf or point_cloud_sdf(pts)
    surf = hand.surface_points(g)  # (B, P, 3)
    b, p = surf.shape[:2]
    flat = surf.reshape(-1, 3)
    dist, _ = cKDTree(pts).query(flat)
    near = (dist.reshape(b, p) < touch) | (np.asarray(sdf(flat)).reshape(b, p) > 0)
    ids = hand.surface_point_links
    touching = np.zeros((b, len(LINK_NAMES)), dtype=bool)
    for li in np.unique(ids):
        touching[:, li] = near[:, ids == li].any(axis=1)
    return touching, surf


def link_f1(contacts: dict, touching: np.ndarray, has_points: np.ndarray) -> float:
    """F1 between the links named in ``contacts`` (``{link: positions}``) and the ``touching``
    links of one grasp (a row of :func:`touching_links`), over the links marked in
    ``has_points`` (those with surface samples on the hand model). 0 when none match, and
    so for an empty ``contacts``."""
    written = np.zeros(len(LINK_NAMES), dtype=bool)
    for name in contacts:
        written[LINK_NAMES.index(name)] = True
    written &= has_points
    hits = int((written & touching).sum())
    return 2 * hits / int(written.sum() + touching.sum()) if hits else 0.0


def contact_agreement(
    grasps: np.ndarray,
    contacts: list[dict[str, np.ndarray]],
    points: np.ndarray,
    hand=None,
    sdf=None,
    touch: float = 0.005,
    pos_scale: float = 0.01,
    pen_scale: float | None = None,
) -> np.ndarray:
    """How well each grasp's hand agrees with the contacts written for it.

    For grasp ``i`` the hand is placed by forward kinematics and its touching links found by
    :func:`touching_links`. The score is

    - the F1 between the links of ``contacts[i]`` and the touching links (links without
      surface samples on the hand model are left out of both; no written link scores 0),
    - minus the mean distance from each written contact position to the nearest surface
      point of its own link, divided by ``pos_scale`` (link-only entries add nothing),
    - when ``pen_scale`` is given, minus the deepest hand point inside the object divided by
      ``pen_scale``. Off by default: on DextER's samples the point-cloud SDF's depth did not
      predict simulated success and ranking by it picked hands that stay off the object
      (docs/dexter.md, "Which score picks good candidates").

    Only the object's points and the hand model are used, no simulation.

    Args:
        grasps: (B, 28) grasps, object frame.
        contacts: per grasp, ``{link: (k, 3) positions}`` (k = 0 for a link named alone).
        points: (N, 3) object points, metres, object frame.
        hand: a ``ShadowHand`` (default: ``shadow_hand()``).
        sdf: the object's signed distance, positive inside (default: ``point_cloud_sdf(points)``).
    Returns:
        (B,) float64 scores, higher is better (at most 1).
    """
    from dexgrasp.grasps.hand import shadow_hand
    from dexgrasp.grasps.metrics.penetration import point_cloud_sdf

    g = np.atleast_2d(np.asarray(grasps, dtype=np.float64))
    if len(contacts) != len(g):
        raise ValueError(f"{len(contacts)} contact sets for {len(g)} grasps")
    if pos_scale <= 0 or (pen_scale is not None and pen_scale <= 0):
        raise ValueError("pos_scale and pen_scale must be > 0 metres")
    contacts = [validate_contacts(c, f"contacts[{i}]") for i, c in enumerate(contacts)]
    hand = hand or shadow_hand()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    sdf = sdf or point_cloud_sdf(pts)
    touching, surf = touching_links(g, pts, hand, sdf, touch)
    ids = hand.surface_point_links
    on_link = [np.flatnonzero(ids == li) for li in range(len(LINK_NAMES))]
    has_points = np.array([len(m) > 0 for m in on_link])
    out = np.zeros(len(g))
    if pen_scale is not None:
        depth = np.asarray(sdf(surf.reshape(-1, 3))).reshape(surf.shape[:2])
        out -= np.maximum(depth.max(axis=1), 0.0) / pen_scale
    for i, written_contacts in enumerate(contacts):
        out[i] += link_f1(written_contacts, touching[i], has_points)
        gaps = []
        for name, pos in written_contacts.items():
            li = LINK_NAMES.index(name)
            if len(pos) and has_points[li]:
                d = np.linalg.norm(pos[:, None, :] - surf[i, on_link[li]][None], axis=-1)
                gaps.extend(d.min(axis=1))
        if gaps:
            out[i] -= float(np.mean(gaps)) / pos_scale
    return out
