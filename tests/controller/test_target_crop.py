"""Target crop (ControllerConfig.target_crop): a high-resolution crop around the target mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK
from dexgrasp.vla.controller.configuration import ConfigError
from dexgrasp.vla.controller.modeling import FEAT_HEAD, DexGraspVLAController, crop_target

from .conftest import tiny_config
from .test_model import make_batch, make_policy


def test_crop_is_centred_on_the_mask_box():
    img = torch.zeros(2, 3, 64, 64)
    img[:, 0, 40:48, 8:16] = 1.0  # a red 8 x 8 square, rows 40-47, columns 8-15
    mask = torch.zeros(2, 64, 64)
    mask[0, 40:48, 8:16] = 1  # sample 0: the mask covers it; sample 1: empty mask
    crop = crop_target(img, mask, 16, context=2.0, min_side=0.05)
    assert crop.shape == (2, 4, 16, 16)
    # the box fills the middle half of the crop (context 2), red and masked there, black outside
    assert crop[0, 0, 5:11, 5:11].min() > 0.99 and crop[0, 3, 5:11, 5:11].min() > 0.99
    assert crop[0, 0, :2].max() < 0.01 and crop[0, 3, :, :2].max() < 0.01
    # empty mask: the whole image, as a plain resize would give it
    whole = F.interpolate(img[1:], size=16, mode="bilinear", align_corners=True)
    assert torch.allclose(crop[1, :3], whole[0], atol=0.15) and crop[1, 3].max() == 0
    # the minimum side wins over a tiny box: the crop is then wider than context x box
    wide = crop_target(img[:1], mask[:1], 16, context=2.0, min_side=1.0)
    assert wide[0, 0].mean() < crop[0, 0].mean()


def test_policy_with_target_crop_trains_and_predicts():
    torch.manual_seed(0)
    policy = make_policy(target_crop=16)
    cfg = policy.config
    assert cfg.n_crop_tokens == 4 and cfg.n_obs_tokens == 16 + 16 + 4 + 1
    batch = make_batch(2)
    loss, _ = policy(batch)
    loss.backward()
    assert policy.crop_encoder.stem[0].weight.grad.abs().sum() > 0
    policy.eval()
    obs = {k: v for k, v in batch.items() if k != ACTION}
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    chunk = policy.predict_action_chunk(obs, generator=gen())
    assert chunk.shape == (2, 16, 13)
    # the crop sees pixels under the mask that the 32 px head view sees too: changing them
    # changes the chunk; with cached head features and no image the crop cannot be made
    changed = dict(obs)
    changed[OBS_HEAD] = obs[OBS_HEAD].clone()
    changed[OBS_HEAD][obs[OBS_MASK] > 0] = 0
    assert not torch.allclose(policy.predict_action_chunk(changed, generator=gen()), chunk)
    with pytest.raises(ValueError, match="target_crop needs the head image"):
        cached = {k: v for k, v in obs.items() if k != OBS_HEAD}
        policy.encode_observation({**cached, FEAT_HEAD: torch.zeros(2, 16, 32)})


def test_target_crop_round_trips_and_validates(tmp_path):
    policy = make_policy(target_crop=16).eval()
    policy.save_pretrained(tmp_path / "ckpt")
    loaded = DexGraspVLAController.from_pretrained(tmp_path / "ckpt").eval()
    obs = {k: v for k, v in make_batch(1).items() if k != ACTION}
    a = policy.predict_action_chunk(obs, generator=torch.Generator().manual_seed(0))
    b = loaded.predict_action_chunk(obs, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="target_crop=12"):
        tiny_config(target_crop=12)
    with pytest.raises(ConfigError, match="target_crop_context"):
        tiny_config(target_crop=16, target_crop_context=0.5)
