"""A plain ViT over a patch grid: the randomly initialised mask encoder (paper Appendix A.1).

The same module also serves as the small trainable image ViT baseline (Appendix A.2).
"""

from __future__ import annotations

import torch
from torch import nn


class PatchViT(nn.Module):
    """Patchify an image, add learned position embeddings, run pre-norm transformer layers.

    Input ``(B, C, S, S)`` float; output ``(B, (S // patch) ** 2, dim)`` patch tokens
    (no class token), in row-major grid order like DINOv2's patch tokens.
    """

    def __init__(
        self,
        in_chans: int,
        image_size: int,
        patch_size: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"patch_size={patch_size} does not divide image_size={image_size}")
        self.image_size = image_size
        self.patch_size = patch_size
        self.n_tokens = (image_size // patch_size) ** 2
        self.dim = dim
        self.patch_embed = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.n_tokens, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=dim,
            nhead=heads,
            dim_feedforward=int(dim * mlp_ratio),
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, L, dim)."""
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"PatchViT expects {self.image_size}x{self.image_size} input, got {tuple(x.shape)}"
            )
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        return self.norm(self.blocks(tokens))


class MaskViT(PatchViT):
    """Mask encoder: ``(B, 1, S, S)`` mask in {0, 1} -> ``(B, L_head, dim)`` on the head grid."""

    def __init__(self, image_size: int, patch_size: int, dim: int, depth: int, heads: int) -> None:
        super().__init__(1, image_size, patch_size, dim, depth, heads)
