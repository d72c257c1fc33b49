"""What the controller reads off the target mask besides the mask ViT (not in the paper): its
geometry (``mask_geometry``) and a full-resolution crop of the head image around it
(``target_crop``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_GEOMETRY_DIM = 8


def mask_geometry(mask: torch.Tensor) -> torch.Tensor:
    """(B, H, W) mask -> (B, 8): present, sqrt(area fraction), centroid x, y and box x0, y0,
    x1, y1, coordinates in [-1, 1] (left/top = -1). An empty mask gives all zeros."""
    m = (mask > 0).float()
    h, w = m.shape[1:]
    xs = torch.linspace(-1, 1, w, device=m.device)
    ys = torch.linspace(-1, 1, h, device=m.device)
    col, row = m.amax(1), m.amax(2)  # (B, W), (B, H): which columns / rows hold the mask
    area = m.sum((1, 2))
    present = (area > 0).float()
    n = area.clamp_min(1.0)
    cx = (m.sum(1) * xs).sum(1) / n
    cy = (m.sum(2) * ys).sum(1) / n

    def lo_hi(occupied: torch.Tensor, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        big = torch.full_like(occupied, 2.0)
        lo = torch.where(occupied > 0, coords, big).amin(1)
        hi = torch.where(occupied > 0, coords, -big).amax(1)
        return lo * present, hi * present

    x0, x1 = lo_hi(col, xs)
    y0, y1 = lo_hi(row, ys)
    return torch.stack([present, (area / (h * w)).sqrt(), cx, cy, x0, y0, x1, y1], dim=1)


def crop_target(
    images: torch.Tensor,
    mask: torch.Tensor,
    size: int,
    context: float,
    min_side: float,
    geometry: torch.Tensor | None = None,
) -> torch.Tensor:
    """Square crops around the target: (B, 3, H, W) float images and (B, H', W') masks (any
    resolution; both are sampled in normalised image coordinates) -> (B, 4, size, size), RGB and
    the mask. Centred on the mask's box, side ``context`` x its longer side and at least
    ``min_side`` of the image; an empty mask gives the whole image. Outside the image is zero.
    ``geometry``: ``mask_geometry(mask)`` if already computed."""
    geo = mask_geometry(mask) if geometry is None else geometry
    present, (x0, y0, x1, y1) = geo[:, 0], geo[:, 4:].unbind(1)
    half = (torch.maximum(x1 - x0, y1 - y0) * context / 2).clamp_min(min_side)
    half = torch.where(present > 0, half, torch.ones_like(half))
    zero = torch.zeros_like(half)
    theta = torch.stack(
        [
            torch.stack([half, zero, (x0 + x1) / 2], 1),
            torch.stack([zero, half, (y0 + y1) / 2], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, [len(theta), 1, size, size], align_corners=True)
    crop = F.grid_sample(images, grid.to(images.dtype), align_corners=True)
    m = F.grid_sample(
        (mask[:, None] > 0).to(images.dtype), grid.to(images.dtype), align_corners=True
    )
    return torch.cat([crop, m], dim=1)
