"""The planner's view of the workspace: the head image with everything outside the table
region painted white (paper App. A.1), so that the VLM only sees the operational area.

The image keeps its size, so boxes predicted on it are head-camera pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dexgrasp.vlm.types import check_image


@dataclass(frozen=True)
class WorkspaceRegion:
    """A polygon in normalised image coordinates ((x, y) in [0, 1], x right, y down).

    The default is the whole image (no masking). ``WorkspaceRegion.rect(x0, y0, x1, y1)``
    builds a rectangle; a simulator can project the table's corners for an exact polygon.
    """

    polygon: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))

    def __post_init__(self) -> None:
        pts = tuple((float(x), float(y)) for x, y in self.polygon)
        object.__setattr__(self, "polygon", pts)
        if len(pts) < 3:
            raise ValueError(f"WorkspaceRegion.polygon needs >= 3 points, got {len(pts)}")
        for x, y in pts:
            if not (np.isfinite(x) and np.isfinite(y)) or not (-1 <= x <= 2 and -1 <= y <= 2):
                raise ValueError(
                    f"WorkspaceRegion.polygon point {(x, y)} is not a normalised coordinate"
                )

    @classmethod
    def rect(cls, x0: float, y0: float, x1: float, y1: float) -> WorkspaceRegion:
        if not (x0 < x1 and y0 < y1):
            raise ValueError(
                f"WorkspaceRegion.rect needs x0 < x1 and y0 < y1, got {(x0, y0, x1, y1)}"
            )
        return cls(((x0, y0), (x1, y0), (x1, y1), (x0, y1)))

    @classmethod
    def from_pixels(
        cls, points: Sequence[tuple[float, float]], width: int, height: int
    ) -> WorkspaceRegion:
        return cls(tuple((x / width, y / height) for x, y in points))

    def mask(self, height: int, width: int) -> np.ndarray:
        """(H, W) bool, True inside the polygon (pixel centres, even-odd rule)."""
        ys, xs = np.mgrid[0:height, 0:width]
        px = (xs + 0.5) / width
        py = (ys + 0.5) / height
        inside = np.zeros((height, width), dtype=bool)
        pts = self.polygon
        for (xa, ya), (xb, yb) in zip(pts, pts[1:] + pts[:1]):
            if ya == yb:
                continue
            crosses = (ya > py) != (yb > py)
            x_at = xa + (py - ya) * (xb - xa) / (yb - ya)
            inside ^= crosses & (px < x_at)
        return inside


def crop_workspace(image: np.ndarray, region: WorkspaceRegion | None) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with pixels outside ``region`` set to white."""
    check_image(image)
    if region is None:
        return image.copy()
    out = image.copy()
    out[~region.mask(image.shape[0], image.shape[1])] = 255
    return out


def convex_hull(points: np.ndarray) -> np.ndarray:
    """(N, 2) points -> (K, 2) convex hull in counter-clockwise order (monotone chain)."""
    pts = sorted({(float(x), float(y)) for x, y in np.asarray(points, float)})
    if len(pts) <= 2:
        return np.asarray(pts)

    def cross(o, a, b):  # noqa: ANN001, ANN202
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1])
