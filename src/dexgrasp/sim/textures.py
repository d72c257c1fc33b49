"""Procedural textures for the tabletop world (numpy arrays, no image files).

Every generator returns an (H, W, 3) uint8 RGB image and is deterministic given its
arguments (and ``seed`` where it takes one). ``add_image_material`` turns an image into a
MuJoCo 2D texture + material on an ``MjSpec``; ``add_builtin_material`` wraps MuJoCo's
builtin checker/gradient/flat textures (used for cube-mapped object patterns).
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

RGB = tuple[float, float, float]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def _check_size(size: int) -> None:
    if size < 4 or size > 4096:
        raise ValueError(f"texture size must be in [4, 4096], got {size}")


def flat(color: RGB, size: int = 8) -> np.ndarray:
    """Uniform colour. color: RGB in [0, 1]. Returns (size, size, 3) uint8."""
    _check_size(size)
    return _to_uint8(np.broadcast_to(np.asarray(color, float), (size, size, 3)).copy())


def checker(color1: RGB, color2: RGB, n_squares: int = 8, size: int = 256) -> np.ndarray:
    """Checkerboard with ``n_squares`` squares per side. Returns (size, size, 3) uint8."""
    _check_size(size)
    if n_squares < 1:
        raise ValueError(f"n_squares must be >= 1, got {n_squares}")
    idx = (np.arange(size) * n_squares // size) % 2
    mask = (idx[:, None] ^ idx[None, :]).astype(bool)
    img = np.where(mask[..., None], np.asarray(color1, float), np.asarray(color2, float))
    return _to_uint8(img)


def noise(base: RGB, amplitude: float, seed: int, size: int = 128, blur: int = 2) -> np.ndarray:
    """Smoothed random colour noise around ``base`` (fabric, towel, mouse-pad grain)."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    n = rng.normal(0.0, 1.0, (size, size, 1))
    for _ in range(blur):  # cheap box blur with wrap-around, keeps the texture tileable
        n = (n + np.roll(n, 1, 0) + np.roll(n, -1, 0) + np.roll(n, 1, 1) + np.roll(n, -1, 1)) / 5
    n = n / (np.abs(n).max() + 1e-9)
    return _to_uint8(np.asarray(base, float) + amplitude * n)


def wood(
    seed: int, size: int = 256, light: RGB = (0.72, 0.52, 0.32), dark: RGB = (0.45, 0.29, 0.15)
) -> np.ndarray:
    """Wood grain: wavy rings along one axis. Returns (size, size, 3) uint8."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    warp = sum(
        rng.uniform(0.01, 0.04) * np.sin(2 * np.pi * (k * x + rng.uniform())) for k in (1, 2, 3)
    )
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (rng.uniform(10, 18) * (y + warp)))
    rings = rings**3
    img = np.asarray(dark, float) * rings[..., None] + np.asarray(light, float) * (
        1 - rings[..., None]
    )
    img = img + rng.normal(0, 0.02, (size, size, 1))
    return _to_uint8(img)


def stripes(
    colors: Sequence[RGB], n_stripes: int = 8, size: int = 128, vertical: bool = False
) -> np.ndarray:
    """Parallel stripes cycling through ``colors``. Returns (size, size, 3) uint8."""
    _check_size(size)
    if not colors:
        raise ValueError("stripes needs at least one colour")
    idx = (np.arange(size) * n_stripes // size) % len(colors)
    pal = np.asarray(colors, float)[idx]  # (size, 3)
    img = np.broadcast_to(pal[None, :, :] if vertical else pal[:, None, :], (size, size, 3))
    return _to_uint8(img)


def patchwork(seed: int, n_cells: int = 6, size: int = 256) -> np.ndarray:
    """Colourful tablecloth: saturated cells with stripes and dots. Returns (size, size, 3) uint8."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    cell = size // n_cells
    img = np.zeros((size, size, 3))
    y, x = np.mgrid[0:cell, 0:cell]
    for i in range(n_cells):
        for j in range(n_cells):
            c1, c2 = rng.uniform(0.1, 1.0, 3), rng.uniform(0.1, 1.0, 3)
            kind = rng.integers(3)
            if kind == 0:
                m = ((x // max(cell // 6, 1)) % 2).astype(bool)
            elif kind == 1:
                m = ((x - cell / 2) ** 2 + (y - cell / 2) ** 2) < (cell / 3) ** 2
            else:
                m = (((x + y) // max(cell // 5, 1)) % 2).astype(bool)
            img[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = np.where(
                m[..., None], c1, c2
            )
    img[n_cells * cell :, :] = img[: size - n_cells * cell, :]
    img[:, n_cells * cell :] = img[:, : size - n_cells * cell]
    return _to_uint8(img)


def calibration_board(n_squares: int = 9, size: int = 512, margin: float = 0.08) -> np.ndarray:
    """Black/white chessboard with a white margin, as used for camera calibration."""
    _check_size(size)
    img = checker((0.05, 0.05, 0.05), (0.97, 0.97, 0.97), n_squares, size).astype(float) / 255
    m = int(size * margin)
    img[:m], img[-m:], img[:, :m], img[:, -m:] = 0.97, 0.97, 0.97, 0.97
    return _to_uint8(img)


def zebra_pad(seed: int, size: int = 256) -> np.ndarray:
    """Black-and-white mouse pad: irregular wavy black/white bands."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    f = np.sin(2 * np.pi * (7 * x + 0.6 * np.sin(2 * np.pi * (2 * y + rng.uniform()))))
    f = f + 0.5 * np.sin(2 * np.pi * (3 * y + rng.uniform()))
    v = np.where(f > 0.1, 0.95, 0.05)
    return _to_uint8(np.repeat(v[..., None], 3, axis=2))


def poster(seed: int, size: int = 128) -> np.ndarray:
    """Abstract wall poster: a few random coloured rectangles on a light background."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 0.92)
    for _ in range(6):
        x0, y0 = rng.integers(0, size - 8, 2)
        w, h = rng.integers(8, size // 2, 2)
        img[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0.05, 0.95, 3)
    return _to_uint8(img)


def printed_label(base: RGB, accent: RGB, seed: int, size: int = 64) -> np.ndarray:
    """Packaging print: ``base`` background, an ``accent`` band, a logo block and dark
    text-like bars. Returns (size, size, 3) uint8."""
    _check_size(size)
    rng = np.random.default_rng(seed)
    img = np.empty((size, size, 3))
    img[:] = np.asarray(base, float)
    y0 = int(rng.integers(size // 8, size // 2))
    img[y0 : y0 + size // 4] = np.asarray(accent, float)
    x0, y1 = rng.integers(2, size // 2, 2)
    img[y1 : y1 + size // 6, x0 : x0 + size // 3] = rng.uniform(0.0, 1.0, 3)
    for k in range(int(rng.integers(2, 5))):
        y = size - 6 - 5 * k
        x, length = int(rng.integers(2, size // 4)), int(rng.integers(size // 4, size // 2))
        img[y : y + 2, x : x + length] = 0.08
    return _to_uint8(img)


def add_image_material(
    spec: mujoco.MjSpec,
    name: str,
    image: np.ndarray,
    texrepeat: tuple[float, float] = (1.0, 1.0),
    texuniform: bool = False,
    specular: float = 0.1,
    shininess: float = 0.1,
    rgba: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> str:
    """Add ``image`` ((H, W, 3) uint8) as a 2D texture and a material named ``name``.

    Returns the material name. 2D textures show on planes, boxes and meshes.
    """
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"texture image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    h, w, _ = image.shape
    spec.add_texture(
        name=f"{name}_tex",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        width=w,
        height=h,
        nchannel=3,
        data=image.ravel(),
    )
    mat = spec.add_material(
        name=name,
        texrepeat=list(texrepeat),
        texuniform=texuniform,
        specular=specular,
        shininess=shininess,
        rgba=list(rgba),
    )
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"{name}_tex"
    return name


def add_builtin_material(
    spec: mujoco.MjSpec,
    name: str,
    builtin: str,
    rgb1: RGB,
    rgb2: RGB,
    size: int = 64,
    texrepeat: tuple[float, float] = (1.0, 1.0),
) -> str:
    """Cube-mapped builtin texture ("checker", "gradient", "flat") + material; returns its name.

    Cube textures apply to every primitive geom (boxes, cylinders, spheres).
    """
    kinds = {
        "checker": mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        "gradient": mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        "flat": mujoco.mjtBuiltin.mjBUILTIN_FLAT,
    }
    if builtin not in kinds:
        raise ValueError(f"builtin must be one of {sorted(kinds)}, got {builtin!r}")
    spec.add_texture(
        name=f"{name}_tex",
        type=mujoco.mjtTexture.mjTEXTURE_CUBE,
        builtin=kinds[builtin],
        width=size,
        height=size,
        rgb1=list(rgb1),
        rgb2=list(rgb2),
    )
    mat = spec.add_material(name=name, texrepeat=list(texrepeat), specular=0.2, shininess=0.2)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"{name}_tex"
    return name
