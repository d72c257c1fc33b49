"""Evaluate a set of grasps with any subset of the metrics (the engine of ``dexgrasp grasps eval``).

Inputs are plain arrays plus the objects, so any dataset or model output can be evaluated:

* ``pred``: :class:`GraspSet` -- (N, 28) grasps, their object ids and optionally predicted
  contacts (link -> (k, 3), object frame);
* ``ref``: the reference (ground-truth) set, needed by the intention metrics ``cd``, ``con``,
  ``contact`` and ``pfid``; ``ref_index[i]`` names the reference of prediction i (default:
  the reference grasp of the same object with the smallest Chamfer distance);
* ``objects``: object id -> :class:`~dexgrasp.grasps.objects.GraspObject` (SDF, physics).

Metric names: ``sim`` (force + gravity tests), ``q1``, ``pen``, ``cd``, ``con``, ``div``,
``contact``, ``pfid``. Units in the summary: ``pen_cm`` and ``cd_cm`` centimetres (CD = mean
nearest-neighbour distance both ways between hand surface samples), ``con`` mean squared
contact-map difference, diversity cm / degrees, rates as fractions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dexgrasp.grasps.conventions import LINK_NAMES

METRICS = ("sim", "q1", "pen", "cd", "con", "div", "contact", "pfid")
NEEDS_REF = ("cd", "con", "contact", "pfid")
CONTACT_THRESHOLD = 0.005  # m: a hand link within this of the surface is in contact (Q1)


@dataclass
class GraspSet:
    """Grasps to evaluate: (N, 28) ``grasps`` with their ``object_ids`` and optional contacts."""

    object_ids: list[str]
    grasps: np.ndarray
    contacts: list[dict[str, np.ndarray]] | None = None

    def __post_init__(self) -> None:
        self.grasps = np.asarray(self.grasps, dtype=np.float64).reshape(-1, 28)
        self.object_ids = [str(o) for o in self.object_ids]
        if len(self.object_ids) != len(self.grasps):
            raise ValueError(f"{len(self.object_ids)} object ids for {len(self.grasps)} grasps")
        if not np.isfinite(self.grasps).all():
            raise ValueError("grasps contain non-finite values")
        if self.contacts is not None and len(self.contacts) != len(self.grasps):
            raise ValueError(f"{len(self.contacts)} contact sets for {len(self.grasps)} grasps")


@dataclass
class EvalResult:
    summary: dict[str, float] = field(default_factory=dict)
    per_grasp: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per metric


def near_box(points: np.ndarray, bounds: np.ndarray | None, margin: float) -> np.ndarray:
    """(N,) bool: points within ``margin`` of the (2, 3) bounding box (all True without one)."""
    if bounds is None:
        return np.ones(len(points), dtype=bool)
    lo, hi = np.asarray(bounds)[0] - margin, np.asarray(bounds)[1] + margin
    return np.all((points >= lo) & (points <= hi), axis=1)


def masked_sdf(sdf, points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """SDF at the masked points, +inf elsewhere (points known to be far outside)."""
    d = np.full(len(points), np.inf)
    if mask.any():
        d[mask] = sdf(points[mask])
    return d


def sdf_contacts(points: np.ndarray, link_ids: np.ndarray, sdf, threshold: float = CONTACT_THRESHOLD,
                 eps: float = 1e-4, bounds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
    """One contact per hand link from surface points and an object SDF (negative inside).

    For each link, its point nearest to (or deepest inside) the surface counts when its
    distance is below ``threshold``; it is projected onto the surface and given the inward
    normal (-grad sdf). ``bounds`` (2, 3), when given, skips points farther than
    ``threshold`` from the object's box. Returns positions (K, 3), inward normals (K, 3),
    link names (K,).
    """
    d = masked_sdf(sdf, points, near_box(points, bounds, threshold))
    pos, nrm, names = [], [], []
    for li in np.unique(link_ids):
        idx = np.flatnonzero(link_ids == li)
        j = idx[np.argmin(d[idx])]
        if d[j] >= threshold:
            continue
        p = points[j]
        grad = np.array([(sdf((p + e)[None])[0] - sdf((p - e)[None])[0]) / (2 * eps)
                         for e in np.eye(3) * eps])  # fmt: skip
        n = grad / max(np.linalg.norm(grad), 1e-12)
        pos.append(p - d[j] * n)
        nrm.append(-n)
        names.append(LINK_NAMES[li])
    return np.reshape(pos, (-1, 3)), np.reshape(nrm, (-1, 3)), names


def match_references(
    pred: GraspSet, ref: GraspSet, hand_pts_pred: np.ndarray, hand_pts_ref: np.ndarray
) -> np.ndarray:
    """For each prediction, the reference grasp of the same object with the smallest CD."""
    from dexgrasp.grasps.metrics.chamfer import chamfer_distance

    by_obj: dict[str, list[int]] = {}
    for j, o in enumerate(ref.object_ids):
        by_obj.setdefault(o, []).append(j)
    out = np.empty(len(pred.grasps), dtype=int)
    for i, o in enumerate(pred.object_ids):
        cands = by_obj.get(o)
        if not cands:
            raise KeyError(f"no reference grasp for object {o!r}")
        out[i] = min(cands, key=lambda j: chamfer_distance(hand_pts_pred[i], hand_pts_ref[j]))
    return out


def evaluate(pred: GraspSet, objects: Mapping[str, object], metrics: Sequence[str] = METRICS,
             ref: GraspSet | None = None, ref_index: np.ndarray | None = None,
             object_points: Mapping[str, np.ndarray] | None = None, pfid_net=None,
             sim_config=None, progress: bool = False) -> EvalResult:  # fmt: skip
    """Compute ``metrics`` for ``pred`` (see module docstring). Returns an :class:`EvalResult`."""
    from dexgrasp.grasps.hand import shadow_hand

    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {METRICS}")
    if any(m in NEEDS_REF for m in metrics) and ref is None:
        raise ValueError(f"metrics {[m for m in metrics if m in NEEDS_REF]} need reference grasps")
    missing = sorted({o for o in pred.object_ids if o not in objects})
    if missing:
        raise KeyError(f"no object geometry for {missing[:5]}")
    res = EvalResult()
    hand = shadow_hand()
    n = len(pred.grasps)
    res.summary["n_grasps"] = float(n)
    pts_pred = hand.surface_points(pred.grasps) if n else np.zeros((0, 0, 3))
    link_ids = hand.surface_point_links

    def clock(name, t0):
        res.seconds[name] = time.perf_counter() - t0

    if "sim" in metrics:
        from dexgrasp.grasps.metrics.simulation import simulated_success

        t0 = time.perf_counter()
        for test, r in simulated_success(pred.grasps, pred.object_ids, objects, config=sim_config,
                                         progress=progress).items():  # fmt: skip
            s = r.summary()
            res.summary.update({k: v for k, v in s.items() if not k.endswith("per_s")})
            res.per_grasp[f"sim_{test}_all6"] = r.all6
            res.per_grasp[f"sim_{test}_any6"] = r.any6
        clock("sim", t0)
    if "q1" in metrics or "pen" in metrics:
        from dexgrasp.grasps.metrics.q1 import q1_metric

        t0 = time.perf_counter()
        q1s, pens = np.zeros(n), np.zeros(n)
        boxes: dict[str, np.ndarray] = {}  # object bounds: far points skip the SDF
        for i in range(n):
            oid = pred.object_ids[i]
            obj = objects[oid]
            if oid not in boxes:
                boxes[oid] = np.asarray(obj.bounds(), dtype=np.float64)
            lo, hi = boxes[oid]
            inside_box = near_box(pts_pred[i], boxes[oid], 0.002)  # 2 mm: tessellated bounds
            pens[i] = max(float(-masked_sdf(obj.sdf, pts_pred[i], inside_box).min()), 0.0)
            if "q1" in metrics:
                p, nn, _ = sdf_contacts(pts_pred[i], link_ids, obj.sdf, bounds=boxes[oid])
                # torques in units of half the bounding-box diagonal
                scale = 1.0 / max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
                q1s[i] = q1_metric(p, nn, torque_scale=scale)
        if "q1" in metrics:
            res.summary["q1"] = float(q1s.mean()) if n else 0.0
            res.per_grasp["q1"] = q1s
        if "pen" in metrics:
            res.summary["pen_cm"] = float(pens.mean() * 100) if n else 0.0
            res.summary["pen_max_cm"] = float(pens.max() * 100) if n else 0.0
            res.per_grasp["pen_m"] = pens
        clock("q1+pen", t0)
    if "div" in metrics:
        from dexgrasp.grasps.metrics.diversity import diversity

        t0 = time.perf_counter()
        if n >= 2:
            res.summary.update({k: v for k, v in diversity(pred.grasps).items()})
        clock("div", t0)
    if ref is not None and any(m in NEEDS_REF for m in metrics):
        _intention_metrics(pred, ref, ref_index, metrics, pts_pred, link_ids, objects,
                           object_points, pfid_net, res)  # fmt: skip
    return res


def _intention_metrics(pred, ref, ref_index, metrics, pts_pred, link_ids, objects, object_points,
                       pfid_net, res) -> None:  # fmt: skip
    from dexgrasp.grasps.hand import shadow_hand
    from dexgrasp.grasps.metrics.chamfer import chamfer_distance
    from dexgrasp.grasps.metrics.contact import contact_distance, contact_map, contact_quality

    hand = shadow_hand()
    n = len(pred.grasps)
    pts_ref = hand.surface_points(ref.grasps)
    if ref_index is None:
        t0 = time.perf_counter()
        ref_index = match_references(pred, ref, pts_pred, pts_ref)
        res.seconds["match"] = time.perf_counter() - t0
    ref_index = np.asarray(ref_index, dtype=int)
    if ref_index.shape != (n,) or (
        n and (ref_index.min() < 0 or ref_index.max() >= len(ref.grasps))
    ):
        raise ValueError("ref_index must give one valid reference row per prediction")

    clouds: dict[str, np.ndarray] = {}

    def cloud(oid: str) -> np.ndarray:
        """(2048, 3) object surface points (dataset cloud when given, else sampled once)."""
        if oid not in clouds:
            if object_points is not None and oid in object_points:
                clouds[oid] = np.asarray(object_points[oid], dtype=np.float64)[:2048]
            else:
                clouds[oid] = objects[oid].sample_surface(2048, seed=0)[0].astype(np.float64)
        return clouds[oid]

    if "cd" in metrics:
        t0 = time.perf_counter()
        cds = np.array([chamfer_distance(pts_pred[i], pts_ref[ref_index[i]]) for i in range(n)])
        res.summary["cd_cm"] = float(cds.mean() * 100) if n else 0.0
        res.per_grasp["cd_m"] = cds
        res.seconds["cd"] = time.perf_counter() - t0
    if "con" in metrics:
        t0 = time.perf_counter()
        cons = np.array([contact_distance(contact_map(cloud(pred.object_ids[i]), pts_pred[i]),
                                          contact_map(cloud(pred.object_ids[i]), pts_ref[ref_index[i]]))
                         for i in range(n)])  # fmt: skip
        res.summary["con"] = float(cons.mean()) if n else 0.0
        res.per_grasp["con"] = cons
        res.seconds["con"] = time.perf_counter() - t0
    if "contact" in metrics:
        t0 = time.perf_counter()
        if pred.contacts is None or ref.contacts is None:
            raise ValueError("metric 'contact' needs predicted and reference contacts")
        link_pts = [{LINK_NAMES[li]: pts_pred[i][link_ids == li] for li in np.unique(link_ids)}
                    for i in range(n)]  # fmt: skip
        q = contact_quality(pred.contacts, [ref.contacts[j] for j in ref_index], link_pts)
        res.summary.update({f"contact_{k}": v for k, v in q.items()})
        res.seconds["contact"] = time.perf_counter() - t0
    if "pfid" in metrics:
        from dexgrasp.grasps.metrics.pfid import grasp_cloud, pfid

        if pfid_net is None:
            raise ValueError("metric 'pfid' needs a feature network (pfid_net)")
        t0 = time.perf_counter()
        clouds_p = np.stack([grasp_cloud(cloud(o)[:1024], pts_pred[i][::2])
                             for i, o in enumerate(pred.object_ids)])  # fmt: skip
        clouds_r = np.stack([grasp_cloud(cloud(ref.object_ids[j])[:1024], pts_ref[j][::2])
                             for j in range(len(ref.grasps))])  # fmt: skip
        res.summary["pfid"] = pfid(pfid_net, clouds_p, clouds_r)
        res.seconds["pfid"] = time.perf_counter() - t0
