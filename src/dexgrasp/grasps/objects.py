"""Procedural graspable objects with named functional parts.

Every object is a union of MuJoCo-native primitives (box, sphere, capsule, cylinder, ellipsoid),
each tagged with a functional part (``handle``, ``body``, ``rim``, ``lid``, ``cap``, ``neck``,
``blade``, ...). The same primitives give the physics (one MuJoCo geom each, exact and fast
collisions), the watertight mesh (boolean union through ``manifold3d`` when installed) and the
surface samples (analytic, with per-point part labels and normals; points inside another
primitive are rejected so only the outer surface is sampled).

Object frame: metres, ``+z`` up in the object's natural resting pose, origin at the centre of
the axis-aligned bounding box. Everything is deterministic from ``(category, index, seed)``.

>>> obj = make_object("mug", 3)
>>> pts, normals, labels = obj.sample_surface(10_000)   # (10000, 3), (10000, 3), (10000,)
>>> obj.parts[labels[0]]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

KINDS = ("box", "sphere", "capsule", "cylinder", "ellipsoid")
N_SIZE = {"box": 3, "sphere": 1, "capsule": 2, "cylinder": 2, "ellipsoid": 3}
SPLITS = ("train", "unseen")
UNSEEN_EVERY = 5  # every 5th instance of a category is an unseen (test) object


@dataclass(frozen=True)
class Primitive:
    """One solid: MuJoCo geom conventions (sizes are half-extents / radius, half-length)."""

    kind: str
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # wxyz
    part: str = "body"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {KINDS}")
        if len(self.size) != N_SIZE[self.kind] or min(self.size) <= 0:
            raise ValueError(
                f"size: {self.kind} needs {N_SIZE[self.kind]} positive values, got {self.size}"
            )
        if len(self.pos) != 3 or len(self.quat) != 4:
            raise ValueError("pos/quat: expected 3 and 4 values")

    @property
    def rot(self) -> np.ndarray:
        from dexgrasp.grasps.hand import quat_to_mat

        return quat_to_mat(np.asarray(self.quat, dtype=np.float64))

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Signed distance (m; negative inside) of (N, 3) object-frame points (ellipsoid: approx)."""
        q = (np.asarray(p) - self.pos) @ self.rot  # to local frame
        s = self.size
        if self.kind == "sphere":
            return np.linalg.norm(q, axis=1) - s[0]
        if self.kind == "box":
            d = np.abs(q) - np.asarray(s)
            return np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(1), 0)
        if self.kind == "capsule":
            z = np.clip(q[:, 2], -s[1], s[1])
            return np.linalg.norm(q - np.stack([0 * z, 0 * z, z], 1), axis=1) - s[0]
        if self.kind == "cylinder":
            d = np.stack([np.linalg.norm(q[:, :2], axis=1) - s[0], np.abs(q[:, 2]) - s[1]], 1)
            return np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(1), 0)
        r = np.asarray(s)  # ellipsoid: scaled radial distance, exact sign
        k = np.linalg.norm(q / r, axis=1)
        return (k - 1) * r.min()

    def area(self) -> float:
        s = self.size
        if self.kind == "sphere":
            return 4 * np.pi * s[0] ** 2
        if self.kind == "box":
            return 8 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2])
        if self.kind == "capsule":
            return 4 * np.pi * s[0] ** 2 + 4 * np.pi * s[0] * s[1]
        if self.kind == "cylinder":
            return 2 * np.pi * s[0] ** 2 + 4 * np.pi * s[0] * s[1]
        a, b, c, pw = *s, 1.6075  # Knud Thomsen's approximation
        return 4 * np.pi * (((a * b) ** pw + (a * c) ** pw + (b * c) ** pw) / 3) ** (1 / pw)

    def volume(self) -> float:
        s = self.size
        return {
            "sphere": lambda: 4 / 3 * np.pi * s[0] ** 3,
            "box": lambda: 8 * s[0] * s[1] * s[2],
            "capsule": lambda: np.pi * s[0] ** 2 * (2 * s[1] + 4 / 3 * s[0]),
            "cylinder": lambda: 2 * np.pi * s[0] ** 2 * s[1],
            "ellipsoid": lambda: 4 / 3 * np.pi * s[0] * s[1] * s[2],
        }[self.kind]()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) surface points and outward unit normals in the object frame."""
        s, k = self.size, self.kind
        if k in ("sphere", "ellipsoid"):
            u = rng.normal(size=(n, 3))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            r = np.full(3, s[0]) if k == "sphere" else np.asarray(s)
            p, nrm = u * r, u / r
        elif k == "box":
            areas = np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]]).repeat(2)
            face = rng.choice(6, size=n, p=areas / areas.sum())
            axis, sign = face // 2, np.where(face % 2 == 0, 1.0, -1.0)
            p = rng.uniform(-1, 1, size=(n, 3)) * np.asarray(s)
            p[np.arange(n), axis] = sign * np.asarray(s)[axis]
            nrm = np.zeros((n, 3))
            nrm[np.arange(n), axis] = sign
        else:  # capsule / cylinder: side vs. ends by area
            r, h = s
            side = 4 * np.pi * r * h
            ends = 4 * np.pi * r**2 if k == "capsule" else 2 * np.pi * r**2
            on_side = rng.random(n) < side / (side + ends)
            phi = rng.uniform(0, 2 * np.pi, n)
            ring = np.stack([np.cos(phi), np.sin(phi), np.zeros(n)], 1)
            p = ring * r + np.stack([0 * phi, 0 * phi, rng.uniform(-h, h, n)], 1)
            nrm = ring.copy()
            m = ~on_side
            top = np.where(rng.random(m.sum()) < 0.5, 1.0, -1.0)
            if k == "capsule":
                u = rng.normal(size=(m.sum(), 3))
                u /= np.linalg.norm(u, axis=1, keepdims=True)
                u[:, 2] = np.abs(u[:, 2]) * top
                p[m], nrm[m] = u * r + np.outer(top, [0, 0, h]), u
            else:
                rad = r * np.sqrt(rng.random(m.sum()))
                p[m] = np.stack([rad * np.cos(phi[m]), rad * np.sin(phi[m]), top * h], 1)
                nrm[m] = np.outer(top, [0, 0, 1.0])
        nrm = nrm / np.linalg.norm(nrm, axis=1, keepdims=True)
        return p @ self.rot.T + self.pos, nrm @ self.rot.T

    def trimesh(self):
        import trimesh

        s = self.size
        if self.kind == "box":
            tm = trimesh.creation.box(extents=2 * np.asarray(s))
        elif self.kind == "sphere":
            tm = trimesh.creation.icosphere(subdivisions=3, radius=s[0])
        elif self.kind == "ellipsoid":
            tm = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
            tm.apply_scale(np.asarray(s))
        elif self.kind == "capsule":
            tm = trimesh.creation.capsule(height=2 * s[1], radius=s[0], count=[24, 12])
        else:
            tm = trimesh.creation.cylinder(radius=s[0], height=2 * s[1], sections=32)
        t = np.eye(4)
        t[:3, :3], t[:3, 3] = self.rot, self.pos
        tm.apply_transform(t)
        return tm

    def to_dict(self) -> dict:
        return {"kind": self.kind, "size": list(self.size), "pos": list(self.pos),
                "quat": list(self.quat), "part": self.part}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> Primitive:
        try:
            return cls(d["kind"], tuple(map(float, d["size"])), tuple(map(float, d["pos"])),
                       tuple(map(float, d["quat"])), str(d["part"]))  # fmt: skip
        except KeyError as err:
            raise ValueError(f"primitive: missing field {err.args[0]!r}") from None


@dataclass(frozen=True)
class GraspObject:
    """A procedural object: id, category, split and its part-tagged primitives (object frame)."""

    object_id: str
    category: str
    primitives: tuple[Primitive, ...]
    split: str = "train"
    mass: float = 0.1  # kg, for simulation
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.primitives:
            raise ValueError(f"primitives: object {self.object_id} has none")
        if self.split not in SPLITS:
            raise ValueError(f"split: {self.split!r} is not one of {SPLITS}")
        if not self.mass > 0:
            raise ValueError(f"mass: must be > 0, got {self.mass}")

    @property
    def parts(self) -> tuple[str, ...]:
        """Part names in first-appearance order; point labels index into this tuple."""
        return tuple(dict.fromkeys(p.part for p in self.primitives))

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """(N,) signed distance of (N, 3) points to the union (m, negative inside)."""
        return np.min([q.sdf(p) for q in self.primitives], axis=0)

    def sample_surface(
        self, n: int = 10_000, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Uniform samples of the outer surface: points (n,3) f32, normals (n,3) f32, labels (n,) i16."""
        rng = np.random.default_rng(seed)
        areas = np.array([p.area() for p in self.primitives])
        pts, nrm, lab = [], [], []
        got, m = 0, int(n * 1.5) + 64
        parts = self.parts
        while got < n:
            counts = rng.multinomial(m, areas / areas.sum())
            for i, (prim, c) in enumerate(zip(self.primitives, counts)):
                if c == 0:
                    continue
                p, nn = prim.sample(int(c), rng)
                keep = np.ones(len(p), dtype=bool)
                for j, other in enumerate(self.primitives):
                    if j != i:
                        keep &= other.sdf(p) > -1e-5
                pts.append(p[keep]), nrm.append(nn[keep])
                lab.append(np.full(keep.sum(), parts.index(prim.part)))
                got += int(keep.sum())
        p, nn, lb = np.concatenate(pts), np.concatenate(nrm), np.concatenate(lab)
        idx = rng.choice(len(p), size=n, replace=False)
        return p[idx].astype(np.float32), nn[idx].astype(np.float32), lb[idx].astype(np.int16)

    def mesh(self):
        """Watertight union mesh (trimesh). Boolean union via manifold3d, else concatenation."""
        import trimesh

        meshes = [p.trimesh() for p in self.primitives]
        try:
            out = trimesh.boolean.union(meshes, engine="manifold")
        except (ImportError, ValueError, ModuleNotFoundError):
            out = trimesh.util.concatenate(meshes)
        return out

    def bounds(self) -> np.ndarray:
        """(2, 3) axis-aligned bounds of the primitives' meshes, m."""
        b = np.array([p.trimesh().bounds for p in self.primitives])
        return np.stack([b[:, 0].min(0), b[:, 1].max(0)])

    def volume(self) -> float:
        """Sum of primitive volumes (overlaps counted twice), m^3."""
        return float(sum(p.volume() for p in self.primitives))

    def mjcf(self, name: str = "object", free: bool = True, rgba: str = "0.85 0.55 0.3 1",
             friction: float = 1.0) -> str:  # fmt: skip
        """``<body>`` MJCF of the object (one geom per primitive, named ``{name}/{i}/{part}``)."""
        density = self.mass / max(self.volume(), 1e-9)
        geoms = []
        for i, p in enumerate(self.primitives):
            size = " ".join(f"{v:.6g}" for v in p.size)
            pos = " ".join(f"{v:.6g}" for v in p.pos)
            quat = " ".join(f"{v:.6g}" for v in p.quat)
            geoms.append(
                f'<geom name="{name}/{i}/{p.part}" type="{p.kind}" size="{size}" pos="{pos}" '
                f'quat="{quat}" density="{density:.6g}" rgba="{rgba}" friction="{friction:g} 0.005 0.0001" '
                f'contype="1" conaffinity="1" condim="4" group="2"/>'
            )
        joint = f'<freejoint name="{name}/free"/>' if free else ""
        return f'<body name="{name}">{joint}{"".join(geoms)}</body>'

    def to_dict(self) -> dict:
        return {"object_id": self.object_id, "category": self.category, "split": self.split,
                "mass": self.mass, "meta": self.meta, "parts": list(self.parts),
                "primitives": [p.to_dict() for p in self.primitives]}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> GraspObject:
        for key in ("object_id", "category", "primitives"):
            if key not in d:
                raise ValueError(f"object: missing field {key!r}")
        prims = tuple(Primitive.from_dict(p) for p in d["primitives"])
        return cls(str(d["object_id"]), str(d["category"]), prims, d.get("split", "train"),
                   float(d.get("mass", 0.1)), dict(d.get("meta", {})))  # fmt: skip


# ---- building blocks -------------------------------------------------------------------------
_AXIS_QUAT = {  # rotate local +z onto the axis
    "z": (1.0, 0.0, 0.0, 0.0),
    "x": (0.7071068, 0.0, 0.7071068, 0.0),
    "y": (0.7071068, -0.7071068, 0.0, 0.0),
}


def _quat_z_to(d: np.ndarray) -> tuple[float, float, float, float]:
    """Quaternion rotating +z onto the direction ``d``."""
    d = np.asarray(d, dtype=np.float64) / np.linalg.norm(d)
    c = np.cross([0, 0, 1.0], d)
    w = 1.0 + d[2]
    if w < 1e-9:
        return (0.0, 1.0, 0.0, 0.0)
    q = np.array([w, *c])
    return tuple(float(v) for v in q / np.linalg.norm(q))


def _p(kind: str, size, pos=(0, 0, 0), axis: str = "z", part: str = "body") -> Primitive:
    return Primitive(kind, tuple(float(s) for s in size), tuple(float(v) for v in pos),
                     _AXIS_QUAT[axis], part)  # fmt: skip


def _segment(a, b, r: float, part: str, kind: str = "capsule") -> Primitive:
    """A capsule/cylinder of radius r from point a to point b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    half = np.linalg.norm(b - a) / 2
    return Primitive(kind, (r, half), tuple((a + b) / 2), _quat_z_to(b - a), part)


def _arc(center, radius: float, r: float, a0: float, a1: float, plane: str, part: str,
         n: int = 6) -> list[Primitive]:  # fmt: skip
    """An arc of capsules (torus segment) in the ``xz``, ``yz`` or ``xy`` plane around ``center``."""
    ang = np.linspace(a0, a1, n + 1)
    c = np.asarray(center, float)
    axes = {"xz": (0, 2), "yz": (1, 2), "xy": (0, 1)}[plane]
    pts = []
    for t in ang:
        v = np.zeros(3)
        v[axes[0]], v[axes[1]] = np.cos(t), np.sin(t)
        pts.append(c + radius * v)
    return [_segment(pts[i], pts[i + 1], r, part) for i in range(n)]


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


# ---- categories (all sizes in metres) --------------------------------------------------------
def _mug(g):
    r, h = _u(g, 0.032, 0.042), _u(g, 0.08, 0.105)
    hr = _u(g, 0.024, 0.032)
    return [_p("cylinder", (r, h / 2 - 0.005), (0, 0, -0.005)),
            _p("cylinder", (r + 0.003, 0.005), (0, 0, h / 2 - 0.005), part="rim"),
            *_arc((r - 0.004, 0, 0), hr, 0.0065, -np.pi / 2, np.pi / 2, "xz", "handle")]  # fmt: skip


def _cup(g):
    r, h = _u(g, 0.028, 0.04), _u(g, 0.08, 0.12)
    return [_p("cylinder", (r, h / 2 - 0.005), (0, 0, -0.005)),
            _p("cylinder", (r + 0.003, 0.005), (0, 0, h / 2 - 0.005), part="rim")]  # fmt: skip


def _bottle(g):
    r, h, nr, nh = _u(g, 0.026, 0.037), _u(g, 0.12, 0.17), _u(g, 0.011, 0.015), _u(g, 0.035, 0.055)
    return [_p("cylinder", (r, h / 2), (0, 0, 0)),
            _p("ellipsoid", (r, r, 0.6 * r), (0, 0, h / 2), part="shoulder"),
            _p("cylinder", (nr, nh / 2), (0, 0, h / 2 + 0.5 * r + nh / 2), part="neck"),
            _p("cylinder", (nr + 0.002, 0.01), (0, 0, h / 2 + 0.5 * r + nh + 0.008), part="cap")]  # fmt: skip


def _bowl(g):
    r, d = _u(g, 0.055, 0.075), _u(g, 0.03, 0.045)
    return [_p("ellipsoid", (r, r, d), (0, 0, 0)),
            _p("cylinder", (r * 1.05, 0.006), (0, 0, 0.006), part="rim"),
            _p("cylinder", (0.35 * r, 0.006), (0, 0, -d + 0.002), part="base")]  # fmt: skip


def _box(g):
    a, b, c = _u(g, 0.025, 0.06), _u(g, 0.02, 0.045), _u(g, 0.02, 0.05)
    return [_p("box", (a, b, c)), _p("box", (a + 0.003, b + 0.003, 0.008), (0, 0, c), part="lid")]


def _can(g):
    r, h = _u(g, 0.028, 0.036), _u(g, 0.09, 0.125)
    return [_p("cylinder", (r, h / 2)),
            _p("cylinder", (r - 0.003, 0.004), (0, 0, h / 2 + 0.003), part="lid")]  # fmt: skip


def _knife(g):
    hl, bl, bh = _u(g, 0.09, 0.12), _u(g, 0.1, 0.14), _u(g, 0.018, 0.03)
    return [_p("capsule", (0.011, hl / 2), (-hl / 2, 0, 0), "x", "handle"),
            _p("box", (bl / 2, 0.0025, bh / 2), (bl / 2 + 0.004, 0, 0.011 - bh / 2), part="blade")]  # fmt: skip


def _hammer(g):
    L, r, hw = _u(g, 0.2, 0.26), _u(g, 0.012, 0.016), _u(g, 0.045, 0.06)
    return [_p("capsule", (r, L / 2), (0, 0, 0), "x", "handle"),
            _p("box", (0.016, hw, 0.016), (L / 2 + 0.01, 0, 0), part="head")]  # fmt: skip


def _screwdriver(g):
    hl, r, sl = _u(g, 0.08, 0.1), _u(g, 0.014, 0.018), _u(g, 0.08, 0.12)
    return [_p("cylinder", (r, hl / 2), (-hl / 2, 0, 0), "x", "handle"),
            _p("cylinder", (0.0035, sl / 2), (sl / 2, 0, 0), "x", "shaft"),
            _p("box", (0.006, 0.0045, 0.0015), (sl + 0.004, 0, 0), part="tip")]  # fmt: skip


def _spatula(g):
    hl, bw, bl = _u(g, 0.15, 0.2), _u(g, 0.025, 0.035), _u(g, 0.07, 0.09)
    return [_p("capsule", (0.009, hl / 2), (-hl / 2, 0, 0), "x", "handle"),
            _p("box", (bl / 2, bw, 0.003), (bl / 2, 0, 0), part="blade")]  # fmt: skip


def _pan(g):
    r, h, hl = _u(g, 0.07, 0.09), _u(g, 0.025, 0.035), _u(g, 0.13, 0.17)
    return [_p("cylinder", (r, h / 2)), _p("cylinder", (r + 0.003, 0.004), (0, 0, h / 2), part="rim"),
            _p("capsule", (0.011, hl / 2), (r + hl / 2, 0, h / 2 - 0.008), "x", "handle")]  # fmt: skip


def _teapot(g):
    r, hr = _u(g, 0.055, 0.068), _u(g, 0.028, 0.035)
    return [_p("ellipsoid", (r, r, 0.8 * r)),
            _p("cylinder", (0.45 * r, 0.008), (0, 0, 0.8 * r), part="lid"),
            _p("sphere", (0.011,), (0, 0, 0.8 * r + 0.016), part="lid"),
            _segment((0.7 * r, 0, 0), (1.45 * r, 0, 0.75 * r), 0.009, "spout"),
            *_arc((-0.85 * r, 0, 0.1 * r), hr, 0.007, np.pi / 2, 3 * np.pi / 2, "xz", "handle")]  # fmt: skip


def _banana(g):
    R, r, n = _u(g, 0.09, 0.13), _u(g, 0.015, 0.019), 6
    span = _u(g, 0.9, 1.3)
    prims = _arc((0, 0, -R), R, r, np.pi / 2 - span / 2, np.pi / 2 + span / 2, "xz", "body", n)
    tip = np.array([R * np.cos(np.pi / 2 - span / 2), 0, R * np.sin(np.pi / 2 - span / 2) - R])
    return [*prims, _segment(tip, tip + np.array([0.02, 0, 0.004]), 0.006, "stem")]


def _apple(g):
    r = _u(g, 0.033, 0.043)
    return [
        _p("ellipsoid", (r, r, 0.9 * r)),
        _p("cylinder", (0.003, 0.008), (0, 0, 0.9 * r + 0.005), part="stem"),
    ]


def _pear(g):
    r = _u(g, 0.03, 0.038)
    return [_p("sphere", (r,), (0, 0, -0.3 * r)), _p("ellipsoid", (0.65 * r, 0.65 * r, 0.9 * r), (0, 0, 0.9 * r), part="neck"),
            _p("cylinder", (0.0028, 0.008), (0, 0, 1.85 * r), part="stem")]  # fmt: skip


def _jar(g):
    r, h = _u(g, 0.035, 0.048), _u(g, 0.07, 0.11)
    return [
        _p("cylinder", (r, h / 2)),
        _p("cylinder", (r + 0.003, 0.011), (0, 0, h / 2 + 0.009), part="lid"),
    ]


def _spray_bottle(g):
    r, h = _u(g, 0.028, 0.035), _u(g, 0.11, 0.15)
    top = h / 2
    return [_p("cylinder", (r, h / 2)), _p("cylinder", (0.012, 0.015), (0, 0, top + 0.015), part="neck"),
            _p("box", (0.03, 0.013, 0.014), (0.012, 0, top + 0.042), part="head"),
            _p("box", (0.006, 0.008, 0.018), (0.03, 0, top + 0.012), part="trigger")]  # fmt: skip


def _scissors(g):
    bl, hr = _u(g, 0.08, 0.11), _u(g, 0.016, 0.02)
    return [_p("box", (bl / 2, 0.006, 0.0025), (bl / 2, 0.004, 0), part="blade"),
            _p("box", (bl / 2, 0.006, 0.0025), (bl / 2, -0.004, 0.005), part="blade"),
            *_arc((-hr + 0.002, 0.012, 0), hr, 0.004, 0, 2 * np.pi, "xy", "handle", 6),
            *_arc((-hr + 0.002, -0.012, 0.005), hr, 0.004, 0, 2 * np.pi, "xy", "handle", 6)]  # fmt: skip


def _remote(g):
    a, b, c = _u(g, 0.07, 0.1), _u(g, 0.019, 0.025), _u(g, 0.008, 0.011)
    return [
        _p("box", (a, b, c)),
        _p("box", (0.4 * a, 0.6 * b, 0.002), (0.3 * a, 0, c + 0.001), part="buttons"),
    ]


def _phone(g):
    a, b, c = _u(g, 0.065, 0.08), _u(g, 0.032, 0.038), _u(g, 0.004, 0.0055)
    return [
        _p("box", (a, b, c)),
        _p("box", (a - 0.004, b - 0.003, 0.0008), (0, 0, c), part="screen"),
    ]


def _flashlight(g):
    L, r = _u(g, 0.11, 0.16), _u(g, 0.013, 0.018)
    return [_p("cylinder", (r, L / 2), (0, 0, 0), "x"),
            _p("cylinder", (r + _u(g, 0.005, 0.01), 0.02), (L / 2 + 0.02, 0, 0), "x", "head"),
            _p("box", (0.008, 0.005, 0.003), (0.0, 0, r + 0.001), part="button")]  # fmt: skip


def _wine_glass(g):
    br, sh = _u(g, 0.035, 0.042), _u(g, 0.06, 0.08)
    return [_p("cylinder", (0.032, 0.003), (0, 0, -sh / 2), part="base"),
            _p("cylinder", (0.0045, sh / 2), (0, 0, 0), part="stem"),
            _p("ellipsoid", (br, br, 1.2 * br), (0, 0, sh / 2 + 1.1 * br), part="bowl")]  # fmt: skip


def _drill(g):
    bl = _u(g, 0.13, 0.17)
    return [_p("cylinder", (0.028, bl / 2), (0, 0, 0.06), "x", "body"),
            _p("box", (0.018, 0.015, 0.05), (-0.03, 0, 0.0), part="handle"),
            _p("box", (0.04, 0.03, 0.015), (-0.03, 0, -0.06), part="battery"),
            _p("cylinder", (0.005, 0.02), (bl / 2 + 0.02, 0, 0.06), "x", "chuck")]  # fmt: skip


def _pitcher(g):
    r, h, hr = _u(g, 0.04, 0.05), _u(g, 0.12, 0.16), _u(g, 0.035, 0.045)
    return [_p("cylinder", (r, h / 2)), _p("cylinder", (r + 0.003, 0.005), (0, 0, h / 2), part="rim"),
            _segment((0.8 * r, 0, h / 2 - 0.01), (1.25 * r, 0, h / 2 + 0.008), 0.008, "spout"),
            *_arc((-r + 0.004, 0, 0.1 * h), hr, 0.007, np.pi / 2, 3 * np.pi / 2, "xz", "handle")]  # fmt: skip


CATEGORIES: dict[str, Callable[[np.random.Generator], list[Primitive]]] = {
    "mug": _mug, "cup": _cup, "bottle": _bottle, "bowl": _bowl, "box": _box, "can": _can,
    "knife": _knife, "hammer": _hammer, "screwdriver": _screwdriver, "spatula": _spatula,
    "pan": _pan, "teapot": _teapot, "banana": _banana, "apple": _apple, "pear": _pear,
    "jar": _jar, "spray_bottle": _spray_bottle, "scissors": _scissors, "remote": _remote,
    "phone": _phone, "flashlight": _flashlight, "wine_glass": _wine_glass, "drill": _drill,
    "pitcher": _pitcher,
}  # fmt: skip


def _seed_of(category: str, index: int, seed: int) -> int:
    digest = hashlib.sha256(f"{category}/{index}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def make_object(category: str, index: int, seed: int = 0) -> GraspObject:
    """Instance ``index`` of ``category``: deterministic; every 5th instance is ``unseen``."""
    if category not in CATEGORIES:
        raise ValueError(f"category: {category!r} is not one of {sorted(CATEGORIES)}")
    if index < 0:
        raise ValueError(f"index: must be >= 0, got {index}")
    rng = np.random.default_rng(_seed_of(category, index, seed))
    prims = CATEGORIES[category](rng)
    lo = np.min([p.trimesh().bounds[0] for p in prims], axis=0)
    hi = np.max([p.trimesh().bounds[1] for p in prims], axis=0)
    c = (lo + hi) / 2  # centre the bounding box on the origin
    prims = tuple(Primitive(p.kind, p.size, tuple(float(v) for v in np.asarray(p.pos) - c), p.quat, p.part)
                  for p in prims)  # fmt: skip
    split = "unseen" if index % UNSEEN_EVERY == UNSEEN_EVERY - 1 else "train"
    return GraspObject(f"{category}_{index:04d}", category, prims, split,
                       mass=float(rng.uniform(0.05, 0.15)), meta={"index": index, "seed": seed})  # fmt: skip


def object_library(n_objects: int, seed: int = 0) -> list[GraspObject]:
    """``n_objects`` objects cycling through the categories (round-robin), deterministic."""
    if n_objects < 0:
        raise ValueError(f"n_objects: must be >= 0, got {n_objects}")
    cats = list(CATEGORIES)
    return [make_object(cats[i % len(cats)], i // len(cats), seed) for i in range(n_objects)]


def object_from_json(text: str) -> GraspObject:
    """Parse an object written by ``json.dumps(obj.to_dict())``, or a grasp dataset's object
    record (``objects/<id>.json``), which holds that dict under ``"spec"``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"object json: {err}") from None
    if isinstance(data, dict) and "primitives" not in data and isinstance(data.get("spec"), dict):
        data = data["spec"]
    return GraspObject.from_dict(data)
