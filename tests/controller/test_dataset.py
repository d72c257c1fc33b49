"""Training windows (both store layouts) and the frozen-encoder feature cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.vla.controller.dataset import ControllerDataset, FeatureCache, FeatureCacheError
from dexgrasp.vla.controller.modeling import DexGraspVLAController

from .conftest import IMG
from .test_checkpoint import _dino_config, tiny_dinov2_dir  # noqa: F401  (fixture)
from .test_model import make_policy


def test_windows_pad_with_the_last_action(tiny_store, episodes):
    ds = ControllerDataset(tiny_store, horizon=16)
    assert len(ds) == 20 + 14 + 18
    last = ds[20 + 13]  # the final frame of episode 1
    np.testing.assert_array_equal(last[ACTION].numpy(), np.repeat(episodes[1][ACTION][-1:], 16, 0))
    mid = ds[20 + 5]  # episode 1, t = 5: 9 real actions then 7 copies of the last one
    want = np.concatenate([episodes[1][ACTION][5:], np.repeat(episodes[1][ACTION][-1:], 7, 0)])
    np.testing.assert_array_equal(mid[ACTION].numpy(), want)
    np.testing.assert_array_equal(mid[OBS_STATE].numpy(), episodes[1][OBS_STATE][5])
    assert mid[OBS_HEAD].shape == (IMG, IMG, 3) and mid[OBS_MASK].shape == (IMG, IMG)
    assert mid[OBS_HEAD].dtype == torch.uint8


def test_episode_selection(tiny_store):
    ds = ControllerDataset(tiny_store, horizon=16, episodes=[2])
    assert len(ds) == 18 and int(ds.frames[0]) == 34


def test_authors_layout_gives_the_same_windows(tmp_path, tiny_store, episodes):
    from dexgrasp.data.legacy import write_legacy_store

    legacy = write_legacy_store(tmp_path / "authors.zarr", episodes, mask_scale=255)
    ours, theirs = ControllerDataset(tiny_store, 16), ControllerDataset(legacy, 16)
    assert len(ours) == len(theirs)
    for i in (0, 25, len(ours) - 1):
        for key in (ACTION, OBS_STATE, OBS_HEAD, OBS_WRIST, OBS_MASK):
            np.testing.assert_array_equal(ours[i][key].numpy(), theirs[i][key].numpy())


def test_feature_cache_views_and_validation(tmp_path, tiny_dinov2_dir):  # noqa: F811
    from dexgrasp.data.episodes import EpisodeWriter
    from dexgrasp.vla.controller.encoders import imagenet_normalize, images_to_float, resize

    rng = np.random.default_rng(0)
    store_path = tmp_path / "s.zarr"
    with EpisodeWriter(store_path) as w:
        for n in (6, 5):
            frames = {
                OBS_HEAD: rng.integers(0, 255, (n, 28, 28, 3), dtype=np.uint8),
                OBS_WRIST: rng.integers(0, 255, (n, 28, 28, 3), dtype=np.uint8),
                OBS_MASK: np.ones((n, 28, 28), np.uint8),
                OBS_STATE: rng.normal(size=(n, 13)).astype(np.float32),
                ACTION: rng.normal(size=(n, 13)).astype(np.float32),
            }
            w.add_episode(frames, {})
    cfg = _dino_config(tiny_dinov2_dir)
    policy = DexGraspVLAController(cfg, make_policy().normalizer).eval()
    cache = FeatureCache.build(
        tmp_path / "cache", policy, store_path, n_views=3, batch_size=4, progress=False
    )
    assert cache.arrays["head"].shape == (11, 3, 4, 32)
    # view 0 is the un-augmented encoder output
    img = torch.from_numpy(np.asarray(policy_store_frame(store_path, OBS_HEAD, 7)))[None]
    with torch.inference_mode():
        ref = policy.head_encoder(imagenet_normalize(resize(images_to_float(img), 28)))[0]
    np.testing.assert_allclose(cache.get("head", 7, 0), ref.numpy(), atol=2e-2, rtol=1e-2)
    assert not np.allclose(cache.get("head", 7, 1), cache.get("head", 7, 0))
    # a dataset on the cache serves features instead of images; views vary with the epoch
    ds = ControllerDataset(
        store_path, 16, feature_cache=FeatureCache.open(tmp_path / "cache", cfg, store_path)
    )
    item = ds[3]
    assert "observation.features.head" in item and OBS_HEAD not in item
    seen = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        seen.add(ds[3]["observation.features.head"].numpy().tobytes())
    assert len(seen) > 1
    batch = {k: v[None] for k, v in item.items()}
    loss, _ = policy.train()(batch)
    assert torch.isfinite(loss)
    with pytest.raises(FeatureCacheError, match="n_views"):
        FeatureCache.open(tmp_path / "cache", cfg, store_path, n_views=5)
    (tmp_path / "cache" / "meta.json").write_text("{}")
    with pytest.raises(FeatureCacheError, match="incomplete"):
        FeatureCache.open(tmp_path / "cache", cfg, store_path)


def policy_store_frame(path, key, t):
    from dexgrasp.data.episodes import EpisodeStore

    return EpisodeStore(path).frame(key, t)


def test_training_with_the_feature_cache(tmp_path, tiny_dinov2_dir):  # noqa: F811
    from dexgrasp.data.episodes import EpisodeWriter
    from dexgrasp.vla.controller.configuration import TrainConfig
    from dexgrasp.vla.controller.train import train_controller

    rng = np.random.default_rng(1)
    store_path = tmp_path / "s.zarr"
    with EpisodeWriter(store_path) as w:
        frames = {
            OBS_HEAD: rng.integers(0, 255, (12, 28, 28, 3), dtype=np.uint8),
            OBS_WRIST: rng.integers(0, 255, (12, 28, 28, 3), dtype=np.uint8),
            OBS_MASK: np.ones((12, 28, 28), np.uint8),
            OBS_STATE: rng.normal(size=(12, 13)).astype(np.float32),
            ACTION: rng.normal(size=(12, 13)).astype(np.float32),
        }
        w.add_episode(frames, {})
    tc = TrainConfig(batch_size=4, max_steps=2, warmup_steps=1, log_every=1, feature_cache_views=2)
    out = train_controller(
        store_path, tmp_path / "run", _dino_config(tiny_dinov2_dir), tc, progress=False
    )
    assert (
        FeatureCache.open(out / "feature_cache", _dino_config(tiny_dinov2_dir), store_path).n_views
        == 2
    )
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2
    DexGraspVLAController.from_pretrained(out)
