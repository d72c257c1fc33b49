"""Shape builders for the object library: geometry of each category, in the object frame.

Each builder takes a numpy ``Generator`` and returns a ``Shape``: parts (MuJoCo primitive
geoms and convex-hull meshes), bounding-box size (m), noun and category facts. The object
frame's origin is the bounding-box centre, z up. ``objects.py`` adds colours, names, mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# -- parts ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One geom of an object. size: MuJoCo geom size (half-sizes / radius, m); pos in the
    object frame (m). role: 'main' (object colour), 'accent' (second colour) or 'fixed'
    (own ``rgba``). vertices: (N, 3) for convex-hull meshes. checker: cube texture colours."""

    kind: str
    size: tuple[float, ...] = ()
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    role: str = "main"
    rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    collide: bool = True
    vertices: tuple[tuple[float, float, float], ...] | None = None
    checker: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    printed: int | None = None  # seed of a printed-label 2D texture (boxes)


@dataclass(frozen=True)
class Shape:
    """Geometry and category facts produced by a shape builder."""

    noun: str
    shape: str
    size: tuple[float, float, float]  # full bounding-box extents (m)
    parts: tuple[Part, ...]
    pattern: str = "plain"
    is_food: bool = False
    is_drink: bool = False
    colors: tuple[str, ...] = ()  # allowed colour names (empty: any)
    forced_color: str | None = None
    density: tuple[float, float] = (300.0, 900.0)  # kg/m^3 of the bounding box * fill
    fill: float = 0.7


_SILVER = (0.75, 0.75, 0.78, 1.0)
_DARK = (0.1, 0.1, 0.1, 1.0)
_Y90 = (0.7071068, 0.0, 0.7071068, 0.0)  # rotates a z-axis cylinder onto x
_X90 = (0.7071068, 0.7071068, 0.0, 0.0)  # rotates a z-axis cylinder onto y


def _cyl(r: float, z0: float, z1: float, role: str = "main", collide: bool = True, **kw) -> Part:
    """Vertical cylinder of radius r between heights z0 < z1 (object frame)."""
    return Part(
        "cylinder", (r, (z1 - z0) / 2), (0.0, 0.0, (z0 + z1) / 2), role=role, collide=collide, **kw
    )


def _bands(rng: np.random.Generator, r: float, z0: float, z1: float) -> tuple[str, list[Part]]:
    """Random surface decoration of a cylinder: label band, stripes, or none."""
    pattern = str(rng.choice(["plain", "label", "striped", "checkered"], p=[0.35, 0.3, 0.2, 0.15]))
    if pattern == "label":
        zc, hh = (z0 + z1) / 2, (z1 - z0) * rng.uniform(0.2, 0.35)
        return pattern, [_cyl(r * 1.02, zc - hh, zc + hh, "accent", collide=False)]
    if pattern == "striped":
        n = int(rng.integers(2, 5))
        zs = np.linspace(z0, z1, 2 * n + 1)[1::2]
        t = (z1 - z0) / (4 * n + 2)
        return pattern, [_cyl(r * 1.02, z - t, z + t, "accent", collide=False) for z in zs]
    return pattern, []


def _hull(points: np.ndarray) -> Part:
    return Part("mesh", vertices=tuple(map(tuple, np.round(points, 5).tolist())))


def _fit_box(pts: np.ndarray, extents: tuple[float, float, float]) -> np.ndarray:
    """Centre ``pts`` (N, 3) on their bounding box and scale it to ``extents`` (m) exactly."""
    lo, hi = pts.min(0), pts.max(0)
    return (pts - (lo + hi) / 2) * (np.asarray(extents) / (hi - lo))


def _ellipsoid_points(
    a: float, b: float, c: float, rng: np.random.Generator, n: int = 48
) -> np.ndarray:
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u * np.array([a, b, c]) * rng.uniform(0.93, 1.0, (n, 1))


def _bottle(rng):
    r, h = rng.uniform(0.03, 0.045), rng.uniform(0.14, 0.20)
    z = -h / 2 + np.cumsum([0, 0.64, 0.12, 0.16, 0.08]) * h
    pattern, deco = _bands(rng, r, z[0] + 0.1 * h, z[1])
    parts = [
        _cyl(r, z[0], z[1]),
        _cyl(0.72 * r, z[1], z[2]),
        _cyl(0.4 * r, z[2], z[3]),
        _cyl(0.46 * r, z[3], z[4], "accent"),
    ]
    noun = str(rng.choice(["bottle", "water bottle", "juice bottle", "soda bottle"]))
    return Shape(
        noun, "cylinder", (2 * r, 2 * r, h), tuple(parts + deco), pattern, is_drink=True, fill=0.6
    )


def _can(rng):
    r, h = rng.uniform(0.028, 0.04), rng.uniform(0.08, 0.15)
    pattern, deco = _bands(rng, r, -h / 2, h / 2)
    noun = str(rng.choice(["soda can", "soup can", "coffee can"]))
    rim = _cyl(0.9 * r, h / 2 - 0.002, h / 2 + 0.0005, "fixed", collide=False, rgba=_SILVER)
    return Shape(
        noun,
        "cylinder",
        (2 * r, 2 * r, h),
        (_cyl(r, -h / 2, h / 2), rim, *deco),
        pattern,
        is_food=noun == "soup can",
        is_drink=noun != "soup can",
        density=(250, 1000),
        fill=0.78,
    )


def _cup(rng):
    r, h = rng.uniform(0.03, 0.042), rng.uniform(0.07, 0.12)
    noun = str(rng.choice(["cup", "mug", "paper cup"]))
    parts = [_cyl(r, -h / 2, h / 2)]
    width = 2 * r
    if noun == "mug":  # handle on +x; keep it inside the 10 cm width budget (y extent)
        hw = rng.uniform(0.008, 0.012)
        parts.append(Part("box", (hw, 0.006, 0.3 * h), (r + hw, 0.0, 0.0), role="accent"))
        width = 2 * r + 4 * hw  # symmetric about the cup axis (the frame origin)
    inner = _cyl(
        0.85 * r, h / 2 - 0.004, h / 2 + 0.0005, "fixed", collide=False, rgba=(0.2, 0.15, 0.1, 1.0)
    )
    pattern, deco = _bands(rng, r, -h / 2, h / 2)
    return Shape(
        noun,
        "cylinder",
        (width, 2 * r, h),
        (*parts, inner, *deco),
        pattern,
        density=(150, 500),
        fill=0.6,
    )


def _yogurt(rng):
    r, h = rng.uniform(0.03, 0.042), rng.uniform(0.055, 0.09)
    ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    ring = np.stack([np.cos(ang), np.sin(ang)], 1)
    pts = np.concatenate(
        [np.c_[0.8 * r * ring, np.full(20, -h / 2)], np.c_[r * ring, np.full(20, h / 2)]]
    )
    lid = _cyl(r * 1.01, h / 2 - 0.001, h / 2 + 0.001, "accent", collide=False)
    return Shape(
        str(rng.choice(["yogurt", "yogurt cup", "pudding cup"])),
        "frustum",
        (2 * r, 2 * r, h),
        (_hull(pts), lid),
        "plain",
        is_food=True,
        density=(500, 1000),
        fill=0.75,
    )


def _jar(rng):
    r, h = rng.uniform(0.032, 0.048), rng.uniform(0.07, 0.13)
    lid_h = 0.15 * h
    pattern, deco = _bands(rng, r, -h / 2, h / 2 - lid_h)
    noun = str(rng.choice(["jam jar", "honey jar", "peanut butter jar"]))
    parts = (_cyl(r, -h / 2, h / 2 - lid_h), _cyl(0.95 * r, h / 2 - lid_h, h / 2, "accent"), *deco)
    return Shape(
        noun,
        "cylinder",
        (2 * r, 2 * r, h),
        parts,
        pattern,
        is_food=True,
        density=(500, 1100),
        fill=0.78,
    )


def _box(rng):
    w, d, h = rng.uniform(0.04, 0.10), rng.uniform(0.03, 0.07), rng.uniform(0.06, 0.20)
    noun = str(rng.choice(["juice box", "cracker box", "tea box", "medicine box", "soap box"]))
    pattern = str(rng.choice(["plain", "label", "checkered", "printed"]))
    parts = [Part("box", (w / 2, d / 2, h / 2))]
    if pattern == "label":
        parts.append(
            Part(
                "box",
                (0.35 * w, 0.001, 0.25 * h),
                (0.0, -d / 2 - 0.0005, 0.0),
                role="accent",
                collide=False,
            )
        )
        parts.append(
            Part(
                "box",
                (0.35 * w, 0.001, 0.25 * h),
                (0.0, d / 2 + 0.0005, 0.0),
                role="accent",
                collide=False,
            )
        )
    return Shape(
        noun,
        "box",
        (w, d, h),
        tuple(parts),
        pattern,
        is_food=noun == "cracker box",
        is_drink=noun in ("juice box", "tea box"),
        density=(100, 700),
        fill=1.0,
    )


_FRUIT_COLORS = {
    "apple": ("red", "green", "yellow"),
    "orange": ("orange",),
    "lemon": ("yellow",),
    "pear": ("green", "yellow"),
    "peach": ("pink", "orange"),
    "plum": ("purple",),
    "lime": ("green",),
}


def _fruit(rng):
    noun = str(rng.choice(list(_FRUIT_COLORS)))
    rx = rng.uniform(0.027, 0.045)
    a, b, c = rx, rx * rng.uniform(0.92, 1.0), max(0.026, rx * rng.uniform(0.9, 1.25))
    stem = Part(
        "capsule",
        (0.003, 0.006),
        (0.0, 0.0, c + 0.004),
        role="fixed",
        collide=False,
        rgba=(0.35, 0.22, 0.1, 1.0),
    )
    return Shape(
        noun,
        "ellipsoid",
        (2 * a, 2 * b, 2 * c),
        (_hull(_fit_box(_ellipsoid_points(a, b, c, rng), (2 * a, 2 * b, 2 * c))), stem),
        "plain",
        is_food=True,
        colors=_FRUIT_COLORS[noun],
        density=(600, 1000),
        fill=0.52,
    )


def _snack_bag(rng):
    w, d, h = rng.uniform(0.10, 0.16), rng.uniform(0.07, 0.10), rng.uniform(0.05, 0.06)
    u, v = np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 7))
    puff = np.sqrt(np.clip((1 - u**4) * (1 - v**4), 0.04, 1.0)) * h / 2
    top = np.c_[u.ravel() * w / 2, v.ravel() * d / 2, puff.ravel()]
    bot = top * np.array([1, 1, -1])
    label = Part("ellipsoid", (0.25 * w, 0.25 * d, h / 2 * 1.01), role="accent", collide=False)
    noun = str(rng.choice(["chip bag", "candy bag", "cookie bag"]))
    return Shape(
        noun,
        "bag",
        (w, d, h),
        (_hull(np.concatenate([top, bot])), label),
        "label",
        is_food=True,
        density=(60, 250),
        fill=0.6,
    )


def _toy(rng):
    noun = str(rng.choice(["toy block", "rubber duck", "toy ball", "toy car"]))
    if noun == "toy block":
        s = rng.uniform(0.05, 0.07)
        return Shape(
            noun,
            "box",
            (s, s, s),
            (Part("box", (s / 2,) * 3),),
            "checkered",
            density=(300, 700),
            fill=1.0,
        )
    if noun == "toy ball":
        r = rng.uniform(0.026, 0.04)
        return Shape(
            noun,
            "sphere",
            (2 * r,) * 3,
            (Part("sphere", (r,)),),
            "checkered",
            density=(100, 500),
            fill=0.52,
        )
    if noun == "rubber duck":
        L = rng.uniform(0.07, 0.10)
        body = _ellipsoid_points(L / 2, 0.32 * L, 0.25 * L, rng) + np.array([0, 0, -0.1 * L])
        head = _ellipsoid_points(0.18 * L, 0.18 * L, 0.18 * L, rng) + np.array(
            [0.22 * L, 0, 0.22 * L]
        )
        pts = np.concatenate([body, head])
        centre = (pts.max(0) + pts.min(0)) / 2  # frame origin = bounding-box centre
        pts = pts - centre
        head_c = np.array([0.22 * L, 0.0, 0.22 * L]) - centre
        beak = Part(
            "ellipsoid",
            (0.08 * L, 0.05 * L, 0.03 * L),
            tuple((head_c + [0.17 * L, 0.0, -0.02 * L]).tolist()),
            role="fixed",
            rgba=(1.0, 0.5, 0.05, 1.0),
            collide=False,
        )
        ext = pts.max(0) - pts.min(0)
        return Shape(
            noun,
            "duck",
            tuple(ext.tolist()),
            (_hull(pts), beak),
            "plain",
            colors=("yellow", "pink", "blue", "white"),
            density=(100, 300),
            fill=0.5,
        )
    L, W, H = rng.uniform(0.09, 0.14), rng.uniform(0.045, 0.06), rng.uniform(0.05, 0.065)
    wr = 0.22 * H
    parts = [
        Part("box", (L / 2, W / 2, 0.3 * H), (0, 0, -H / 2 + wr + 0.3 * H)),
        Part(
            "box",
            (0.25 * L, 0.45 * W, 0.2 * H),
            (-0.05 * L, 0, -H / 2 + wr + 0.8 * H),
            role="accent",
        ),
    ]
    for sx in (-0.32 * L, 0.32 * L):
        for sy in (-W / 2 + 0.005, W / 2 - 0.005):
            parts.append(Part("cylinder", (wr, 0.005), (sx, sy, -H / 2 + wr), _X90, "fixed", _DARK))
    return Shape(noun, "car", (L, W, H), tuple(parts), "plain", density=(300, 800), fill=0.6)


def _tool(rng):
    noun = str(rng.choice(["glue stick", "tape roll", "stapler", "tape measure"]))
    if noun == "glue stick":
        r, h = rng.uniform(0.015, 0.02), rng.uniform(0.08, 0.12)
        return Shape(
            noun,
            "cylinder",
            (2 * r, 2 * r, h),
            (_cyl(r, -h / 2, h / 2 - 0.3 * h), _cyl(r * 1.02, h / 2 - 0.3 * h, h / 2, "accent")),
            "plain",
            density=(400, 1000),
            fill=0.78,
        )
    if noun == "tape roll":
        r, h = rng.uniform(0.035, 0.048), rng.uniform(0.05, 0.055)
        hole = _cyl(
            0.55 * r,
            -h / 2 - 0.0005,
            h / 2 + 0.0005,
            "fixed",
            collide=False,
            rgba=(0.85, 0.8, 0.7, 1.0),
        )
        return Shape(
            noun,
            "cylinder",
            (2 * r, 2 * r, h),
            (_cyl(r, -h / 2, h / 2), hole),
            "plain",
            density=(300, 800),
            fill=0.5,
        )
    if noun == "stapler":
        L, W, H = rng.uniform(0.12, 0.16), rng.uniform(0.035, 0.045), rng.uniform(0.05, 0.06)
        parts = (
            Part("box", (L / 2, W / 2, 0.2 * H), (0, 0, -0.3 * H), role="fixed", rgba=_DARK),
            Part("box", (0.48 * L, 0.45 * W, 0.3 * H), (0, 0, 0.2 * H)),
        )
        return Shape(noun, "box", (L, W, H), parts, "plain", density=(400, 1100), fill=0.6)
    s, d = rng.uniform(0.055, 0.075), rng.uniform(0.03, 0.04)
    dial = Part("cylinder", (0.3 * s, 0.001), (0, -d / 2 - 0.001, 0), _X90, "accent", collide=False)
    return Shape(
        noun,
        "box",
        (s, d, s),
        (Part("box", (s / 2, d / 2, s / 2)), dial),
        "plain",
        density=(600, 1500),
        fill=1.0,
    )


def _plate(rng):
    r, h = rng.uniform(0.09, 0.13), rng.uniform(0.015, 0.025)
    rim = _cyl(0.7 * r, h / 2 - 0.002, h / 2 + 0.0005, "accent", collide=False)
    return Shape(
        "plate",
        "cylinder",
        (2 * r, 2 * r, h),
        (_cyl(r, -h / 2, h / 2), rim),
        "plain",
        density=(300, 800),
        fill=0.5,
    )


def _book(rng):
    w, d, h = rng.uniform(0.15, 0.24), rng.uniform(0.11, 0.17), rng.uniform(0.015, 0.04)
    spine = Part(
        "box",
        (0.006, d / 2 + 0.0005, h / 2 + 0.0005),
        (-w / 2 + 0.006, 0, 0),
        role="accent",
        collide=False,
    )
    noun = str(rng.choice(["book", "notebook"]))
    return Shape(
        noun,
        "box",
        (w, d, h),
        (Part("box", (w / 2, d / 2, h / 2)), spine),
        str(rng.choice(["plain", "printed"])),
        density=(300, 700),
        fill=1.0,
    )


def _flat_box(rng):
    w, d, h = rng.uniform(0.14, 0.22), rng.uniform(0.10, 0.16), rng.uniform(0.03, 0.05)
    noun = str(rng.choice(["pizza box", "gift box", "shoe lid"]))
    return Shape(
        noun,
        "box",
        (w, d, h),
        (Part("box", (w / 2, d / 2, h / 2)),),
        str(rng.choice(["checkered", "printed"])),
        density=(80, 300),
        fill=1.0,
    )


def _board(rng):
    w, d, h = rng.uniform(0.18, 0.26), rng.uniform(0.12, 0.17), rng.uniform(0.012, 0.02)
    noun = str(rng.choice(["cutting board", "clipboard", "tray"]))
    return Shape(
        noun,
        "box",
        (w, d, h),
        (Part("box", (w / 2, d / 2, h / 2)),),
        "plain",
        density=(300, 800),
        fill=1.0,
    )


CATEGORIES = {
    "bottle": _bottle,
    "can": _can,
    "cup": _cup,
    "yogurt": _yogurt,
    "jar": _jar,
    "box": _box,
    "fruit": _fruit,
    "snack bag": _snack_bag,
    "toy": _toy,
    "tool": _tool,
}
FLAT_CATEGORIES = {"plate": _plate, "book": _book, "flat box": _flat_box, "board": _board}


def build_shape(category: str, rng: np.random.Generator) -> Shape:
    """Sample the geometry of one object of ``category``."""
    builders = CATEGORIES | FLAT_CATEGORIES
    if category not in builders:
        raise ValueError(f"unknown category {category!r}; expected one of {sorted(builders)}")
    return builders[category](rng)
