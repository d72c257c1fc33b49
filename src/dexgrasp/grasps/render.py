"""Render a hand-object grasp with its contacts as coloured spheres (MuJoCo offscreen -> PNG).

>>> img = render_grasp(obj, grasp, contacts)         # (H, W, 3) uint8
>>> save_png(img, "grasp.png")

Contacts are ``{link_name: (k, 3)}`` object-frame positions (metres); each finger has a colour
(thumb red, index orange, middle green, ring blue, little purple, palm grey). Set
``MUJOCO_GL=egl`` (or ``osmesa``) on a headless machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dexgrasp.grasps.hand import FINGER_OF_LINK

FINGER_RGBA = {
    "thumb": (0.90, 0.15, 0.15, 1.0),
    "index": (1.00, 0.60, 0.05, 1.0),
    "middle": (0.20, 0.75, 0.25, 1.0),
    "ring": (0.15, 0.45, 0.95, 1.0),
    "little": (0.65, 0.30, 0.85, 1.0),
    "palm": (0.45, 0.45, 0.45, 1.0),
}


def render_grasp(obj, grasp: np.ndarray | None, contacts: dict[str, np.ndarray] | None = None,
                 width: int = 640, height: int = 480, azimuth: float = 135.0,
                 elevation: float = -25.0, sphere_radius: float = 0.006,
                 views: int = 1, lookat: np.ndarray | None = None,
                 distance: float | None = None) -> np.ndarray:  # fmt: skip
    """Image(s) of ``obj`` (a ``GraspObject``) with the hand at ``grasp`` (28,) and contacts.

    Returns (H, W, 3) uint8, or (H, views * W, 3) with ``views`` azimuths side by side.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    import mujoco

    from dexgrasp.grasps.simulate import HandObjectSim

    sim = HandObjectSim.from_object(obj)
    m, d = sim.model, sim.data
    if grasp is not None:
        sim.set_grasp(np.asarray(grasp, dtype=np.float64))
    else:  # hand far away
        g = np.zeros(28)
        g[0:3] = [0, 0, 10.0]
        sim.set_grasp(g)
    m.vis.global_.offwidth = max(m.vis.global_.offwidth, width)
    m.vis.global_.offheight = max(m.vis.global_.offheight, height)
    # show visual meshes (group 1) and the object (group 2), hide collision capsules (group 4)
    opt = mujoco.MjvOption()
    opt.geomgroup[:] = [0, 1, 1, 0, 0, 0]
    lo, hi = obj.bounds()
    center = (lo + hi) / 2
    if grasp is not None:
        center = 0.7 * center + 0.3 * (np.asarray(grasp[:3]) + 0.0)
    dist = 1.6 * float(np.linalg.norm(hi - lo)) + 0.12 if distance is None else distance
    center = center if lookat is None else np.asarray(lookat, dtype=np.float64)
    images = []
    with mujoco.Renderer(m, height=height, width=width) as renderer:
        for v in range(views):
            cam = mujoco.MjvCamera()
            cam.lookat[:] = center
            cam.distance = dist
            cam.azimuth = azimuth + v * 360.0 / max(views, 1)
            cam.elevation = elevation
            renderer.update_scene(d, camera=cam, scene_option=opt)
            _add_spheres(renderer.scene, contacts or {}, sphere_radius, mujoco)
            images.append(renderer.render().copy())
    return np.concatenate(images, axis=1)


def _add_spheres(scene, contacts: dict[str, np.ndarray], radius: float, mujoco) -> None:
    for link, pts in contacts.items():
        rgba = np.asarray(FINGER_RGBA[FINGER_OF_LINK.get(link, "palm")], dtype=np.float32)
        for p in np.asarray(pts, dtype=np.float64).reshape(-1, 3):
            if scene.ngeom >= scene.maxgeom:
                return
            mujoco.mjv_initGeom(scene.geoms[scene.ngeom], mujoco.mjtGeom.mjGEOM_SPHERE,
                                np.array([radius, 0, 0]), p, np.eye(3).ravel(), rgba)  # fmt: skip
            scene.ngeom += 1


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, 3) uint8 image as PNG (creates parent folders)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
    return path
