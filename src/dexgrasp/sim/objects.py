"""Procedural object library with language attributes and the paper's object splits.

Every object is built from MuJoCo primitives and convex-hull meshes (watertight by
construction) and carries attributes that instructions can refer to: name ("striped
green bottle"), category, noun, colour name, shape, size, mass, food / drink.

Splits (DexGraspVLA Sec. 5.2, 5.6, App. B):
    train                 36 graspable objects (demonstrations)
    unseen               360 graspable objects never used for training
    unseen_subset        103 fixed objects of ``unseen`` (background / lighting tests)
    nonprehensile_train   32 flat, wide objects (plates, books, boxes, boards)
    nonprehensile_unseen  18 flat, wide objects

Graspable objects are 3-10 cm wide (smaller horizontal extent), 5-20 cm tall and weigh
20-400 g. The whole library is a deterministic function of ``seed``.

    >>> lib = ObjectLibrary(seed=0)
    >>> len(lib.split("unseen"))
    360
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass

import mujoco
import numpy as np

from dexgrasp.sim import textures
from dexgrasp.sim.object_shapes import CATEGORIES, FLAT_CATEGORIES, Part, build_shape

# Named colours (RGB in [0, 1]); a small jitter is added per object.
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.65, 0.20),
    "blue": (0.12, 0.30, 0.85),
    "yellow": (0.95, 0.85, 0.15),
    "orange": (0.98, 0.55, 0.10),
    "purple": (0.50, 0.20, 0.65),
    "pink": (0.95, 0.55, 0.70),
    "white": (0.93, 0.93, 0.92),
    "black": (0.08, 0.08, 0.08),
    "brown": (0.50, 0.32, 0.16),
    "gray": (0.55, 0.55, 0.57),
    "cyan": (0.20, 0.75, 0.85),
}

SPLIT_SIZES: dict[str, int] = {
    "train": 36,
    "unseen": 360,
    "unseen_subset": 103,
    "nonprehensile_train": 32,
    "nonprehensile_unseen": 18,
}
SPLITS = tuple(SPLIT_SIZES)

# Graspable-object limits (metres, kilograms); flat objects are exempt from the width limit.
WIDTH_RANGE = (0.03, 0.10)
HEIGHT_RANGE = (0.05, 0.20)
MASS_RANGE = (0.02, 0.40)
FLAT_MASS_RANGE = (0.05, 0.60)


@dataclass(frozen=True)
class ObjectSpec:
    """One object of the library: language attributes plus the geometry to build it.

    size: (x, y, z) extents of its bounding box in the object frame, metres, upright pose.
    The object frame's origin is the bounding-box centre. mass: kg. parts: its geoms.
    """

    name: str
    category: str
    noun: str
    color_name: str
    accent_color_name: str
    rgba: tuple[float, float, float, float]
    shape: str
    size: tuple[float, float, float]
    mass: float
    is_food: bool
    is_drink: bool
    pattern: str
    friction: float
    finish: str  # surface look: "matte", "glossy" or "metallic"
    flat: bool
    parts: tuple[Part, ...]

    @property
    def width(self) -> float:
        """Smaller horizontal extent (m): what the hand must close around."""
        return min(self.size[0], self.size[1])

    @property
    def height(self) -> float:
        return self.size[2]

    @property
    def description(self) -> str:
        """A short referring expression, e.g. 'the striped green bottle'."""
        return f"the {self.name}"

    def attributes(self) -> dict:
        """JSON-friendly attributes (no geometry)."""
        d = asdict(self)
        d.pop("parts")
        d["size"] = list(self.size)
        d["rgba"] = list(self.rgba)
        return d


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class ObjectLibrary:
    """All objects of all splits, generated deterministically from ``seed``.

    Names are unique across the whole library, so a name identifies an object.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1729]))
        used: set[str] = set()
        prehensile_cats = list(CATEGORIES)
        flat_cats = list(FLAT_CATEGORIES)
        train = [
            self._make(rng, prehensile_cats[i % len(prehensile_cats)], used, flat=False)
            for i in range(SPLIT_SIZES["train"])
        ]
        unseen = [
            self._make(rng, prehensile_cats[rng.integers(len(prehensile_cats))], used, flat=False)
            for _ in range(SPLIT_SIZES["unseen"])
        ]
        np_train = [
            self._make(rng, flat_cats[i % len(flat_cats)], used, flat=True)
            for i in range(SPLIT_SIZES["nonprehensile_train"])
        ]
        np_unseen = [
            self._make(rng, flat_cats[rng.integers(len(flat_cats))], used, flat=True)
            for _ in range(SPLIT_SIZES["nonprehensile_unseen"])
        ]
        sub_rng = np.random.default_rng(np.random.SeedSequence([self.seed, 103]))
        subset_idx = np.sort(
            sub_rng.choice(len(unseen), SPLIT_SIZES["unseen_subset"], replace=False)
        )
        self._splits: dict[str, tuple[ObjectSpec, ...]] = {
            "train": tuple(train),
            "unseen": tuple(unseen),
            "unseen_subset": tuple(unseen[i] for i in subset_idx),
            "nonprehensile_train": tuple(np_train),
            "nonprehensile_unseen": tuple(np_unseen),
        }
        self._by_name = {o.name: o for s in self._splits.values() for o in s}

    # -- queries ---------------------------------------------------------------------
    def split(self, name: str) -> tuple[ObjectSpec, ...]:
        """Objects of split ``name`` (one of ``SPLITS``), in a fixed order."""
        if name not in self._splits:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return self._splits[name]

    def get(self, name: str) -> ObjectSpec:
        """The object called ``name``; raises KeyError naming close matches."""
        if name not in self._by_name:
            words = str(name).split()
            close = [n for n in self._by_name if words and words[-1] in n][:5]
            raise KeyError(f"no object named {name!r} in the library (similar: {close})")
        return self._by_name[name]

    def filter(self, split: str, **attrs) -> list[ObjectSpec]:
        """Objects of ``split`` whose attributes equal ``attrs``, e.g.
        ``filter("unseen", category="bottle")`` or ``filter("train", is_food=True)``."""
        fields = ObjectSpec.__dataclass_fields__
        bad = [k for k in attrs if k not in fields]
        if bad:
            raise ValueError(f"unknown object attributes {bad}; known: {sorted(fields)}")
        return [o for o in self.split(split) if all(getattr(o, k) == v for k, v in attrs.items())]

    def split_of(self, name: str) -> str:
        """The primary split of an object (never ``unseen_subset``)."""
        for split in ("train", "unseen", "nonprehensile_train", "nonprehensile_unseen"):
            if any(o.name == name for o in self._splits[split]):
                return split
        raise KeyError(f"no object named {name!r} in the library")

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    # -- generation ------------------------------------------------------------------
    def _make(
        self, rng: np.random.Generator, category: str, used: set[str], flat: bool
    ) -> ObjectSpec:
        for _ in range(200):
            obj = _sample_object(rng, category, flat)
            name = _unique_name(obj, used)
            if name is not None:
                used.add(name)
                return _replace_name(obj, name)
        raise RuntimeError(f"could not find a unique name for a {category}")  # pragma: no cover


@functools.cache
def get_library(seed: int = 0) -> ObjectLibrary:
    """The library for ``seed``, built once per process (objects are immutable)."""
    return ObjectLibrary(seed)


def _replace_name(obj: ObjectSpec, name: str) -> ObjectSpec:
    d = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    d["name"] = name
    return ObjectSpec(**d)


_PATTERN_ADJ = {
    "label": "labelled",
    "striped": "striped",
    "checkered": "checkered",
    "printed": "printed",
    "plain": "",
}


def _unique_name(obj: ObjectSpec, used: set[str]) -> str | None:
    """First unused of: 'green bottle', 'striped green bottle', 'small green bottle', ..."""
    adj = _PATTERN_ADJ.get(obj.pattern, "")
    vol = obj.size[0] * obj.size[1] * obj.size[2]
    size_adj = "small" if vol < 1.5e-4 else ("large" if vol > 6e-4 else "")
    candidates = [f"{obj.color_name} {obj.noun}"]
    if adj:
        candidates.append(f"{adj} {obj.color_name} {obj.noun}")
    if size_adj:
        candidates.append(f"{size_adj} {obj.color_name} {obj.noun}")
        if adj:
            candidates.append(f"{size_adj} {adj} {obj.color_name} {obj.noun}")
    candidates.append(f"{obj.color_name} and {obj.accent_color_name} {obj.noun}")
    for c in candidates:
        if c not in used:
            return c
    return None


def _sample_object(rng: np.random.Generator, category: str, flat: bool) -> ObjectSpec:
    shape_rng = np.random.default_rng(rng.integers(2**32))
    shape = build_shape(category, shape_rng)
    # Drawn from the per-object generator so that the main stream (names) is unaffected.
    finish = str(shape_rng.choice(FINISHES, p=_FINISH_P.get(category, (0.5, 0.5, 0.0))))
    color_name = shape.forced_color or str(rng.choice(shape.colors or list(COLORS)))
    base = np.asarray(COLORS[color_name]) + rng.normal(0.0, 0.03, 3)
    rgba = (*np.clip(base, 0, 1).round(3).tolist(), 1.0)
    accent_name = str(rng.choice([c for c in COLORS if c != color_name]))
    accent = (*COLORS[accent_name], 1.0)
    parts = tuple(
        Part(
            **{
                **asdict(p),
                "rgba": rgba if p.role == "main" else accent if p.role == "accent" else p.rgba,
            }
        )
        for p in shape.parts
    )
    if shape.pattern == "printed":  # printed-label texture on the main parts
        seed = int(shape_rng.integers(2**31))
        parts = tuple(
            Part(**{**asdict(p), "printed": seed}) if p.role == "main" else p for p in parts
        )
    if shape.pattern == "checkered":  # checker material on the main parts
        parts = tuple(
            Part(**{**asdict(p), "checker": (rgba[:3], accent[:3])}) if p.role == "main" else p
            for p in parts
        )
    w, d, h = shape.size
    vol = w * d * h * shape.fill
    lo, hi = FLAT_MASS_RANGE if flat else MASS_RANGE
    mass = float(np.clip(vol * rng.uniform(*shape.density), lo, hi))
    return ObjectSpec(
        name="",
        category=category,
        noun=shape.noun,
        color_name=color_name,
        accent_color_name=accent_name,
        rgba=tuple(rgba),  # type: ignore[arg-type]
        shape=shape.shape,
        size=(round(w, 4), round(d, 4), round(h, 4)),
        mass=round(mass, 4),
        is_food=shape.is_food,
        is_drink=shape.is_drink,
        pattern=shape.pattern,
        friction=round(float(rng.uniform(0.7, 1.2)), 3),
        finish=finish,
        flat=flat,
        parts=parts,
    )


# -- building into an MjSpec ---------------------------------------------------------
_GEOM_TYPES = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
    "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID,
    "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
    "mesh": mujoco.mjtGeom.mjGEOM_MESH,
}


FINISHES = ("matte", "glossy", "metallic")
# (specular, shininess) of each finish; probabilities of each finish per category.
_FINISH_LOOK = {"matte": (0.05, 0.05), "glossy": (0.5, 0.6), "metallic": (0.9, 0.9)}
_FINISH_P = {
    "can": (0.1, 0.3, 0.6),
    "bottle": (0.2, 0.8, 0.0),
    "jar": (0.3, 0.6, 0.1),
    "fruit": (0.4, 0.6, 0.0),
    "snack bag": (0.2, 0.5, 0.3),
    "box": (0.8, 0.2, 0.0),
    "tool": (0.5, 0.3, 0.2),
}


def _finish_material(spec: mujoco.MjSpec, finish: str) -> str | None:
    """Shared material named ``finish_<finish>`` (created on first use); geom rgba still
    sets the colour, the material only the highlights."""
    if finish not in _FINISH_LOOK:
        return None
    name = f"finish_{finish}"
    if spec.material(name) is None:
        specular, shininess = _FINISH_LOOK[finish]
        spec.add_material(name=name, specular=specular, shininess=shininess)
    return name


def obj_accent(obj: ObjectSpec) -> tuple[float, float, float]:
    """RGB of the object's accent colour."""
    return COLORS[obj.accent_color_name]


def box_inertia(mass: float, size: tuple[float, float, float]) -> list[float]:
    """Diagonal inertia (kg m^2) of a solid box with full extents ``size`` (m)."""
    w, d, h = size
    return [mass / 12 * (d * d + h * h), mass / 12 * (w * w + h * h), mass / 12 * (w * w + d * d)]


def add_object_body(
    spec: mujoco.MjSpec,
    obj: ObjectSpec,
    body_name: str,
    pos: tuple[float, float, float],
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0),
) -> mujoco.MjsBody:
    """Add ``obj`` as a free body named ``body_name`` to ``spec.worldbody``.

    Collision geoms are named ``{body_name}_g{i}``; visual-only geoms (labels, stripes)
    do not collide. Mass and inertia are explicit (bounding-box approximation), so visual
    parts never change the dynamics.
    """
    body = spec.worldbody.add_body(name=body_name, pos=list(pos), quat=list(quat))
    body.add_freejoint(name=f"{body_name}_joint")
    body.explicitinertial = True
    body.mass = obj.mass
    body.ipos = [0.0, 0.0, 0.0]
    body.inertia = box_inertia(obj.mass, obj.size)
    finish_mat = _finish_material(spec, obj.finish)
    for i, p in enumerate(obj.parts):
        kw: dict = {
            "name": f"{body_name}_g{i}",
            "type": _GEOM_TYPES[p.kind],
            "pos": list(p.pos),
            "quat": list(p.quat),
            "rgba": list(p.rgba),
        }
        if p.kind == "mesh":
            mesh_name = f"{body_name}_mesh{i}"
            spec.add_mesh(name=mesh_name, uservert=np.asarray(p.vertices, float).ravel().tolist())
            kw["meshname"] = mesh_name
        else:
            kw["size"] = list(p.size) + [0.0] * (3 - len(p.size))
        if finish_mat is not None:
            kw["material"] = finish_mat
        if p.printed is not None:
            image = textures.printed_label(p.rgba[:3], obj_accent(obj), seed=p.printed)
            kw["material"] = textures.add_image_material(spec, f"{body_name}_print{i}", image)
            kw["rgba"] = [1.0, 1.0, 1.0, 1.0]
        if p.checker is not None:
            mat = textures.add_builtin_material(
                spec, f"{body_name}_mat{i}", "checker", p.checker[0], p.checker[1], size=32
            )
            kw["material"] = mat
            kw["rgba"] = [1.0, 1.0, 1.0, 1.0]
        if p.collide:
            kw.update(friction=[obj.friction, 0.005, 0.0001], condim=4, group=0)
        else:
            kw.update(contype=0, conaffinity=0, group=1, density=0.0)
        body.add_geom(**kw)
    return body


def body_name_for(index: int, obj: ObjectSpec) -> str:
    """MuJoCo body name of the ``index``-th object of a scene, e.g. 'obj3_green_bottle'."""
    return f"obj{index}_{_sanitize(obj.name)}"
