"""Point-cloud encoders for DextER: object points (B, N, 3) -> M feature tokens (B, M, d).

The default :class:`GroupedPointEncoder` is trainable and pure PyTorch (no CUDA extensions):
farthest-point sampling picks M group centres, k nearest neighbours form each group, a
mini-PointNet embeds the centred group, and transformer layers mix the M tokens (with a learned
embedding of each centre's position). The paper's pretrained PartField / Uni3D encoders plug in
through :class:`ExternalPointEncoder`, which wraps any module the user loads with those projects'
own code and weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


def farthest_point_sample(points: torch.Tensor, m: int, start: int = 0) -> torch.Tensor:
    """Farthest-point sampling.

    Args:
        points: (B, N, 3).
        m: number of samples (<= N).
        start: index of the first sample.

    Returns:
        (B, m) long indices into N.
    """
    b, n, _ = points.shape
    if not 0 < m <= n:
        raise ValueError(f"farthest_point_sample: need 0 < m <= N, got m={m}, N={n}")
    idx = torch.empty(b, m, dtype=torch.long, device=points.device)
    dist = torch.full((b, n), float("inf"), device=points.device, dtype=points.dtype)
    cur = torch.full((b,), start, dtype=torch.long, device=points.device)
    batch = torch.arange(b, device=points.device)
    for i in range(m):
        idx[:, i] = cur
        d = ((points - points[batch, cur][:, None]) ** 2).sum(-1)  # (B, N)
        dist = torch.minimum(dist, d)
        cur = dist.argmax(-1)
    return idx


def knn(points: torch.Tensor, centres: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (B, M, k) of the k points nearest to each centre; points (B, N, 3), centres (B, M, 3)."""
    d = torch.cdist(centres, points)  # (B, M, N)
    return d.topk(k, dim=-1, largest=False).indices


def _gather(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """points (B, N, C), idx (B, ...) -> (B, ..., C)."""
    b = points.shape[0]
    flat = idx.reshape(b, -1)
    out = torch.gather(points, 1, flat[..., None].expand(-1, -1, points.shape[-1]))
    return out.reshape(*idx.shape, points.shape[-1])


@dataclass
class PointEncoderConfig:
    """Grouped-point tokenizer sizes.

    Attributes:
        num_points: points kept from the input cloud (random subset in training, first N at eval).
        num_groups: M, tokens produced.
        group_size: k, neighbours per group.
        dim: token width d.
        depth: transformer layers.
        heads: attention heads.
        scale: metres -> network units (object clouds are ~0.1 m across).
    """

    num_points: int = 2048
    num_groups: int = 64
    group_size: int = 32
    dim: int = 128
    depth: int = 2
    heads: int = 4
    scale: float = 10.0

    def __post_init__(self) -> None:
        for name in ("num_points", "num_groups", "group_size", "dim", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"PointEncoderConfig.{name} must be >= 1")
        if self.depth < 0:
            raise ValueError("PointEncoderConfig.depth must be >= 0")
        if self.num_groups > self.num_points:
            raise ValueError("PointEncoderConfig.num_groups must be <= num_points")
        if self.group_size > self.num_points:
            raise ValueError("PointEncoderConfig.group_size must be <= num_points")
        if self.dim % self.heads:
            raise ValueError("PointEncoderConfig.dim must be divisible by heads")


class MiniPointNet(nn.Module):
    """Per-group PointNet: (B, M, k, 3) centred points -> (B, M, d)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        h = max(dim // 2, 32)
        self.first = nn.Sequential(nn.Linear(3, h), nn.LayerNorm(h), nn.GELU(), nn.Linear(h, h))
        self.second = nn.Sequential(
            nn.Linear(2 * h, dim), nn.LayerNorm(dim), nn.GELU(), nn.Linear(dim, dim)
        )

    def forward(self, groups: torch.Tensor) -> torch.Tensor:
        f = self.first(groups)  # (B, M, k, h)
        g = f.max(dim=2, keepdim=True).values.expand_as(f)
        f = self.second(torch.cat([f, g], dim=-1))
        return f.max(dim=2).values


class GroupedPointEncoder(nn.Module):
    """Trainable FPS + kNN + mini-PointNet + transformer point tokenizer.

    forward(points (B, N, 3) metres) -> tokens (B, M, d).
    """

    def __init__(self, config: PointEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.out_dim = config.dim
        self.num_tokens = config.num_groups
        self.embed = MiniPointNet(config.dim)
        self.pos = nn.Sequential(
            nn.Linear(3, config.dim), nn.GELU(), nn.Linear(config.dim, config.dim)
        )
        layer = nn.TransformerEncoderLayer(
            config.dim,
            config.heads,
            dim_feedforward=4 * config.dim,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = (
            nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
            if config.depth
            else nn.Identity()
        )
        self.norm = nn.LayerNorm(config.dim)

    def group(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """points (B, N, 3) -> centres (B, M, 3), centred groups (B, M, k, 3); no gradients needed."""
        cfg = self.config
        if points.ndim != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must have shape (B, N, 3), got {tuple(points.shape)}")
        if points.shape[1] < cfg.num_points:
            raise ValueError(f"need at least {cfg.num_points} points, got {points.shape[1]}")
        with torch.no_grad():
            if points.shape[1] > cfg.num_points:
                if self.training:
                    sel = torch.rand(points.shape[:2], device=points.device).argsort(-1)
                    points = _gather(points, sel[:, : cfg.num_points])
                else:  # deterministic, evenly strided subset
                    step = points.shape[1] / cfg.num_points
                    sel = (torch.arange(cfg.num_points, device=points.device) * step).long()
                    points = points[:, sel]
            centres = _gather(points, farthest_point_sample(points, cfg.num_groups))
            groups = _gather(points, knn(points, centres, cfg.group_size)) - centres[:, :, None]
        return centres, groups

    def forward(
        self, points: torch.Tensor, return_centres: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, M, d); with ``return_centres`` also the group centres (B, M, 3) in metres."""
        centres, groups = self.group(points.float())
        s, dtype = (
            self.config.scale,
            self.pos[0].weight.dtype,
        )  # group in fp32, embed in model dtype
        x = self.embed((groups * s).to(dtype)) + self.pos((centres * s).to(dtype))
        tokens = self.norm(self.blocks(x))
        return (tokens, centres) if return_centres else tokens


class ExternalPointEncoder(nn.Module):
    """Adapter for pretrained encoders loaded with their own code (PartField, Uni3D, ...).

    Args:
        module: maps points (B, N, 3) -> features (B, M, d) (or a callable ``extract`` does).
        out_dim: d.
        num_tokens: M.
        extract: optional function ``(module, points) -> (B, M, d)`` when the module's own API
            differs (e.g. PartField returns triplanes: flatten the downsampled 3 x 16 x 16 planes
            to 768 tokens).
        freeze: keep the pretrained weights fixed (the projector and LLM still train).
    """

    def __init__(
        self,
        module: nn.Module,
        out_dim: int,
        num_tokens: int,
        extract: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
        freeze: bool = False,
    ) -> None:
        super().__init__()
        self.module = module
        self.out_dim = out_dim
        self.num_tokens = num_tokens
        self.extract = extract
        if freeze:
            for p in self.module.parameters():
                p.requires_grad_(False)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        out = self.extract(self.module, points) if self.extract else self.module(points)
        if out.ndim != 3 or out.shape[1:] != (self.num_tokens, self.out_dim):
            raise ValueError(
                f"external point encoder returned {tuple(out.shape)}, expected "
                f"(B, {self.num_tokens}, {self.out_dim})"
            )
        return out
