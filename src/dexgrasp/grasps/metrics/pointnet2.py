"""A PointNet++ (single-scale grouping) point-cloud classifier in pure PyTorch.

Used as the feature network of P-FID. The layer names mirror the widely used PyTorch
PointNet++ classifier (``sa1..sa3`` set-abstraction levels with ``mlp_convs``/``mlp_bns``,
then ``fc1/bn1``, ``fc2/bn2``, ``fc3``), so a state dict of that layout (for example the
ModelNet40 classifier used by point-e and the DexGYS P-FID script, ``width_mult=2``,
40 classes) loads directly. The feature of a cloud is the ``bn2`` output, (B, 256 * width).

Shapes: B clouds, N points, xyz (B, N, 3) in a unit ball (see ``normalize_clouds``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class PointNet2Config:
    num_classes: int = 40
    width_mult: int = 1
    # (centres, radius, neighbours) of the two local set-abstraction levels.
    npoint: tuple[int, int] = (512, 128)
    radius: tuple[float, float] = (0.2, 0.4)
    nsample: tuple[int, int] = (32, 64)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.width_mult < 1:
            raise ValueError(f"width_mult must be >= 1, got {self.width_mult}")
        for name in ("npoint", "radius", "nsample"):
            value = tuple(getattr(self, name))
            if len(value) != 2 or min(value) <= 0:
                raise ValueError(f"{name} must be two positive numbers, got {value}")
            setattr(self, name, value)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def feature_dim(self) -> int:
        return 256 * self.width_mult


def normalize_clouds(xyz: torch.Tensor) -> torch.Tensor:
    """Centre each cloud and scale it into the unit ball: (B, N, 3) -> (B, N, 3)."""
    xyz = xyz - xyz.mean(dim=1, keepdim=True)
    scale = xyz.norm(dim=-1).amax(dim=1).clamp_min(1e-9)
    return xyz / scale[:, None, None]


def farthest_point_sample(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """Deterministic farthest point sampling (starts at point 0): (B, N, 3) -> (B, m) indices."""
    b, n, _ = xyz.shape
    idx = torch.zeros(b, m, dtype=torch.long, device=xyz.device)
    dist = torch.full((b, n), float("inf"), device=xyz.device)
    far = torch.zeros(b, dtype=torch.long, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    for i in range(m):
        idx[:, i] = far
        d = ((xyz - xyz[rows, far][:, None]) ** 2).sum(-1)
        dist = torch.minimum(dist, d)
        far = dist.argmax(dim=1)
    return idx


def _gather(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """points (B, N, C), idx (B, ...) -> (B, ..., C)."""
    b = points.shape[0]
    flat = idx.reshape(b, -1)
    out = torch.gather(points, 1, flat[..., None].expand(-1, -1, points.shape[-1]))
    return out.reshape(*idx.shape, points.shape[-1])


def ball_query(xyz: torch.Tensor, centres: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """Up to k neighbours within radius of each centre (padded with the first hit): (B, S, k)."""
    n = xyz.shape[1]
    d2 = torch.cdist(centres, xyz) ** 2  # (B, S, N)
    order = torch.arange(n, device=xyz.device).expand_as(d2)
    cand = torch.where(d2 <= radius**2, order, torch.full_like(order, n))
    k = min(k, n)
    cand = torch.topk(cand, k, dim=-1, largest=False, sorted=True).values  # first k hits by index
    first = cand[..., :1].expand_as(cand)
    return torch.where(cand == n, first, cand)


class SetAbstraction(nn.Module):
    """Sample centres, group neighbours, shared MLP, max-pool. ``npoint=None`` groups all."""

    def __init__(self, npoint, radius, nsample, in_channel: int, mlp: list[int]) -> None:
        super().__init__()
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        self.mlp_convs = nn.ModuleList()
        self.mlp_bns = nn.ModuleList()
        last = in_channel
        for out in mlp:
            self.mlp_convs.append(nn.Conv2d(last, out, 1))
            self.mlp_bns.append(nn.BatchNorm2d(out))
            last = out

    def forward(self, xyz: torch.Tensor, feats: torch.Tensor | None):
        """xyz (B, N, 3), feats (B, N, D) or None -> centres (B, S, 3), feats (B, S, D')."""
        if self.npoint is None:
            centres = xyz.new_zeros(xyz.shape[0], 1, 3)
            grouped = xyz[:, None]  # (B, 1, N, 3), absolute coordinates
            gfeat = None if feats is None else feats[:, None]
        else:
            m = min(self.npoint, xyz.shape[1])
            centres = _gather(xyz, farthest_point_sample(xyz, m))
            nb = ball_query(xyz, centres, self.radius, self.nsample)
            grouped = _gather(xyz, nb) - centres[:, :, None]
            gfeat = None if feats is None else _gather(feats, nb)
        x = grouped if gfeat is None else torch.cat([grouped, gfeat], dim=-1)
        x = x.permute(0, 3, 2, 1)  # (B, C, k, S)
        for conv, bn in zip(self.mlp_convs, self.mlp_bns):
            x = F.relu(bn(conv(x)))
        return centres, x.amax(dim=2).transpose(1, 2)


class PointNet2Classifier(nn.Module):
    """PointNet++ SSG classifier; ``features(xyz)`` gives the P-FID feature (B, 256 * width)."""

    def __init__(self, config: PointNet2Config | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PointNet2Config()
        w = cfg.width_mult
        self.sa1 = SetAbstraction(cfg.npoint[0], cfg.radius[0], cfg.nsample[0], 3, [64 * w, 64 * w, 128 * w])  # fmt: skip
        self.sa2 = SetAbstraction(cfg.npoint[1], cfg.radius[1], cfg.nsample[1], 128 * w + 3, [128 * w, 128 * w, 256 * w])  # fmt: skip
        self.sa3 = SetAbstraction(None, None, None, 256 * w + 3, [256 * w, 512 * w, 1024 * w])
        self.fc1 = nn.Linear(1024 * w, 512 * w)
        self.bn1 = nn.BatchNorm1d(512 * w)
        self.drop1 = nn.Dropout(0.4)
        self.fc2 = nn.Linear(512 * w, 256 * w)
        self.bn2 = nn.BatchNorm1d(256 * w)
        self.drop2 = nn.Dropout(0.4)
        self.fc3 = nn.Linear(256 * w, cfg.num_classes)

    def _trunk(self, xyz: torch.Tensor) -> torch.Tensor:
        if xyz.ndim != 3 or xyz.shape[-1] != 3:
            raise ValueError(f"xyz must be (B, N, 3), got {tuple(xyz.shape)}")
        c1, f1 = self.sa1(xyz, None)
        c2, f2 = self.sa2(c1, f1)
        _, f3 = self.sa3(c2, f2)
        x = self.drop1(F.relu(self.bn1(self.fc1(f3[:, 0]))))
        return self.bn2(self.fc2(x))

    def features(self, xyz: torch.Tensor) -> torch.Tensor:
        """P-FID features: (B, N, 3) -> (B, 256 * width_mult)."""
        return self._trunk(xyz)

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        """Class logits: (B, N, 3) -> (B, num_classes)."""
        return self.fc3(self.drop2(F.relu(self._trunk(xyz))))
