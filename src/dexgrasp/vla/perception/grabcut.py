"""Box -> mask without weights: OpenCV GrabCut initialised with the box."""

from __future__ import annotations

from typing import Any

import numpy as np

from dexgrasp.vla.perception.types import as_xyxy
from dexgrasp.vlm.types import check_image


def require_cv2() -> Any:
    try:
        import cv2
    except ImportError as err:
        raise ImportError(
            "this segmenter/tracker needs OpenCV: pip install 'dexgrasp[vla]' "
            "(opencv-python-headless)"
        ) from err
    return cv2


class GrabCutSegmenter:
    """:class:`~dexgrasp.vla.perception.types.Segmenter` using GrabCut.

    Args:
        iterations: GrabCut iterations (5 is OpenCV's usual choice).
        margin_px: context band around the box given to GrabCut as certain background.
        seed: OpenCV RNG seed (GrabCut's GMM initialisation is randomised).

    When GrabCut returns nothing (tiny or featureless boxes) the ellipse inscribed in the
    box is returned and ``last_fallback`` is set.
    """

    def __init__(self, iterations: int = 5, margin_px: int = 12, seed: int = 0) -> None:
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if margin_px < 0:
            raise ValueError(f"margin_px must be >= 0, got {margin_px}")
        self.iterations = iterations
        self.margin_px = margin_px
        self.seed = seed
        self.last_fallback = False

    def segment(self, image: np.ndarray, box: Any) -> np.ndarray:
        cv2 = require_cv2()
        check_image(image)
        h, w = image.shape[:2]
        x1, y1, x2, y2 = as_xyxy(box, w, h)
        # Work on a crop around the box: faster, and the crop border is background context.
        cx1, cy1 = max(0, x1 - self.margin_px), max(0, y1 - self.margin_px)
        cx2, cy2 = min(w, x2 + self.margin_px), min(h, y2 + self.margin_px)
        crop = np.ascontiguousarray(image[cy1:cy2, cx1:cx2, ::-1])  # BGR for OpenCV
        mask = np.zeros((h, w), np.uint8)
        rect = (x1 - cx1, y1 - cy1, x2 - x1, y2 - y1)
        result = None
        touches_all = (
            rect[0] == 0 and rect[1] == 0 and rect[2] == crop.shape[1] and rect[3] == crop.shape[0]
        )
        if min(x2 - x1, y2 - y1) >= 4 and not touches_all:
            gc = np.zeros(crop.shape[:2], np.uint8)
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.setRNGSeed(self.seed)
            try:
                cv2.grabCut(crop, gc, rect, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_RECT)
                result = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
            except cv2.error:
                result = None
        self.last_fallback = result is None or not result.any()
        if self.last_fallback:
            ellipse = np.zeros(crop.shape[:2], np.uint8)
            center = ((rect[0] * 2 + rect[2]) // 2, (rect[1] * 2 + rect[3]) // 2)
            cv2.ellipse(
                ellipse, center, (max(1, rect[2] // 2), max(1, rect[3] // 2)), 0, 0, 360, 1, -1
            )
            result = ellipse
        mask[cy1:cy2, cx1:cx2] = result
        return mask
