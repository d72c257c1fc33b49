"""Small image helpers for figures and debugging: tiles, mask overlays, boxes, PNGs.

All functions take and return (H, W, 3) uint8 RGB arrays (grayscale (H, W) and float
images in [0, 1] are converted) and never modify their input. Pillow + numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

Color = tuple[int, int, int]


def _pil():
    try:
        from PIL import Image, ImageDraw
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("image utilities need Pillow: pip install 'dexgrasp[sim]'") from err
    return Image, ImageDraw


def to_rgb_uint8(img: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image -> (H, W, 3) uint8.

    Floats are taken as [0, 1]; bool and {0, 1} uint8 masks are not rescaled (use
    `mask_to_rgb` for masks).
    """
    x = np.asarray(img)
    if x.ndim == 3 and x.shape[-1] in (1, 3, 4):
        x = x[..., :3] if x.shape[-1] != 1 else x[..., 0]
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected an (H, W), (H, W, 1|3|4) image, got shape {np.shape(img)}")
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * 255
    if np.issubdtype(x.dtype, np.floating):
        return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if x.dtype != np.uint8:
        return np.clip(x, 0, 255).astype(np.uint8)
    return np.array(x, copy=True)


def mask_to_rgb(mask: np.ndarray, color: Color = (255, 255, 255)) -> np.ndarray:
    """(H, W) mask (nonzero = on) -> (H, W, 3) uint8: ``color`` on black."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {m.shape}")
    out = np.zeros((*m.shape, 3), np.uint8)
    out[m > 0] = color
    return out


def overlay_mask(
    img: np.ndarray, mask: np.ndarray, color: Color = (255, 0, 0), alpha: float = 0.5
) -> np.ndarray:
    """Blend ``color`` over the pixels of ``img`` (H, W, 3) where ``mask`` (H, W) is nonzero.

    Args:
        alpha: opacity of the colour in [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = to_rgb_uint8(img)
    m = np.asarray(mask)
    if m.shape != out.shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match image shape {out.shape[:2]}")
    on = m > 0
    blended = (1.0 - alpha) * out[on].astype(np.float32) + alpha * np.asarray(color, np.float32)
    out[on] = (blended + 0.5).astype(np.uint8)
    return out


def draw_box(
    img: np.ndarray,
    box: Sequence[float],
    color: Color = (0, 255, 0),
    width: int = 2,
    label: str | None = None,
) -> np.ndarray:
    """Draw an axis-aligned box (x0, y0, x1, y1) in pixels (x right, y down) on a copy.

    Coordinates outside the image are clipped; ``label`` is written above the box.
    """
    box = [float(v) for v in box]
    if len(box) != 4 or not np.all(np.isfinite(box)):
        raise ValueError(f"box must be 4 finite numbers (x0, y0, x1, y1), got {box}")
    x0, y0, x1, y1 = box
    if x1 < x0 or y1 < y0:
        raise ValueError(f"box must have x0 <= x1 and y0 <= y1, got {box}")
    Image, ImageDraw = _pil()
    out = to_rgb_uint8(img)
    h, w = out.shape[:2]
    x0, x1 = np.clip([x0, x1], 0, w - 1)
    y0, y1 = np.clip([y0, y1], 0, h - 1)
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    draw.rectangle([x0, y0, x1, y1], outline=tuple(color), width=max(1, int(width)))
    if label:
        draw.text((x0 + 2, max(0, y0 - 12)), label, fill=tuple(color))
    return np.asarray(pil).copy()


def tile(
    images: Sequence[np.ndarray],
    ncols: int,
    labels: Sequence[str] | None = None,
    pad: int = 2,
    background: int = 255,
) -> np.ndarray:
    """Arrange images in a grid, row-major, each cell the size of the largest image.

    Args:
        images: (H_i, W_i[, C]) images (see `to_rgb_uint8`).
        ncols: number of columns (>= 1).
        labels: optional caption per image, drawn in a strip above it.
        pad: pixels between cells.
        background: gray level of the padding.

    Returns:
        (rows * (H + label strip + pad) + pad, ncols * (W + pad) + pad, 3) uint8.
    """
    if not len(images):
        raise ValueError("tile needs at least one image")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    rgb = [to_rgb_uint8(im) for im in images]
    ch = max(im.shape[0] for im in rgb)
    cw = max(im.shape[1] for im in rgb)
    strip = 12 if labels is not None else 0
    ncols = min(ncols, len(rgb))
    nrows = -(-len(rgb) // ncols)
    out = np.full(
        (nrows * (ch + strip + pad) + pad, ncols * (cw + pad) + pad, 3), background, np.uint8
    )
    for i, im in enumerate(rgb):
        r, c = divmod(i, ncols)
        y = pad + r * (ch + strip + pad) + strip
        x = pad + c * (cw + pad)
        out[y : y + im.shape[0], x : x + im.shape[1]] = im
    if labels is not None:
        Image, ImageDraw = _pil()
        pil = Image.fromarray(out)
        draw = ImageDraw.Draw(pil)
        for i, text in enumerate(labels):
            r, c = divmod(i, ncols)
            draw.text(
                (pad + c * (cw + pad) + 1, pad + r * (ch + strip + pad)), str(text), fill=(0, 0, 0)
            )
        out = np.asarray(pil).copy()
    return out


def save_png(path: str | Path, img: np.ndarray) -> Path:
    """Write an image as PNG (creating parent directories); returns the path."""
    Image, _ = _pil()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_rgb_uint8(img)).save(path, format="PNG")
    return path


def load_png(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB."""
    Image, _ = _pil()
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()
