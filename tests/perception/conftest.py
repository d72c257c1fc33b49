"""Synthetic scenes for perception tests: textured objects on a noisy table."""

from __future__ import annotations

import numpy as np
import pytest


def scene(
    center: tuple[int, int], radius: int = 14, shape=(96, 128), seed: int = 0, color=(210, 40, 30)
):
    """(image (H, W, 3) uint8, mask (H, W) uint8) with a textured disc at ``center`` (x, y)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    img = np.full((h, w, 3), (200, 200, 190), np.uint8)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    # A second, differently coloured object as a distractor.
    img[10:30, 10:30] = (40, 90, 200)
    ys, xs = np.mgrid[0:h, 0:w]
    mask = ((xs - center[0]) ** 2 + (ys - center[1]) ** 2 <= radius**2).astype(np.uint8)
    # Texture that moves with the object (corners for optical flow).
    tex = (((xs - center[0]) // 4 + (ys - center[1]) // 4) % 2).astype(np.float32)
    obj = np.asarray(color, np.float32)[None, None] * (0.7 + 0.3 * tex[..., None])
    img[mask > 0] = obj[mask > 0].astype(np.uint8)
    return img, mask


@pytest.fixture
def make_scene():
    return scene
