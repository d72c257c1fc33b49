"""Image preprocessing for SAM and SAM 2, done here so that no torchvision is needed.

SAM: resize the longer side to ``size`` keeping the aspect ratio, normalise with ImageNet
statistics, pad bottom/right with zeros to ``size`` x ``size``. SAM 2 (video): resize to
``size`` x ``size`` without keeping the aspect ratio, normalise. Masks come back at the
decoder's low resolution and are resized to the original frame here.
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def longest_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) after scaling the longer side to ``size`` (SAM's rounding)."""
    scale = size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def normalize(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32, ImageNet-normalised."""
    x = image.astype(np.float32) / 255.0
    return ((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).copy()


def sam_preprocess(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """SAM input: pixel values (3, size, size) float32, the resize scale, and the resized (h, w)."""
    h, w = image.shape[:2]
    rh, rw = longest_side_shape(h, w, size)
    resized = _resize(image, rw, rh)
    out = np.zeros((3, size, size), np.float32)
    out[:, :rh, :rw] = normalize(resized)
    return out, rw / w, (rh, rw)


def sam2_preprocess(image: np.ndarray, size: int) -> np.ndarray:
    """SAM 2 input: (3, size, size) float32 (squashed to a square, normalised)."""
    return normalize(_resize(image, size, size))


def upsample_logits(
    logits,
    out_hw: tuple[int, int],
    crop_hw: tuple[int, int] | None = None,
    pad_size: int | None = None,
):
    """Low-resolution mask logits (..., h, w) torch -> (..., H, W) at ``out_hw``.

    With ``pad_size`` and ``crop_hw`` (SAM) the logits are first brought to the padded square,
    cropped to the un-padded region, then resized.
    """
    import torch.nn.functional as F

    lead = logits.shape[:-2]
    x = logits.reshape(-1, 1, *logits.shape[-2:]).float()
    if pad_size is not None and crop_hw is not None:
        x = F.interpolate(x, (pad_size, pad_size), mode="bilinear", align_corners=False)
        x = x[..., : crop_hw[0], : crop_hw[1]]
    x = F.interpolate(x, out_hw, mode="bilinear", align_corners=False)
    return x.reshape(*lead, *out_hw)
