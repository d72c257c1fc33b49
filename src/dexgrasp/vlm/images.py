"""Image encoding helpers for VLM backends."""

from __future__ import annotations

import base64
import io

import numpy as np

from dexgrasp.vlm.types import check_image


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image."""
    check_image(image)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow ships with the sim extra
        Image = None
    if Image is not None:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
        return buf.getvalue()
    try:
        import cv2
    except ImportError as err:  # pragma: no cover
        raise ImportError("PNG encoding needs pillow: pip install 'dexgrasp[sim]'") from err
    ok, data = cv2.imencode(".png", image[:, :, ::-1])
    if not ok:  # pragma: no cover
        raise ValueError("PNG encoding failed")
    return data.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_png`: (H, W, 3) uint8."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def png_data_url(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` URL of an RGB image, as chat-completions expects."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")
