"""Configuration presets, validation and the paper-scale parameter count."""

from __future__ import annotations

import pytest
import torch

from dexgrasp.vla.controller.configuration import ConfigError, ControllerConfig, TrainConfig


def test_presets_build_and_derived_sizes():
    paper = ControllerConfig.preset("paper")
    assert paper.n_head_tokens == paper.n_wrist_tokens == 1369
    assert paper.n_obs_tokens == 2739 and paper.n_cond_tokens == 2740
    assert (paper.horizon, paper.n_action_steps, paper.num_inference_steps) == (64, 6, 16)
    small = ControllerConfig.preset("small")
    assert small.image_size == 112 and small.head_encoder.kind == "conv"
    assert small.prediction_type == "sample" and TrainConfig.preset("small").ema


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"hidden_dim": 100, "dit_heads": 8}, "dit_heads"),
        ({"n_action_steps": 80}, "n_action_steps"),
        ({"num_inference_steps": 60}, "num_inference_steps"),
        ({"beta_schedule": "cosine"}, "beta_schedule"),
        ({"norm_mode": "mean_std"}, "clip_sample"),
        ({"jitter_hue": 0.9}, "jitter_hue"),
        ({"head_encoder": {"kind": "resnet"}}, "head_encoder.kind"),
        ({"head_encoder": {"kind": "dinov2", "patch_size": 14}}, "head_encoder.pretrained"),
        ({"image_size": 225}, "patch_size"),
    ],
)
def test_bad_fields_are_named(overrides, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        ControllerConfig.preset("small", **overrides)


def test_config_json_round_trip(tmp_path):
    cfg = ControllerConfig.preset("paper", dit_layers=3)
    cfg.save(tmp_path / "c.json")
    assert ControllerConfig.load(tmp_path / "c.json") == cfg
    (tmp_path / "bad.json").write_text('{"dit_layers": 2, "bogus": 1}')
    with pytest.raises(ConfigError, match="bogus"):
        ControllerConfig.load(tmp_path / "bad.json")


def test_train_config_validation():
    assert TrainConfig.preset("paper").betas == (0.95, 0.999)
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")


def test_paper_config_has_163m_trainable_parameters():
    """Built on the meta device with full-size (untrained) DINOv2 stand-ins: no memory, no weights."""
    from transformers import Dinov2Config, Dinov2Model

    from dexgrasp.vla.controller.encoders import DinoV2Encoder
    from dexgrasp.vla.controller.modeling import DexGraspVLAController

    cfg = ControllerConfig.preset("paper")
    with torch.device("meta"):
        base = Dinov2Model(
            Dinov2Config(
                hidden_size=768,
                num_hidden_layers=12,
                num_attention_heads=12,
                intermediate_size=3072,
                image_size=518,
                patch_size=14,
            )
        )
        large = Dinov2Model(
            Dinov2Config(
                hidden_size=1024,
                num_hidden_layers=24,
                num_attention_heads=16,
                intermediate_size=4096,
                image_size=518,
                patch_size=14,
            )
        )
        encoders = {
            "head": DinoV2Encoder(cfg.head_encoder, base),
            "wrist": DinoV2Encoder(cfg.wrist_encoder, large),
        }
        model = DexGraspVLAController(cfg, None, encoders=encoders)
    trainable = model.num_trainable_parameters()
    assert abs(trainable - 163e6) / 163e6 < 0.05, trainable
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert frozen > 300e6  # ViT-B + ViT-L stay frozen and uncounted
