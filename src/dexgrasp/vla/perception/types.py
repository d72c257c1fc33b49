"""Perception interfaces: box -> mask (segmenters) and mask over time (trackers).

Masks are (H, W) uint8 arrays with values {0, 1} in head-camera pixels; boxes are
(x1, y1, x2, y2) pixel tuples or :class:`~dexgrasp.vla.planner.types.BoundingBox`-like
objects with an ``xyxy`` attribute. An empty mask from a tracker means the track is lost;
the runtime then asks the planner for a new box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dexgrasp.vlm.types import check_image

Box = tuple[int, int, int, int]


def as_xyxy(box: Any, width: int, height: int) -> Box:
    """Integer (x1, y1, x2, y2) clamped to a ``width`` x ``height`` image; raises on empty."""
    xyxy = box.xyxy if hasattr(box, "xyxy") else tuple(box)
    if len(xyxy) != 4:
        raise ValueError(f"box must have 4 coordinates (x1, y1, x2, y2), got {xyxy!r}")
    x1, y1, x2, y2 = (int(round(float(v))) for v in xyxy)
    x1, x2 = max(0, min(x1, width)), max(0, min(x2, width))
    y1, y2 = max(0, min(y1, height)), max(0, min(y2, height))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {xyxy!r} is empty inside the {width}x{height} image")
    return x1, y1, x2, y2


def check_mask(
    mask: np.ndarray, shape: tuple[int, int] | None = None, name: str = "mask"
) -> np.ndarray:
    """Validate an (H, W) mask and return it as uint8 {0, 1}."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), got {mask.shape}")
    if shape is not None and mask.shape != tuple(shape):
        raise ValueError(f"{name} has shape {mask.shape}, expected {tuple(shape)}")
    return (mask > 0).astype(np.uint8)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (H, W) masks (0 when both are empty)."""
    a, b = a > 0, b > 0
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def mask_box(mask: np.ndarray) -> Box | None:
    """Tight (x1, y1, x2, y2) box of a mask, ``None`` when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@dataclass
class TrackResult:
    """One tracker step. ``lost`` is True when the target is no longer found (``mask`` is
    then all zeros); ``score`` is the tracker's confidence in [0, 1] where it has one."""

    mask: np.ndarray
    lost: bool
    score: float = 1.0


@runtime_checkable
class Segmenter(Protocol):
    """Box -> mask on one image."""

    def segment(self, image: np.ndarray, box: Any) -> np.ndarray:
        """(H, W) uint8 {0, 1} mask of the object inside ``box`` in ``image`` (H, W, 3)."""
        ...


@runtime_checkable
class Tracker(Protocol):
    """Mask over time: ``start`` with the first frame and mask, then ``update`` per frame."""

    def start(self, image: np.ndarray, mask: np.ndarray) -> None: ...

    def update(self, image: np.ndarray) -> TrackResult: ...


def lost_result(shape: tuple[int, int], score: float = 0.0) -> TrackResult:
    return TrackResult(np.zeros(shape, np.uint8), lost=True, score=score)


__all__ = [
    "Box",
    "Segmenter",
    "TrackResult",
    "Tracker",
    "as_xyxy",
    "check_image",
    "check_mask",
    "lost_result",
    "mask_box",
    "mask_iou",
]
