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


# ---- target anchor (``action_anchor="mask"``) ---------------------------------------------------
# A palm-space policy can predict palm positions relative to where the target is, read off the
# mask of the episode's first observation (before the hand can occlude it): a quadratic map of
# the mask geometry to a point in the world frame, fitted once for the fixed head camera
# (``fit_anchor_calibration``, stored with the checkpoint as ``anchor_calib``). The diffusion
# head then predicts offsets from the target instead of reading its absolute place through the
# network.
ANCHOR_GEOMETRY = "observation.anchor_geometry"  # (B, 8) mask geometry the anchor is read from
ANCHOR_FEATURES = 1 + 7 + 28  # constant, the 7 geometry values, their pairwise products


def anchor_features(geometry: torch.Tensor) -> torch.Tensor:
    """(B, 8) ``mask_geometry`` -> (B, 36) quadratic features; an empty mask gives only the
    constant, so its anchor is the calibration's intercept."""
    g = geometry[:, 1:].float() * geometry[:, :1].float()  # zeros when no mask
    i, j = torch.triu_indices(7, 7)
    return torch.cat([torch.ones_like(g[:, :1]), g, g[:, i] * g[:, j]], dim=1)


def anchor_position(geometry: torch.Tensor, calib: torch.Tensor) -> torch.Tensor:
    """(B, 8) mask geometry and (36, 3) calibration -> (B, 3) anchor, world frame (metres)."""
    return anchor_features(geometry) @ calib.float()


def batch_anchor(batch: dict, calib: torch.Tensor) -> torch.Tensor:
    """(B, 3) anchor of a batch: from its ``ANCHOR_GEOMETRY`` if given, else its own mask."""
    from dexgrasp.constants import OBS_MASK

    geo = batch.get(ANCHOR_GEOMETRY)
    geo = mask_geometry(batch[OBS_MASK].to(calib.device)) if geo is None else geo
    return anchor_position(geo.to(calib.device), calib)


def shift_positions(x: torch.Tensor, anchor: torch.Tensor | None, sign: int) -> torch.Tensor:
    """Add ``sign`` x ``anchor`` (B, 3) to the palm positions (first 3 values) of (B, ..., A')
    model-space values; ``None`` leaves them as they are."""
    if anchor is None:
        return x
    anchor = anchor.to(x).view(anchor.shape[0], *([1] * (x.ndim - 2)), 3)
    return torch.cat([x[..., :3] + sign * anchor, x[..., 3:]], dim=-1)


def fit_anchor_calibration(
    image_size: tuple[int, int], scenes: int = 300, seed: int = 3_000_000, ridge: float = 1e-6
) -> tuple[torch.Tensor, dict[str, float]]:
    """Fit the head camera's mask-geometry -> target-position map on ``scenes`` simulated
    tabletop scenes (training objects, scene seeds from ``seed``; the target's body position
    is the label), by ridge least squares. Returns the (36, 3) calibration and its fit on
    the last fifth of the scenes, held out: median and 90th-percentile xy error (metres)."""
    import gymnasium as gym
    import numpy as np

    import dexgrasp.sim  # noqa: F401  (registers the env)
    from dexgrasp.constants import OBS_MASK

    if scenes < 50:
        raise ValueError(f"scenes={scenes}: the anchor calibration needs at least 50")
    env = gym.make("dexgrasp/TabletopGrasp-v0", split="train", image_size=image_size)
    feats, targets = [], []
    try:
        for s in range(seed, seed + scenes):
            obs, _ = env.reset(seed=s, options={"scene_seed": s})
            u = env.unwrapped
            geo = mask_geometry(torch.as_tensor(obs[OBS_MASK])[None])
            feats.append(anchor_features(geo)[0].double())
            targets.append(torch.as_tensor(u.data.xpos[u.target_body_id]).double())
    finally:
        env.close()
    x, y = torch.stack(feats), torch.stack(targets)
    n_fit = scenes - scenes // 5

    def solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(a.shape[1], dtype=a.dtype)
        return torch.linalg.solve(a.T @ a + ridge * len(a) * eye, a.T @ b)

    held = (x[n_fit:] @ solve(x[:n_fit], y[:n_fit]) - y[n_fit:])[:, :2].norm(dim=1).numpy()
    fit = {"median_xy_m": float(np.median(held)), "p90_xy_m": float(np.percentile(held, 90))}
    return solve(x, y).float(), fit
