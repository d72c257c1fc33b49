"""A weights-free mask tracker: optical-flow propagation checked by a colour model.

Each step: Lucas-Kanade flow of corner features inside the mask (forward-backward checked)
gives a similarity transform that warps the previous mask; a hue-saturation histogram of
the first mask keeps only pixels whose colour looks like the target. The track is lost when
too few features survive and the colour evidence is weak, or the mask becomes too small;
while lost, a target-coloured blob of plausible size near the last position (the object
reappearing in the hand after an occlusion, say) resumes it.
It is the cheap stand-in for Cutie / SAM 2 when no weights are available.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexgrasp.vla.perception.grabcut import require_cv2
from dexgrasp.vla.perception.types import TrackResult, check_mask, lost_result
from dexgrasp.vlm.types import check_image


@dataclass
class FlowTrackerConfig:
    """max_features: corners tracked; fb_error_px: forward-backward flow tolerance;
    min_area_frac: a mask smaller than this fraction of the first one is lost;
    color_threshold: back-projection probability (0-1) for a pixel to count as target colour;
    min_color_frac: below this fraction of target-coloured pixels in the warped mask the
    track is lost when flow also failed; search_radius / redetect_area: while lost, a
    target-coloured blob of 0.3-3x the first area within 4 object sizes resumes the track."""

    max_features: int = 80
    fb_error_px: float = 1.5
    min_points: int = 4
    min_area_frac: float = 0.15
    color_threshold: float = 0.05
    min_color_frac: float = 0.2
    dilate_px: int = 2
    search_radius: float = 4.0  # re-detection: max distance, in object sizes
    redetect_area: tuple[float, float] = (0.3, 3.0)  # re-detection: area vs the first mask

    def __post_init__(self) -> None:
        if self.max_features < self.min_points or self.min_points < 2:
            raise ValueError("need max_features >= min_points >= 2")
        for name in ("min_area_frac", "color_threshold", "min_color_frac"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


class FlowTracker:
    """:class:`~dexgrasp.vla.perception.types.Tracker` with OpenCV, no weights."""

    def __init__(self, config: FlowTrackerConfig | None = None) -> None:
        self.config = config or FlowTrackerConfig()
        self.cv2 = require_cv2()
        self._prev_gray: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._hist: np.ndarray | None = None
        self._area0 = 0

    def _features(self, gray: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        pts = self.cv2.goodFeaturesToTrack(
            gray, self.config.max_features, qualityLevel=0.01, minDistance=3, mask=mask * 255
        )
        return pts

    def _backproject(self, image: np.ndarray) -> np.ndarray:
        cv2 = self.cv2
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        prob = cv2.calcBackProject([hsv], [0, 1], self._hist, [0, 180, 0, 256], 1)
        return prob.astype(np.float32) / 255.0

    def start(self, image: np.ndarray, mask: np.ndarray) -> None:
        cv2 = self.cv2
        check_image(image)
        mask = check_mask(mask, image.shape[:2])
        if not mask.any():
            raise ValueError("FlowTracker.start needs a non-empty mask")
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], mask * 255, [30, 32], [0, 180, 0, 256])
        bg = cv2.calcHist([hsv], [0, 1], (1 - mask) * 255, [30, 32], [0, 180, 0, 256])
        # Ratio histogram: colours common in the target and rare in the background.
        ratio = (
            hist
            / max(hist.sum(), 1.0)
            / (hist / max(hist.sum(), 1.0) + bg / max(bg.sum(), 1.0) + 1e-6)
        )
        self._hist = (ratio * 255).astype(np.float32)
        self._prev_gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        self._mask = mask
        self._area0 = int(mask.sum())

    def update(self, image: np.ndarray) -> TrackResult:
        cv2, cfg = self.cv2, self.config
        if self._mask is None or self._prev_gray is None:
            raise RuntimeError("FlowTracker.update called before start")
        check_image(image)
        h, w = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        prev_mask = self._mask
        flow_ok = False
        warped = prev_mask
        pts = self._features(self._prev_gray, prev_mask)
        if pts is not None and len(pts) >= cfg.min_points:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(
                self._prev_gray, gray, pts, None, winSize=(15, 15), maxLevel=3
            )
            back, st2, _ = cv2.calcOpticalFlowPyrLK(
                gray, self._prev_gray, nxt, None, winSize=(15, 15), maxLevel=3
            )
            fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
            good = (st.ravel() == 1) & (st2.ravel() == 1) & (fb < cfg.fb_error_px)
            if good.sum() >= cfg.min_points:
                src, dst = pts[good].reshape(-1, 2), nxt[good].reshape(-1, 2)
                M, inliers = cv2.estimateAffinePartial2D(
                    src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0
                )
                if M is not None and inliers is not None and inliers.sum() >= cfg.min_points:
                    warped = cv2.warpAffine(prev_mask, M, (w, h), flags=cv2.INTER_NEAREST)
                    flow_ok = True
        prob = self._backproject(image)
        coloured = prob >= cfg.color_threshold
        colour_frac = float(coloured[warped > 0].mean()) if warped.any() else 0.0
        mask = warped
        if colour_frac >= cfg.min_color_frac:
            # Trim to target-coloured pixels near the warped mask (handles small shape changes).
            k = np.ones((2 * cfg.dilate_px + 1,) * 2, np.uint8)
            near = cv2.dilate(warped, k)
            refined = (near & coloured).astype(np.uint8)
            if refined.sum() >= cfg.min_area_frac * self._area0:
                mask = refined
        area = int(mask.sum())
        lost = area < cfg.min_area_frac * self._area0 or (
            not flow_ok and colour_frac < cfg.min_color_frac
        )
        self._prev_gray = gray
        if lost:
            found = self._redetect(coloured, prev_mask)
            if found is None:
                return lost_result((h, w), score=colour_frac)
            mask, colour_frac = found, 1.0
        self._mask = mask.astype(np.uint8)
        return TrackResult(self._mask.copy(), lost=False, score=colour_frac)

    def _redetect(self, coloured: np.ndarray, last: np.ndarray) -> np.ndarray | None:
        """After an occlusion: the target-coloured blob of a plausible size nearest to the
        last known mask, within ``search_radius`` object sizes; ``None`` when there is none."""
        cv2, cfg = self.cv2, self.config
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(
            coloured.astype(np.uint8), connectivity=8
        )
        ys, xs = np.nonzero(last)
        if n <= 1 or len(xs) == 0:
            return None
        c0 = np.array([xs.mean(), ys.mean()])
        size = max(np.ptp(xs) + 1, np.ptp(ys) + 1)
        best, best_d = None, cfg.search_radius * size
        lo, hi = cfg.redetect_area
        for k in range(1, n):
            area = stats[k, cv2.CC_STAT_AREA]
            if not lo * self._area0 <= area <= hi * self._area0:
                continue
            d = float(np.linalg.norm(centroids[k] - c0))
            if d < best_d:
                best, best_d = k, d
        return None if best is None else (labels == best).astype(np.uint8)
