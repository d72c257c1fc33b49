"""Rooms, table, table-top backgrounds and lightings of the tabletop world.

Two rooms reproduce the paper's zero-shot setting (App. B.1): demonstrations are collected
in ``"collection"`` and policies are evaluated in ``"evaluation"``, which differ in floor,
walls, furniture and table legs. Backgrounds are the paper's unseen table-top coverings
(App. B.2, plus the yellow tablecloth of Sec. 5.6); lightings are its unseen lighting
conditions. Backgrounds and furniture are visual only (no collisions), so the physics of a
scene is identical under every background, lighting and room.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexgrasp.sim import layout, textures

ROOMS = ("collection", "evaluation")
BACKGROUNDS = (
    "white_table",
    "black_mouse_pad",
    "pink_towel",
    "colorful_tablecloth",
    "black_white_mouse_pad",
    "wooden_board",
    "calibration_board",
    "yellow_tablecloth",
)
LIGHTINGS = ("white", "disco", "lamp", "dark")

# Default head-camera position: see layout.HEAD_CAMERA_POS.
HEAD_CAMERA_POS = layout.HEAD_CAMERA_POS

TABLE_GEOM = "table_top"
TABLE_THICKNESS = 0.04
FLOOR_GEOM = "floor"
HEAD_CAMERA = "head"

_GEOM = mujoco.mjtGeom
_VISUAL = {"contype": 0, "conaffinity": 0, "group": 1}


def _check(value: str, allowed: tuple[str, ...], field: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {field} {value!r}; expected one of {allowed}")


def quat_z_to(direction: np.ndarray) -> list[float]:
    """Unit quaternion (w, x, y, z) rotating +z onto ``direction`` (3,)."""
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, d)
    s, c = np.linalg.norm(axis), float(np.dot(z, d))
    if s < 1e-9:
        return [1.0, 0.0, 0.0, 0.0] if c > 0 else [0.0, 1.0, 0.0, 0.0]
    half = np.arctan2(s, c) / 2
    return [float(np.cos(half)), *(np.sin(half) * axis / s).tolist()]


def look_at_quat(pos: np.ndarray, target: np.ndarray) -> list[float]:
    """Camera quaternion (w, x, y, z): MuJoCo cameras look along their -z, +y up."""
    f = np.asarray(target, float) - np.asarray(pos, float)
    f /= np.linalg.norm(f)
    x = np.cross(f, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(-f, x)
    mat = np.stack([x, y, -f], axis=1)  # columns: camera axes in the world frame
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.ravel())
    return quat.tolist()


# -- room ------------------------------------------------------------------------------
def add_room(spec: mujoco.MjSpec, room: str = "collection") -> None:
    """Floor, walls and furniture of ``room`` (one of ``ROOMS``); also the table."""
    _check(room, ROOMS, "room")
    world = spec.worldbody
    if room == "collection":
        floor = textures.checker((0.62, 0.62, 0.64), (0.80, 0.80, 0.80), 2, 64)
        wall_rgb, wall2_rgb = (0.86, 0.83, 0.74), (0.80, 0.78, 0.70)
    else:
        floor = textures.wood(seed=7, size=256, light=(0.62, 0.45, 0.30), dark=(0.42, 0.27, 0.16))
        wall_rgb, wall2_rgb = (0.55, 0.66, 0.74), (0.48, 0.60, 0.70)
    textures.add_image_material(spec, "floor_mat", floor, texrepeat=(16, 16), texuniform=False)
    world.add_geom(
        name=FLOOR_GEOM, type=_GEOM.mjGEOM_PLANE, size=[4.0, 4.0, 0.05], material="floor_mat"
    )
    # Walls: visual square planes facing the room centre (parts below the floor are hidden).
    for pos, normal, rgb in (
        ((2.6, 0.0, 1.0), (-1, 0, 0), wall_rgb),
        ((-1.6, 0.0, 1.0), (1, 0, 0), wall_rgb),
        ((0.5, 3.0, 1.0), (0, -1, 0), wall2_rgb),
        ((0.5, -3.0, 1.0), (0, 1, 0), wall2_rgb),
    ):
        q = quat_z_to(np.array(normal, float))
        world.add_geom(
            type=_GEOM.mjGEOM_PLANE,
            pos=list(pos),
            quat=q,
            size=[3.2, 3.2, 0.05],
            rgba=[*rgb, 1],
            **_VISUAL,
        )
    _add_table(spec, room)
    if room == "collection":
        _collection_furniture(spec)
    else:
        _evaluation_furniture(spec)


def _box(world, pos, half, rgba, **kw) -> None:
    world.add_geom(
        type=_GEOM.mjGEOM_BOX, pos=list(pos), size=list(half), rgba=list(rgba), **_VISUAL, **kw
    )


def _add_table(spec: mujoco.MjSpec, room: str) -> None:
    cx, cy = layout.TABLE_CENTER_XY
    hx, hy = layout.TABLE_HALF_SIZE_XY
    top = layout.TABLE_TOP_Z
    spec.worldbody.add_geom(
        name=TABLE_GEOM,
        type=_GEOM.mjGEOM_BOX,
        pos=[cx, cy, top - TABLE_THICKNESS / 2],
        size=[hx, hy, TABLE_THICKNESS / 2],
        rgba=[0.95, 0.95, 0.94, 1.0],
        friction=[1.0, 0.005, 0.0001],
    )
    leg_rgba = (0.55, 0.57, 0.60, 1) if room == "collection" else (0.40, 0.26, 0.14, 1)
    leg = 0.025 if room == "collection" else 0.035
    for sx in (-1, 1):
        for sy in (-1, 1):
            _box(
                spec.worldbody,
                (cx + sx * (hx - 0.05), cy + sy * (hy - 0.05), (top - TABLE_THICKNESS) / 2),
                (leg, leg, (top - TABLE_THICKNESS) / 2),
                leg_rgba,
            )


def _collection_furniture(spec: mujoco.MjSpec) -> None:
    w = spec.worldbody
    # Grey metal shelf with boxes behind the table, an orange chair, a whiteboard, a window.
    _box(w, (1.9, 0.9, 0.9), (0.2, 0.5, 0.9), (0.45, 0.47, 0.50, 1))
    for k, rgb in enumerate([(0.8, 0.3, 0.2), (0.2, 0.4, 0.8), (0.9, 0.8, 0.3), (0.3, 0.6, 0.3)]):
        _box(w, (1.75, 0.6 + 0.18 * k, 0.4 + 0.45 * (k % 3)), (0.06, 0.07, 0.08), (*rgb, 1))
    _box(w, (1.3, -0.5, 0.45), (0.22, 0.22, 0.03), (0.95, 0.5, 0.1, 1))
    _box(w, (1.5, -0.5, 0.7), (0.03, 0.22, 0.25), (0.95, 0.5, 0.1, 1))
    _box(w, (2.58, -0.8, 1.5), (0.01, 0.8, 0.5), (0.98, 0.98, 0.98, 1))
    w.add_geom(
        type=_GEOM.mjGEOM_BOX,
        pos=[0.8, 2.98, 1.6],
        size=[0.7, 0.01, 0.5],
        rgba=[0.7, 0.85, 1.0, 1],
        **_VISUAL,
    )


def _evaluation_furniture(spec: mujoco.MjSpec) -> None:
    w = spec.worldbody
    textures.add_image_material(spec, "poster_mat", textures.poster(seed=3))
    # Posters, a dark red cabinet, a potted plant, a desk with a monitor, a blue bin.
    w.add_geom(
        type=_GEOM.mjGEOM_BOX,
        pos=[2.58, 0.3, 1.4],
        size=[0.01, 0.5, 0.4],
        material="poster_mat",
        **_VISUAL,
    )
    _box(w, (1.6, -0.9, 0.5), (0.25, 0.4, 0.5), (0.45, 0.12, 0.10, 1))
    w.add_geom(
        type=_GEOM.mjGEOM_CYLINDER,
        pos=[1.4, 0.8, 0.2],
        size=[0.15, 0.2, 0],
        rgba=[0.3, 0.2, 0.15, 1],
        **_VISUAL,
    )
    for k in range(5):
        ang = 2 * np.pi * k / 5
        w.add_geom(
            type=_GEOM.mjGEOM_SPHERE,
            pos=[1.4 + 0.12 * np.cos(ang), 0.8 + 0.12 * np.sin(ang), 0.55 + 0.1 * (k % 2)],
            size=[0.16, 0, 0],
            rgba=[0.15, 0.5 + 0.05 * k, 0.2, 1],
            **_VISUAL,
        )
    _box(w, (0.6, 2.4, 0.72), (0.6, 0.35, 0.02), (0.9, 0.9, 0.88, 1))
    _box(w, (0.6, 2.55, 1.0), (0.25, 0.02, 0.16), (0.05, 0.05, 0.06, 1))
    w.add_geom(
        type=_GEOM.mjGEOM_CYLINDER,
        pos=[1.1, -0.3, 0.2],
        size=[0.14, 0.2, 0],
        rgba=[0.1, 0.3, 0.8, 1],
        **_VISUAL,
    )


# -- backgrounds -----------------------------------------------------------------------
def add_background(spec: mujoco.MjSpec, background: str = "white_table") -> None:
    """Cover the table top with ``background`` (one of ``BACKGROUNDS``); visual only.

    The covering is a 1 mm-thin visual box whose top sits 0.5 mm above the table surface.
    """
    _check(background, BACKGROUNDS, "background")
    if background == "white_table":
        return
    cx, cy = layout.TABLE_CENTER_XY
    hx, hy = layout.TABLE_HALF_SIZE_XY
    # name: (image, (half x, half y) covered, texrepeat)
    options = {
        "black_mouse_pad": (textures.noise((0.07, 0.07, 0.08), 0.03, seed=1), (0.22, 0.36), (4, 4)),
        "pink_towel": (
            textures.noise((0.95, 0.60, 0.72), 0.10, seed=2, blur=1),
            (0.26, 0.40),
            (6, 6),
        ),
        "colorful_tablecloth": (textures.patchwork(seed=3), (hx, hy), (2, 3)),
        "black_white_mouse_pad": (textures.zebra_pad(seed=4), (0.22, 0.36), (1, 1)),
        "wooden_board": (textures.wood(seed=5), (hx - 0.02, hy - 0.02), (1, 1)),
        "calibration_board": (textures.calibration_board(n_squares=12), (0.25, 0.30), (1, 1)),
        "yellow_tablecloth": (textures.noise((0.96, 0.84, 0.25), 0.06, seed=6), (hx, hy), (4, 4)),
    }
    image, (bx, by), rep = options[background]
    mat = textures.add_image_material(spec, f"bg_{background}", image, texrepeat=rep)
    spec.worldbody.add_geom(
        name="background",
        type=_GEOM.mjGEOM_BOX,
        pos=[cx, cy, layout.TABLE_TOP_Z - 0.0005],
        size=[bx, by, 0.001],
        material=mat,
        **_VISUAL,
    )


# -- lighting --------------------------------------------------------------------------
def add_lighting(spec: mujoco.MjSpec, lighting: str = "white", shadows: bool = False) -> None:
    """Lights for ``lighting`` (one of ``LIGHTINGS``). ``shadows`` turns on shadow casting."""
    _check(lighting, LIGHTINGS, "lighting")
    head = spec.visual.headlight
    world = spec.worldbody
    cx, cy = layout.TABLE_CENTER_XY
    top = layout.TABLE_TOP_Z
    lights: list[dict] = []
    if lighting == "white":
        head.ambient, head.diffuse, head.specular = [0.35] * 3, [0.35] * 3, [0.1] * 3
        lights = [
            {
                "pos": [cx, cy - 0.5, top + 2.0],
                "dir": [0, 0.25, -1],
                "diffuse": [0.45] * 3,
                "type": "dir",
            },
            {
                "pos": [cx - 0.5, cy + 0.5, top + 2.0],
                "dir": [0.25, -0.25, -1],
                "diffuse": [0.3] * 3,
                "type": "dir",
            },
        ]
    elif lighting == "disco":
        head.ambient, head.diffuse, head.specular = [0.06] * 3, [0.05] * 3, [0.0] * 3
        colors = [(1, 0.1, 0.1), (0.1, 1, 0.2), (0.2, 0.3, 1), (1, 0.2, 1), (1, 0.9, 0.1)]
        for k, rgb in enumerate(colors):
            ang = 2 * np.pi * k / len(colors)
            spot = np.array([cx + 0.22 * np.cos(ang), cy + 0.3 * np.sin(ang), top])
            pos = np.array([cx + 0.3, cy, top + 1.6])
            lights.append(
                {
                    "pos": pos.tolist(),
                    "dir": (spot - pos).tolist(),
                    "diffuse": [0.7 * c for c in rgb],
                    "type": "spot",
                    "cutoff": 14.0,
                    "exponent": 2.0,
                }
            )
    elif lighting == "lamp":
        head.ambient, head.diffuse, head.specular = [0.08] * 3, [0.05] * 3, [0.0] * 3
        pos = np.array([cx + 0.25, cy + 0.75, top + 0.55])
        lights.append(
            {
                "pos": pos.tolist(),
                "dir": (np.array([cx, cy - 0.1, top]) - pos).tolist(),
                "diffuse": [1.0, 0.82, 0.55],
                "type": "spot",
                "cutoff": 45.0,
                "exponent": 6.0,
                "attenuation": [1.0, 0.0, 0.5],
            }
        )
    else:  # dark
        head.ambient, head.diffuse, head.specular = [0.04] * 3, [0.06] * 3, [0.0] * 3
        lights = [
            {"pos": [cx, cy, top + 2.0], "dir": [0, 0, -1], "diffuse": [0.12] * 3, "type": "dir"}
        ]
    for i, light in enumerate(lights):
        ltype = (
            mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
            if light.pop("type") == "dir"
            else mujoco.mjtLightType.mjLIGHT_SPOT
        )
        world.add_light(
            name=f"light{i}", type=ltype, castshadow=shadows, specular=[0.1] * 3, **light
        )


def add_head_camera(
    spec: mujoco.MjSpec,
    pos: tuple[float, float, float] | None = None,
    lookat: tuple[float, float, float] | None = None,
) -> None:
    """The head (third-person) camera at ``pos`` looking at ``lookat`` (world frame, m).

    Defaults: ``HEAD_CAMERA_POS`` (see above) and ``layout.HEAD_CAMERA_LOOKAT``.
    """
    pos = np.array(HEAD_CAMERA_POS if pos is None else pos, float)
    lookat = np.array(layout.HEAD_CAMERA_LOOKAT if lookat is None else lookat, float)
    if pos.shape != (3,) or lookat.shape != (3,) or np.linalg.norm(lookat - pos) < 1e-6:
        raise ValueError(
            f"head camera pos and lookat must be distinct 3-vectors, got {pos}, {lookat}"
        )
    spec.worldbody.add_camera(
        name=HEAD_CAMERA,
        pos=pos.tolist(),
        quat=look_at_quat(pos, lookat),
        fovy=layout.HEAD_CAMERA_FOVY_DEG,
    )
