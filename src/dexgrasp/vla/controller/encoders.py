"""Image encoders and image preprocessing (pure torch, no torchvision).

Every encoder maps normalised pixels ``(B, 3, S, S)`` to patch tokens ``(B, L, D)`` with
``L = (S // patch) ** 2`` in row-major grid order:

- :class:`DinoV2Encoder`: DINOv2 through ``transformers.Dinov2Model`` (hub id or local dir),
  last-layer patch tokens (class token dropped). Frozen in the paper; trainable for the
  "DINOv2-train" baseline.
- :class:`SmallViTEncoder`: the small trainable ViT baseline (224 px, 32 px patches, width 384).
- :class:`ConvPatchEncoder`: a weights-free trainable conv encoder, the offline default.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from dexgrasp.vla.controller.configuration import EncoderConfig
from dexgrasp.vla.controller.mask_vit import PatchViT

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EncoderWeightsError(RuntimeError):
    """Pretrained encoder weights could not be loaded; the message says how to supply them."""


# ---- preprocessing ----------------------------------------------------------------------------
def images_to_float(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 (or float in [0, 1]) -> (B, 3, H, W) float32 in [0, 1]."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (B, H, W, 3), got {tuple(images.shape)}")
    x = images.permute(0, 3, 1, 2)
    return x.float() / 255.0 if images.dtype == torch.uint8 else x.float()


def resize(x: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size); antialiased when shrinking."""
    if x.shape[-2:] == (size, size):
        return x
    if mode == "nearest":
        return F.interpolate(x, size=(size, size), mode="nearest")
    shrink = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x, size=(size, size), mode=mode, align_corners=False, antialias=shrink)


_IMAGENET_STATS: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> ImageNet-normalised. The constants are made once per device
    and dtype (no host-to-device copy per call, so a CUDA graph can record this)."""
    key = (x.device, x.dtype)
    if key not in _IMAGENET_STATS:
        _IMAGENET_STATS[key] = (
            x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
            x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1),
        )
    mean, std = _IMAGENET_STATS[key]
    return (x - mean) / std


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


def color_jitter(
    x: torch.Tensor,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random per-image colour jitter of (B, 3, H, W) in [0, 1] (domain randomisation).

    Brightness, contrast and saturation factors are drawn from ``[1 - s, 1 + s]``; hue is
    rotated by up to ``hue`` turns in YIQ space (a cheap stand-in for an HSV hue shift).
    """
    b = x.shape[0]

    def factor(strength: float) -> torch.Tensor:
        u = torch.rand(b, 1, 1, 1, generator=generator, device="cpu").to(x)
        return 1.0 + (2.0 * u - 1.0) * strength

    if brightness > 0:
        x = x * factor(brightness)
    if contrast > 0:
        mean = _grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factor(contrast) + mean
    if saturation > 0:
        gray = _grayscale(x)
        x = (x - gray) * factor(saturation) + gray
    if hue > 0:
        angle = (torch.rand(b, generator=generator, device="cpu").to(x) * 2 - 1) * hue * 2 * math.pi
        to_yiq = x.new_tensor(
            [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]]
        )
        yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)
        cos, sin = angle.cos().view(b, 1, 1), angle.sin().view(b, 1, 1)
        i, q = yiq[:, 1], yiq[:, 2]
        yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
        x = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), yiq)
    return x.clamp(0.0, 1.0)


# ---- encoders -----------------------------------------------------------------------------------
class ImageEncoder(nn.Module):
    """Base: ``forward(pixels (B, 3, S, S) normalised) -> (B, L, feature_dim)``."""

    feature_dim: int
    frozen: bool = False


def load_dinov2(pretrained: str) -> nn.Module:
    """Load ``transformers.Dinov2Model`` from a hub id or a local directory, or fail helpfully."""
    try:
        from transformers import Dinov2Model
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("DINOv2 encoders need transformers: pip install 'dexgrasp[hf]'") from err
    try:
        return Dinov2Model.from_pretrained(pretrained)
    except (OSError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
        raise EncoderWeightsError(
            f"cannot load DINOv2 weights from {pretrained!r} ({type(err).__name__}: {err}).\n"
            "Supply them one of two ways:\n"
            f"  - a local directory: on a machine with network run\n"
            f"      huggingface-cli download {pretrained} --local-dir DIR\n"
            "    copy DIR here and pass it as the encoder's `pretrained` path "
            "(config.json or --head-encoder/--wrist-encoder);\n"
            "  - a hub id with network access (unset HF_HUB_OFFLINE"
            + (", which is set now" if offline else "")
            + ").\n"
            "Or train without foundation weights with the weights-free preset: --config small."
        ) from err


class DinoV2Encoder(ImageEncoder):
    """DINOv2 last-layer patch tokens: (B, 3, S, S) -> (B, (S/14)^2, hidden)."""

    def __init__(self, cfg: EncoderConfig, model: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model if model is not None else load_dinov2(str(cfg.pretrained))
        mcfg = self.model.config
        if mcfg.hidden_size != cfg.feature_dim:
            raise EncoderWeightsError(
                f"DINOv2 at {cfg.pretrained!r} has hidden_size={mcfg.hidden_size} but the "
                f"config says feature_dim={cfg.feature_dim}"
            )
        if mcfg.patch_size != cfg.patch_size:
            raise EncoderWeightsError(
                f"DINOv2 at {cfg.pretrained!r} has patch_size={mcfg.patch_size}, "
                f"config says {cfg.patch_size}"
            )
        self.feature_dim = cfg.feature_dim
        self.frozen = cfg.frozen
        self.n_registers = int(getattr(mcfg, "num_register_tokens", 0) or 0)
        if self.frozen:
            self.model.requires_grad_(False)
            self.model.eval()

    def train(self, mode: bool = True) -> DinoV2Encoder:
        super().train(mode)
        if self.frozen:
            self.model.eval()  # frozen features never see dropout or train-mode behaviour
        return self

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.model(pixel_values=pixels).last_hidden_state
        return out[:, 1 + self.n_registers :]


class SmallViTEncoder(ImageEncoder):
    """Small trainable ViT (baseline "ViT-small"): 224 px, 32 px patches -> 49 x 384 tokens."""

    def __init__(self, cfg: EncoderConfig, image_size: int) -> None:
        super().__init__()
        self.vit = PatchViT(
            3, image_size, cfg.patch_size, cfg.feature_dim, cfg.depth, cfg.num_heads
        )
        self.feature_dim = cfg.feature_dim

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.vit(pixels)


class _ConvStage(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        groups = math.gcd(8, cout)
        self.down = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GroupNorm(groups, cout), nn.GELU()
        )
        self.res = nn.Sequential(
            nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(groups, cout), nn.GELU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return x + self.res(x)


class ConvPatchEncoder(ImageEncoder):
    """Weights-free trainable conv encoder: a 4x4/4 patchify stem, then stride-2 residual
    stages down to one token per ``patch_size`` pixels (cheap enough to train on a CPU)."""

    def __init__(self, cfg: EncoderConfig, in_channels: int = 3) -> None:
        super().__init__()
        n_stages = int(math.log2(cfg.patch_size)) - 2
        widths = [max(cfg.feature_dim >> (n_stages - i), 16) for i in range(n_stages + 1)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 4, stride=4), nn.GroupNorm(math.gcd(8, widths[0]), widths[0]),
            nn.GELU(),
        )  # fmt: skip
        self.stages = nn.Sequential(*(_ConvStage(a, b) for a, b in zip(widths, widths[1:])))
        self.proj = nn.Conv2d(widths[-1], cfg.feature_dim, 1)
        self.feature_dim = cfg.feature_dim

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stages(self.stem(pixels))).flatten(2).transpose(1, 2)


def build_encoder(cfg: EncoderConfig, image_size: int) -> ImageEncoder:
    """Encoder for one camera from its config (loads DINOv2 weights for the dinov2 kinds)."""
    if cfg.kind in ("dinov2", "dinov2_trainable"):
        return DinoV2Encoder(cfg)
    if cfg.kind == "vit_small":
        return SmallViTEncoder(cfg, image_size)
    if cfg.kind == "conv":
        return ConvPatchEncoder(cfg)
    raise ValueError(f"unknown encoder kind {cfg.kind!r}")
