"""Ground-truth masks in simulation: a segmenter and a tracker reading the simulator.

Both take a callable that returns the target's current (H, W) mask in the head camera
(e.g. from MuJoCo's segmentation render), so they work with any simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dexgrasp.vla.perception.types import TrackResult, check_mask, lost_result, mask_iou
from dexgrasp.vlm.types import check_image


class GroundTruthSegmenter:
    """:class:`Segmenter` that ignores the image and returns the simulator's mask of the
    object whose segmentation best fills ``box``. ``masks_fn`` returns {name: (H, W) mask}."""

    def __init__(self, masks_fn: Callable[[], dict[str, np.ndarray]]) -> None:
        self.masks_fn = masks_fn
        self.last_name: str | None = None

    def segment(self, image: np.ndarray, box: Any) -> np.ndarray:
        from dexgrasp.vla.perception.types import as_xyxy

        check_image(image)
        h, w = image.shape[:2]
        x1, y1, x2, y2 = as_xyxy(box, w, h)
        masks = self.masks_fn()
        best, best_score = None, 0.0
        for name, m in masks.items():
            m = check_mask(m, (h, w), f"mask of {name}")
            inside = int(m[y1:y2, x1:x2].sum())
            total = int(m.sum())
            if total == 0:
                continue
            # Fraction of the object inside the box times fraction of the box it fills.
            score = inside / total * inside / ((x2 - x1) * (y2 - y1))
            if score > best_score:
                best, best_score = name, score
        self.last_name = best
        if best is None:
            return np.zeros((h, w), np.uint8)
        return check_mask(masks[best])


class GroundTruthTracker:
    """:class:`Tracker` that follows one simulator object: at ``start`` it picks the object
    whose ground-truth mask overlaps the given mask most, then returns that object's mask
    every frame. Lost when the mask is empty (occluded, out of view) or nothing matched.

    ``masks_fn`` returns {name: (H, W) mask} for the current simulator state.
    """

    def __init__(self, masks_fn: Callable[[], dict[str, np.ndarray]]) -> None:
        self.masks_fn = masks_fn
        self.shape: tuple[int, int] | None = None
        self.name: str | None = None

    def start(self, image: np.ndarray, mask: np.ndarray) -> None:
        check_image(image)
        self.shape = image.shape[:2]
        mask = check_mask(mask, self.shape)
        best, best_iou = None, 0.0
        for name, m in self.masks_fn().items():
            iou = mask_iou(check_mask(m, self.shape), mask)
            if iou > best_iou:
                best, best_iou = name, iou
        self.name = best

    def update(self, image: np.ndarray) -> TrackResult:
        if self.shape is None:
            raise RuntimeError("GroundTruthTracker.update called before start")
        if self.name is None:
            return lost_result(self.shape)
        mask = check_mask(self.masks_fn().get(self.name, np.zeros(self.shape)), self.shape)
        if not mask.any():
            return lost_result(self.shape)
        return TrackResult(mask, lost=False, score=1.0)
