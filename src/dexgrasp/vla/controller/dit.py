"""Diffusion Transformer action head with a condition key/value cache.

Each layer: bidirectional self-attention over the H action tokens, cross-attention to the
condition sequence (observation tokens + one diffusion-step token), and an MLP (pre-norm,
residual; after the DiT, diffusion policy and RDT designs). Output: predicted noise
``(B, H, action_dim)``.

Why a cache: the observation tokens do not change across the denoising steps of one chunk,
and every operation applied to them before attention is per-token, so each layer's
cross-attention keys and values of the observation tokens can be computed once per chunk.
Only the diffusion-step token (one row) is projected again at every step and written into
the last row of the cached buffers. The result equals the uncached path up to float rounding.

Shapes: B batch, H horizon (64), Lo observation tokens (2739 at paper scale),
Lc = Lo + 1 condition tokens, D hidden width, h heads, d = D / h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of diffusion steps: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedder(nn.Module):
    """Diffusion step -> one condition token (B, 1, D)."""

    def __init__(self, dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = timestep_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype)
        return self.mlp(emb)[:, None]


@dataclass
class LayerKV:
    """Cross-attention keys/values of one layer: (B, h, Lc, d), last row = step token."""

    k: torch.Tensor
    v: torch.Tensor


class CrossAttention(nn.Module):
    """Multi-head attention from queries (B, H, D) to a context (B, L, D)."""

    def __init__(self, dim: int, heads: int, attn_dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.attn_dropout = attn_dropout

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, dim = x.shape
        return x.view(b, n, self.heads, dim // self.heads).transpose(1, 2)

    def project_kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, D) -> keys, values (B, h, L, d)."""
        k, v = self.kv(context).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q = self.split(self.q(x))
        p = self.attn_dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        b, _, n, _ = o.shape
        return self.out(o.transpose(1, 2).reshape(b, n, -1))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.attend(x, *self.project_kv(context))


class DiTBlock(nn.Module):
    """Self-attention over actions, cross-attention to the condition, MLP; all pre-norm."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, attn_dropout: float, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = CrossAttention(dim, heads, attn_dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.norm_cond = nn.LayerNorm(dim)  # per token, so the cache stays exact
        self.cross_attn = CrossAttention(dim, heads, attn_dropout)
        self.norm3 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(approximate="tanh"),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
        )

    def cond_kv(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cross_attn.project_kv(self.norm_cond(cond))

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None, kv: LayerKV | None = None
    ) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.self_attn(h, h)
        h = self.norm2(x)
        if kv is not None:
            x = x + self.cross_attn.attend(h, kv.k, kv.v)
        else:
            assert cond is not None
            x = x + self.cross_attn.attend(h, *self.cond_kv(cond))
        return x + self.mlp(self.norm3(x))


class DiT(nn.Module):
    """Noise predictor eps(x_k, k, obs): (B, H, A), (B,), (B, Lo, D) -> (B, H, A)."""

    def __init__(
        self,
        action_dim: int,
        horizon: int,
        n_obs_tokens: int,
        dim: int,
        layers: int,
        heads: int,
        mlp_ratio: float = 1.0,
        attn_dropout: float = 0.1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.horizon = horizon
        self.n_obs_tokens = n_obs_tokens
        self.action_in = nn.Linear(action_dim, dim)
        self.x_pos = nn.Parameter(torch.zeros(1, horizon, dim))
        self.cond_pos = nn.Parameter(torch.zeros(1, n_obs_tokens + 1, dim))
        self.t_embed = TimestepEmbedder(dim)
        self.blocks = nn.ModuleList(
            DiTBlock(dim, heads, mlp_ratio, attn_dropout, dropout) for _ in range(layers)
        )
        self.norm_out = nn.LayerNorm(dim)
        self.action_out = nn.Linear(dim, action_dim)
        nn.init.trunc_normal_(self.x_pos, std=0.02)
        nn.init.trunc_normal_(self.cond_pos, std=0.02)

    # ---- condition ------------------------------------------------------------------------
    def _step_token(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        """(B,) or scalar diffusion steps -> (B, 1, D) step token with its position embedding."""
        t = t.reshape(-1).expand(batch) if t.numel() == 1 else t
        return self.t_embed(t) + self.cond_pos[:, -1:]

    def _condition(self, obs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(B, Lo, D), (B,) -> (B, Lc, D)."""
        obs = obs + self.cond_pos[:, :-1]
        return torch.cat([obs, self._step_token(t, obs.shape[0]).to(obs.dtype)], dim=1)

    def _check(self, x: torch.Tensor, obs: torch.Tensor | None) -> None:
        if x.shape[1] != self.horizon:
            raise ValueError(f"expected {self.horizon} action tokens, got shape {tuple(x.shape)}")
        if obs is not None and obs.shape[1] != self.n_obs_tokens:
            raise ValueError(
                f"expected {self.n_obs_tokens} observation tokens, got shape {tuple(obs.shape)}"
            )

    # ---- uncached path (training) ------------------------------------------------------------
    def forward(self, x: torch.Tensor, t: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Noise prediction; recomputes the condition's keys/values in every layer."""
        self._check(x, obs)
        cond = self._condition(obs, t)
        h = self.action_in(x) + self.x_pos
        for block in self.blocks:
            h = block(h, cond=cond)
        return self.action_out(self.norm_out(h))

    # ---- cached path (inference) -------------------------------------------------------------
    def build_cache(self, obs: torch.Tensor) -> list[LayerKV]:
        """Per-layer keys/values of the observation tokens, plus an empty step-token row."""
        obs = obs + self.cond_pos[:, :-1]
        cache = []
        for block in self.blocks:
            k, v = block.cond_kv(obs)
            pad = (0, 0, 0, 1)  # one extra row per head for the step token
            cache.append(LayerKV(F.pad(k, pad), F.pad(v, pad)))
        return cache

    def forward_cached(
        self, x: torch.Tensor, t: torch.Tensor, cache: list[LayerKV]
    ) -> torch.Tensor:
        """Same as :meth:`forward`, reusing :meth:`build_cache`'s keys/values."""
        self._check(x, None)
        step = self._step_token(t, x.shape[0])
        h = self.action_in(x) + self.x_pos
        for block, kv in zip(self.blocks, cache, strict=True):
            k_t, v_t = block.cond_kv(step.to(kv.k.dtype))
            kv.k[:, :, -1:] = k_t  # overwrite the step-token row in place
            kv.v[:, :, -1:] = v_t
            h = block(h, kv=kv)
        return self.action_out(self.norm_out(h))
