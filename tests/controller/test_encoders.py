"""Image preprocessing (torch only) and the trainable encoders' token grids."""

from __future__ import annotations

import pytest
import torch

from dexgrasp.vla.controller.configuration import EncoderConfig
from dexgrasp.vla.controller.encoders import (
    ConvPatchEncoder,
    SmallViTEncoder,
    color_jitter,
    imagenet_normalize,
    images_to_float,
    resize,
)


def test_preprocessing_shapes_and_ranges():
    img = torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8)
    x = images_to_float(img)
    assert x.shape == (2, 3, 48, 64) and x.min() >= 0 and x.max() <= 1
    assert resize(x, 32).shape == (2, 3, 32, 32)
    gray = torch.full((1, 3, 8, 8), 0.5)
    y = imagenet_normalize(gray)
    assert torch.allclose(
        y[0, :, 0, 0],
        (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]),
    )
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        images_to_float(torch.zeros(2, 3, 8, 8))


def test_color_jitter_is_random_per_image_bounded_and_seedable():
    x = torch.rand(4, 3, 16, 16)
    a = color_jitter(x, 0.3, 0.3, 0.3, 0.05, generator=torch.Generator().manual_seed(0))
    b = color_jitter(x, 0.3, 0.3, 0.3, 0.05, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and not torch.allclose(a, x)
    assert torch.equal(color_jitter(x, 0, 0, 0, 0), x.clamp(0, 1))  # all strengths off
    # hue rotation alone keeps the luma (Y) channel
    h = color_jitter(x * 0.5 + 0.25, 0, 0, 0, 0.2, generator=torch.Generator().manual_seed(1))
    luma = lambda t: 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]  # noqa: E731
    assert torch.allclose(luma(h), luma(x * 0.5 + 0.25), atol=2e-2)


@pytest.mark.parametrize("patch", [8, 16, 32])
def test_conv_encoder_token_grid(patch):
    enc = ConvPatchEncoder(EncoderConfig(kind="conv", feature_dim=48, patch_size=patch))
    assert enc(torch.randn(2, 3, 64, 64)).shape == (2, (64 // patch) ** 2, 48)


def test_small_vit_encoder_token_grid():
    enc = SmallViTEncoder(
        EncoderConfig(kind="vit_small", feature_dim=32, patch_size=32, depth=1, num_heads=2), 224
    )
    assert enc(torch.randn(1, 3, 224, 224)).shape == (1, 49, 32)  # the paper's 7 x 7 grid
