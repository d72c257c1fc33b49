"""save_pretrained / from_pretrained, statistics checks, DINOv2 loading from a local dir."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from dexgrasp.vla.controller.checkpoint import CheckpointError
from dexgrasp.vla.controller.configuration import EncoderConfig
from dexgrasp.vla.controller.encoders import EncoderWeightsError
from dexgrasp.vla.controller.modeling import DexGraspVLAController
from dexgrasp.vla.controller.normalize import Normalizer

from .conftest import tiny_config
from .test_model import make_batch, make_policy


def _chunk(policy, batch):
    return policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(7))


def test_round_trip_gives_identical_actions(tmp_path):
    policy = make_policy().eval()
    batch = make_batch(2)
    policy.save_pretrained(tmp_path / "ckpt")
    loaded = DexGraspVLAController.from_pretrained(tmp_path / "ckpt")
    assert torch.equal(_chunk(policy, batch), _chunk(loaded, batch))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json", "model.safetensors", "normalization.json",
    ]  # fmt: skip


def test_checkpoint_without_statistics_is_refused(tmp_path):
    make_policy().save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "normalization.json").unlink()
    with pytest.raises(
        CheckpointError, match=r"no normalisation statistics \(normalization.json\)"
    ):
        DexGraspVLAController.from_pretrained(tmp_path / "ckpt")


def test_mismatched_statistics_are_refused(tmp_path):
    make_policy().save_pretrained(tmp_path / "ckpt")
    other = Normalizer.from_arrays(torch.randn(30, 13).numpy(), torch.randn(30, 13).numpy())
    other.save(tmp_path / "ckpt" / "normalization.json")
    with pytest.raises(CheckpointError, match="does not match the statistics"):
        DexGraspVLAController.from_pretrained(tmp_path / "ckpt")


def test_weights_not_matching_config_are_refused(tmp_path):
    make_policy().save_pretrained(tmp_path / "ckpt")
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    cfg["dit_layers"] = 3
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="missing"):
        DexGraspVLAController.from_pretrained(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="not a directory"):
        DexGraspVLAController.from_pretrained(tmp_path / "nowhere")


@pytest.fixture
def tiny_dinov2_dir(tmp_path):
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, image_size=28, patch_size=14)  # fmt: skip
    path = tmp_path / "dinov2-tiny"
    Dinov2Model(cfg).save_pretrained(path)
    return path


def _dino_config(path):
    enc = EncoderConfig(kind="dinov2", pretrained=str(path), feature_dim=32, patch_size=14)
    return tiny_config(image_size=28, head_encoder=enc, wrist_encoder=EncoderConfig(**vars(enc)))


def test_dinov2_from_local_dir_is_frozen_and_not_stored(tmp_path, tiny_dinov2_dir):
    cfg = _dino_config(tiny_dinov2_dir)
    norm = make_policy().normalizer
    policy = DexGraspVLAController(cfg, norm).eval()
    assert not any(p.requires_grad for p in policy.head_encoder.parameters())
    batch = make_batch(2)
    assert policy.encode_observation(batch).shape == (2, 4 + 4 + 1, 32)
    policy.train()
    assert not policy.head_encoder.model.training  # frozen encoder stays in eval mode
    loss, _ = policy(batch)
    loss.backward()
    policy.eval()
    policy.save_pretrained(tmp_path / "ckpt")
    with safe_open(str(tmp_path / "ckpt" / "model.safetensors"), framework="pt") as f:
        assert not [k for k in f.keys() if "encoder" in k]  # noqa: SIM118
    loaded = DexGraspVLAController.from_pretrained(tmp_path / "ckpt")
    assert torch.equal(_chunk(policy, batch), _chunk(loaded, batch))


def test_missing_dinov2_weights_say_how_to_supply_them(tmp_path, tiny_dinov2_dir):
    cfg = _dino_config(tmp_path / "not-downloaded")
    with pytest.raises(EncoderWeightsError, match="huggingface-cli download"):
        DexGraspVLAController(cfg)
    policy = DexGraspVLAController(_dino_config(tiny_dinov2_dir), make_policy().normalizer)
    policy.save_pretrained(tmp_path / "ckpt")
    moved = tmp_path / "moved"
    tiny_dinov2_dir.rename(moved)
    with pytest.raises(EncoderWeightsError, match="--head-encoder"):
        DexGraspVLAController.from_pretrained(tmp_path / "ckpt")
    loaded = DexGraspVLAController.from_pretrained(
        tmp_path / "ckpt", encoder_paths={"head": str(moved), "wrist": str(moved)}
    )
    assert loaded.config.head_encoder.pretrained == str(moved)


def test_dinov2_feature_dim_mismatch_is_refused(tiny_dinov2_dir):
    enc = EncoderConfig(
        kind="dinov2", pretrained=str(tiny_dinov2_dir), feature_dim=768, patch_size=14
    )
    with pytest.raises(EncoderWeightsError, match="hidden_size=32"):
        DexGraspVLAController(tiny_config(image_size=28, head_encoder=enc, wrist_encoder=enc))


def test_export_stores_half_precision_weights_that_act_like_the_original(tmp_path):
    """`dexgrasp export controller --dtype float16` halves the weights file; the loaded model
    runs in fp32 and its actions stay within fp16 rounding of the original's."""
    from dexgrasp.cli import main

    policy = make_policy().eval()
    batch = make_batch(2)
    policy.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "provenance.json").write_text('{"command": "x"}\n')
    assert main(["export", "controller", "--ckpt", str(tmp_path / "ckpt"),
                 "--out", str(tmp_path / "half")]) == 0  # fmt: skip
    with safe_open(str(tmp_path / "half" / "model.safetensors"), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    full = (tmp_path / "ckpt" / "model.safetensors").stat().st_size
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 0.6 * full
    assert (tmp_path / "half" / "provenance.json").is_file()
    loaded = DexGraspVLAController.from_pretrained(tmp_path / "half")
    assert next(loaded.parameters()).dtype == torch.float32
    a, b = _chunk(policy, batch), _chunk(loaded, batch)
    assert not torch.equal(a, b)
    torch.testing.assert_close(a, b, atol=2e-2, rtol=0)
    assert main(["export", "controller", "--ckpt", str(tmp_path / "ckpt"),
                 "--out", str(tmp_path / "ckpt")]) == 2  # fmt: skip
