"""Grasp synthesis without downloads: taxonomy pre-shapes, part-targeted palm poses, closing
fingers in MuJoCo until contact, validation with the simulated success test.

Per attempt: pick a grasp type and a functional part (or, 60% of the time once the object
has a success, a small slide/roll around an earlier success); pick a surface point of the part
and face the palm against its normal (fingers across the part's long axis for wraps); back off
until the open pre-shape is collision-free; close the fingers kinematically from the open to
the closed pre-shape, each link stopping at its first contact with the object (MuJoCo
collision detection); require thumb opposition and contact normals that do not all point one
way; then run :meth:`HandObjectSim.test_grasp` on the grasp rounded to float32 (exactly what
is stored) and keep it only if it passes.

>>> from dexgrasp.grasps.objects import make_object
>>> grasps = synthesize_object(make_object("mug", 0), n_grasps=4, seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM, SHADOW_JOINT_NAMES
from dexgrasp.grasps.hand import FINGER_OF_LINK, mat_to_axis_angle
from dexgrasp.grasps.simulate import HandObjectSim, SimConfig

_J = {n: i for i, n in enumerate(SHADOW_JOINT_NAMES)}
_FINGERS = ("FF", "MF", "RF", "LF")


def _pose(fingers: dict[str, tuple[float, float, float]], thumb: tuple[float, ...]) -> np.ndarray:
    """(22,) joints from per-finger (J3 spread, J2, J1) and thumb (THJ4..THJ0); J0 = 1.14 J1."""
    q = np.zeros(len(SHADOW_JOINT_NAMES))
    for f in _FINGERS:
        j3, j2, j1 = fingers[f]
        q[_J[f + "J3"]], q[_J[f + "J2"]], q[_J[f + "J1"]] = j3, j2, j1
        q[_J[f + "J0"]] = min(1.571, 1.14 * j1)
    for name, v in zip(("THJ4", "THJ3", "THJ2", "THJ1", "THJ0"), thumb):
        q[_J[name]] = v
    return q


def _all(j3: float, j2: float, j1: float, spread: float = 0.0) -> dict:
    s = {"FF": spread, "MF": spread / 3, "RF": -spread / 3, "LF": -spread}
    return {f: (j3 + s[f], j2, j1) for f in _FINGERS}


@dataclass(frozen=True)
class GraspType:
    """A grasp-taxonomy pre-shape: open and closed joints, and where the palm goes.

    ``center`` is the point of the palm frame (m) placed on the target surface point; ``standoff``
    the range (m) it is pushed outwards along the normal; ``wrap`` aligns the flexion axis (palm
    ``x``) with the part's long axis.
    """

    name: str
    open: np.ndarray
    closed: np.ndarray
    center: tuple[float, float, float]
    standoff: tuple[float, float]
    wrap: bool = False
    weight: float = 1.0
    min_contact_links: int = 2


_REST = (0.0, 0.0, 0.0)  # idle fingers of precision grasps: open, then a mild curl
_REST_CLOSED = (0.0, 0.7, 0.6)
_WRAP_THUMB = (0.52, 1.222, 0.209, -0.524, -1.571)
GRASP_TYPES: dict[str, GraspType] = {
    t.name: t
    for t in (
        GraspType("medium_wrap", _pose(_all(0, 0.0, 0.0), (0.5, 0.0, 0, 0, 0)),
                  _pose(_all(0, 1.571, 1.571), _WRAP_THUMB),
                  (0.005, -0.030, 0.105), (0.0, 0.01), wrap=True, weight=2.0, min_contact_links=4),
        GraspType("power_sphere", _pose(_all(0, 0.0, 0.0, 0.25), (0.6, 0.0, 0, 0, 0)),
                  _pose(_all(0, 1.571, 1.571, 0.25), _WRAP_THUMB),
                  (0.005, -0.035, 0.105), (0.0, 0.01), weight=1.5, min_contact_links=4),
        GraspType("tip_pinch", _pose({"FF": (0, 0.1, 0.0), "MF": _REST, "RF": _REST, "LF": _REST},
                                     (0.75, 0.0, 0, 0, 0)),
                  _pose({"FF": (0, 1.1, 0.75), "MF": _REST_CLOSED, "RF": _REST_CLOSED, "LF": _REST_CLOSED},
                        (0.78, 1.15, 0, 0, 0)),
                  (0.033, -0.069, 0.109), (-0.012, 0.0), weight=0.6),
        GraspType("tripod", _pose({"FF": (0, 0.1, 0.0), "MF": (0, 0.1, 0.0), "RF": _REST, "LF": _REST},
                                  (0.8, 0.0, 0, 0, 0)),
                  _pose({"FF": (0, 1.1, 0.75), "MF": (0, 1.1, 0.75), "RF": _REST_CLOSED, "LF": _REST_CLOSED},
                        (0.85, 1.222, 0, 0, 0)),
                  (0.022, -0.069, 0.111), (-0.012, 0.0), weight=0.6),
        GraspType("precision_sphere", _pose(_all(0, 0.1, 0.0, 0.2), (0.85, 0.0, 0, 0, 0)),
                  _pose(_all(0, 1.2, 0.75, 0.2), (0.9, 1.222, 0.15, 0, 0)),
                  (0.0, -0.07, 0.101), (-0.015, 0.0), min_contact_links=3),
        GraspType("lateral", _pose(_all(0, 1.4, 1.45), (0.0, 0.0, 0, 0, 0)),
                  _pose(_all(0, 1.45, 1.5), (0.05, 0.75, 0.209, -0.45, -1.3)),
                  (0.044, -0.048, 0.091), (-0.006, 0.0), weight=0.4),
        GraspType("hook", _pose(_all(0, 0.0, 0.0), (0.0, 0.0, 0, 0, 0)),
                  _pose(_all(0, 1.3, 1.571), (0.0, 0.0, 0, 0, 0)),
                  (0.005, -0.03, 0.12), (0.0, 0.01), wrap=True, weight=0.5,
                  min_contact_links=3),
    )
}  # fmt: skip


@dataclass
class SynthConfig:
    """Search budget and physics settings of :func:`synthesize_object`."""

    attempts_per_grasp: int = 12
    close_steps: int = 80
    hold_steps: int = 20
    max_approach_tilt_deg: float = 20.0
    explore_prob: float = 0.6  # share of attempts spent near earlier successes of the object
    explore_slide: float = 0.012  # m, std of the slide along the surface
    explore_roll: float = 0.35  # rad, std of the roll about the normal
    types: tuple[str, ...] = tuple(GRASP_TYPES)
    sim: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        bad = [t for t in self.types if t not in GRASP_TYPES]
        if bad:
            raise ValueError(f"types: unknown grasp types {bad}; choose from {list(GRASP_TYPES)}")
        if self.attempts_per_grasp < 1:
            raise ValueError(f"attempts_per_grasp: must be >= 1, got {self.attempts_per_grasp}")


@dataclass
class SynthGrasp:
    """One validated grasp of one object."""

    object_id: str
    grasp: np.ndarray  # (28,) float32, object frame
    part: str
    grasp_type: str
    contact_links: tuple[str, ...]
    fingers: tuple[str, ...]  # fingers (and palm) in contact
    translation: np.ndarray  # (6,) m, object displacement per disturbance direction


def _frame(
    n: np.ndarray, axis: np.ndarray | None, rng: np.random.Generator, tilt: float
) -> np.ndarray:
    """Palm rotation with palm normal (-y) against outward normal ``n``; x along ``axis``."""
    n = n / np.linalg.norm(n)
    if tilt > 0:  # tilt the approach a little
        n = n + rng.normal(size=3) * np.tan(np.radians(tilt)) / np.sqrt(3)
        n /= np.linalg.norm(n)
    x = axis if axis is not None else rng.normal(size=3)
    x = x - n * (x @ n)
    if np.linalg.norm(x) < 1e-6:
        x = np.cross(n, [1.0, 0, 0]) if abs(n[0]) < 0.9 else np.cross(n, [0, 1.0, 0])
    x /= np.linalg.norm(x)
    if axis is not None and rng.random() < 0.5:
        x = -x
    return np.stack([x, n, np.cross(x, n)], axis=1)  # columns: palm x, y, z


def _part_axes(points: np.ndarray, labels: np.ndarray, parts: tuple[str, ...]) -> dict:
    """Per part: (long axis or None, extent along it)."""
    out = {}
    for i, name in enumerate(parts):
        p = points[labels == i]
        if len(p) < 10:
            continue
        c = p - p.mean(0)
        w, v = np.linalg.eigh(c.T @ c / len(p))
        out[name] = v[:, 2] if w[2] > 2.5 * w[1] else None
    return out


def synthesize_object(obj, n_grasps: int, seed: int = 0, config: SynthConfig | None = None,
                      surface: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                      sim: HandObjectSim | None = None) -> list[SynthGrasp]:  # fmt: skip
    """Up to ``n_grasps`` validated grasps of a :class:`GraspObject` (fewer if the budget ends)."""
    cfg = config or SynthConfig()
    rng = np.random.default_rng(seed)
    pts, nrm, lab = surface if surface is not None else obj.sample_surface(4000, seed=seed)
    pts, nrm = pts.astype(np.float64), nrm.astype(np.float64)
    parts = obj.parts
    axes = _part_axes(pts, lab, parts)
    usable = [p for p in parts if p in axes and np.sum(lab == parts.index(p)) >= 20]
    sim = sim or HandObjectSim.from_object(obj, cfg.sim)
    types = [GRASP_TYPES[t] for t in cfg.types]
    tw = np.array([t.weight for t in types])
    out: list[SynthGrasp] = []
    tries, wins = np.zeros(len(types)), np.zeros(len(types))
    seeds: list[tuple] = []  # successful (type index, part, centre, normal, rotation)
    for _ in range(n_grasps * cfg.attempts_per_grasp):
        if len(out) >= n_grasps:
            break
        if seeds and rng.random() < cfg.explore_prob:
            # explore around an earlier success: slide along the surface, roll about the normal
            ti, part, c, n, rot0 = seeds[rng.integers(len(seeds))]
            c = c + _tangent_noise(n, cfg.explore_slide, rng)
            rot0 = _roll(n, rng.normal(0, cfg.explore_roll)) @ rot0
        else:
            # adaptive: a type that keeps failing on this object is tried less (never never)
            w = tw * (wins + 1) / (tries + 3)
            ti = int(rng.choice(len(types), p=w / w.sum()))
            part = usable[rng.integers(len(usable))]
            idx = np.flatnonzero(lab == parts.index(part))
            k = idx[rng.integers(len(idx))]
            n = nrm[k]
            c = pts[k] - n * _thickness(obj, pts[k], n) / 2
            rot0 = None
        gt = types[ti]
        tries[ti] += 1
        res = _attempt(sim, gt, c, n, axes[part] if gt.wrap else None, rng, cfg, rot0)
        if res is None:
            continue
        wins[ti] += 1
        grasp, links, trans, rot = res
        seeds.append((ti, part, c, n, rot))
        fingers = tuple(dict.fromkeys(FINGER_OF_LINK[link] for link in links))
        out.append(SynthGrasp(obj.object_id, grasp, part, gt.name, links, fingers, trans))
    return out


def _tangent_noise(n: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(0, std, 3)
    return v - n * (v @ n)


def _roll(n: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` (rad) about the unit axis ``n``."""
    from dexgrasp.grasps.hand import axis_angle_to_mat

    return axis_angle_to_mat(n / np.linalg.norm(n) * angle)


def _upstream_columns(sim: HandObjectSim) -> dict[int, np.ndarray]:
    """Hand body id -> joint columns (of the 22) between the palm and that body, inclusive.

    A frozen J1 also freezes its tendon-coupled J0.
    """
    m = sim.model
    qadr_to_col = {int(a): c for c, a in enumerate(sim.hand_qadr)}
    out = {}
    for b in sim.link_of_body:
        cols, x = [], b
        while x > sim.palm_body:
            if m.body_jntnum[x] == 1:
                cols.append(qadr_to_col[int(m.jnt_qposadr[m.body_jntadr[x]])])
            x = m.body_parentid[x]
        names = {SHADOW_JOINT_NAMES[c] for c in cols}
        for c_name in list(names):
            if c_name.endswith("J1") and not c_name.startswith("TH"):
                cols.append(_J[c_name[:-1] + "0"])
        out[b] = np.array(sorted(set(cols)), dtype=int)
    return out


def close_fingers(sim: HandObjectSim, q_open: np.ndarray, q_closed: np.ndarray,
                  steps: int = 40) -> np.ndarray:  # fmt: skip
    """Kinematic auto-grasp: move joints from ``q_open`` to ``q_closed`` in ``steps`` increments;
    a link that touches the object freezes the joints between it and the palm. -> (22,) joints.

    The palm pose must already be set (:meth:`HandObjectSim.set_grasp`); the object does not move.
    """
    mj, m, d = sim._mj, sim.model, sim.data
    ups = getattr(sim, "_upstream", None)
    if ups is None:
        ups = sim._upstream = _upstream_columns(sim)
    q = np.asarray(q_open, dtype=np.float64).copy()
    delta = (np.asarray(q_closed) - q) / steps
    frozen = np.zeros(len(q), dtype=bool)
    for _ in range(steps):
        q_try = q + np.where(frozen, 0.0, delta)
        d.qpos[sim.hand_qadr] = q_try
        mj.mj_fwdPosition(m, d)
        hit = np.zeros(len(q), dtype=bool)
        for c in sim.contacts(max_dist=0.0):
            hit[ups[c.body]] = True
        q = np.where(hit & ~frozen, q, q_try)
        frozen |= hit
        if frozen.all():
            break
    return q


def _thickness(obj, p: np.ndarray, n: np.ndarray, max_len: float = 0.15) -> float:
    """Distance (m) from surface point ``p`` through the object along ``-n`` to where it exits."""
    t = np.arange(0.002, max_len, 0.002)
    inside = obj.sdf(p[None] - t[:, None] * n[None]) < 0
    out = np.flatnonzero(~inside)
    return float(t[out[0]]) if len(out) else max_len


def _opposed(contacts, max_mean: float = 0.7) -> bool:
    """Cheap pre-test: contact normals (hand -> object) must not all point one way; the length
    of their mean is < ``max_mean`` (1 = all parallel)."""
    if not contacts:
        return False
    normals = np.array([c.normal for c in contacts])  # (k, 3)
    return bool(np.linalg.norm(normals.mean(axis=0)) < max_mean)


def _attempt(sim: HandObjectSim, gt: GraspType, p: np.ndarray, n: np.ndarray,
             axis: np.ndarray | None, rng: np.random.Generator, cfg: SynthConfig,
             rot: np.ndarray | None = None):  # fmt: skip
    """One synthesis attempt -> (grasp (28,) f32, contact links, translations, palm rotation) or None.

    ``p`` is the point (inside the part, m) where the pre-shape's ``center`` goes; ``n`` the
    outward surface normal the palm faces against; ``rot`` a given palm rotation (exploration).
    """
    if rot is None:
        rot = _frame(n, axis, rng, cfg.max_approach_tilt_deg)
    center = np.asarray(gt.center)
    standoff = rng.uniform(*gt.standoff)
    g = np.zeros(GRASP_DIM)
    g[3:6] = mat_to_axis_angle(rot)
    g[6:] = gt.open
    for backoff in np.arange(0.0, 0.08, 0.004):  # move out along the normal until the hand is free
        g[0:3] = p + n * (standoff + backoff) - rot @ center
        sim.set_grasp(g)
        if sim.penetration() < 1e-3:
            break
    else:
        return None
    q = close_fingers(sim, gt.open, gt.closed, cfg.close_steps)
    sim.data.qpos[sim.hand_qadr] = q
    sim.set_targets(q)
    sim._mj.mj_forward(sim.model, sim.data)
    contacts = sim.contacts(max_dist=0.002)
    links = {c.link for c in contacts}
    has_thumb = any(link.startswith("rh_th") for link in links)
    if len(links) < gt.min_contact_links or (gt.name != "hook" and not has_thumb):
        return None
    if not _opposed(contacts):
        return None  # all contacts push the object the same way: it will be squeezed out
    grasp = g.copy()
    grasp[6:] = sim.hand_q()
    grasp = grasp.astype(np.float32)  # exactly what the dataset stores
    result = sim.test_grasp(grasp.astype(np.float64), stop_on_fail=True)
    if not result.success:
        return None
    return grasp, result.contact_links, result.translation, rot


def _instructions(obj, g: SynthGrasp, seed: int) -> list[dict]:
    """Template instructions from ``grasps/language.py`` (empty when that module is absent)."""
    try:
        from dexgrasp.grasps.language import TemplateAnnotator
    except ImportError:
        return []
    ins = TemplateAnnotator(seed=seed).annotate(obj.category, g.part, g.grasp_type, g.contact_links,
                                                key=g.grasp.tobytes())  # fmt: skip
    return [{"level": lvl, "text": t} for lvl in ("physical", "functional")
            for t in getattr(ins, lvl)]  # fmt: skip


def synthesize_to_dataset(job: tuple) -> tuple[str, int]:
    """Worker of ``dexgrasp grasps synth``: one object -> dataset files. Returns (id, n) (-1: skipped).

    ``job = (index, seed, n_grasps, out_dir, attempts_per_grasp, types, write_mesh)``.
    """
    from dexgrasp.grasps.contacts import annotate_contacts, contacted_part
    from dexgrasp.grasps.dataset import GraspDatasetWriter, GraspRecord
    from dexgrasp.grasps.objects import CATEGORIES, make_object

    index, seed, n_grasps, out_dir, attempts, types, write_mesh = job
    cats = list(CATEGORIES)
    obj = make_object(cats[index % len(cats)], index // len(cats), seed)
    writer = GraspDatasetWriter(out_dir)
    if writer.has_object(obj.object_id):
        return obj.object_id, -1
    pts, nrm, lab = obj.sample_surface(10_000, seed=seed)
    cfg = SynthConfig(attempts_per_grasp=attempts, types=tuple(types))
    sim = HandObjectSim.from_object(obj, cfg.sim)
    grasp_seed = int.from_bytes(obj.object_id.encode()[:8].ljust(8, b"\0"), "little") ^ seed
    found = synthesize_object(
        obj, n_grasps, seed=grasp_seed, config=cfg, surface=(pts, nrm, lab), sim=sim
    )
    records = []
    for g in found:
        contacts = annotate_contacts(sim, g.grasp.astype(np.float64))
        target, g.part = g.part, contacted_part(contacts, pts, lab, obj.parts, fallback=g.part)
        meta = {"contact_links": list(g.contact_links), "fingers": list(g.fingers), "target_part": target,
                "disturbance_translation_m": [round(float(t), 5) for t in g.translation]}  # fmt: skip
        records.append(GraspRecord(obj.object_id, g.grasp, g.part, g.grasp_type, contacts,
                                   _instructions(obj, g, seed), meta=meta))  # fmt: skip
    writer.add_object(obj.object_id, obj.category, obj.parts, pts, lab, nrm, obj.split,
                      mesh=obj.mesh() if write_mesh else None, spec=obj.to_dict())  # fmt: skip
    writer.add_grasps(obj.object_id, records)
    return obj.object_id, len(records)
