"""Normalisation statistics: streaming fit, modes, save/load round trip, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

from dexgrasp.constants import ACTION, OBS_STATE
from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter
from dexgrasp.data.normalize import NormalizationError, NormalizationStats


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    with EpisodeWriter(tmp_path / "s.zarr") as w:
        for i in range(5):
            t = 30 + 7 * i
            state = rng.normal(size=(t, 13)).astype(np.float32) * np.arange(1, 14) + 3
            state[:, 4] = 0.25  # a constant joint: zero range
            action = rng.uniform(-2, 5, size=(t, 13)).astype(np.float32)
            w.add_episode(
                {OBS_STATE: state, ACTION: action}, {"split": "val" if i == 4 else "train"}
            )
    return EpisodeStore(tmp_path / "s.zarr")


def _all(store, key, episodes=None):
    ids = range(len(store)) if episodes is None else episodes
    return np.concatenate([store.episode(i)[key] for i in ids]).astype(np.float64)


@pytest.mark.parametrize("chunk_frames", [7, 65536])
def test_fit_matches_numpy(store, chunk_frames):
    stats = NormalizationStats.fit(store, chunk_frames=chunk_frames)
    for key in (OBS_STATE, ACTION):
        x = _all(store, key)
        s = stats.stats[key]
        np.testing.assert_allclose(s["min"], x.min(0), rtol=1e-6)
        np.testing.assert_allclose(s["max"], x.max(0), rtol=1e-6)
        np.testing.assert_allclose(s["mean"], x.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s["std"], x.std(0), rtol=1e-5, atol=1e-6)
        tol = (x.max(0) - x.min(0)) / 2**15 + 1e-6
        assert np.all(np.abs(s["q01"] - np.quantile(x, 0.01, axis=0)) <= tol)
        assert np.all(np.abs(s["q99"] - np.quantile(x, 0.99, axis=0)) <= tol)
        assert stats.counts[key] == x.shape[0]


def test_fit_on_a_split(store):
    train = store.episodes_where(split="train")
    stats = NormalizationStats.fit(store, keys=[ACTION], episodes=train)
    np.testing.assert_allclose(stats.stats[ACTION]["max"], _all(store, ACTION, train).max(0))
    assert stats.keys == (ACTION,)


@pytest.mark.parametrize("mode", ["minmax", "quantile", "meanstd"])
def test_normalize_round_trip(store, mode):
    stats = NormalizationStats.fit(store)
    x = _all(store, OBS_STATE).astype(np.float32)
    y = stats.normalize(OBS_STATE, x, mode=mode)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(stats.unnormalize(OBS_STATE, y, mode=mode), x, atol=1e-4, rtol=1e-5)
    if mode == "minmax":
        assert y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5
        np.testing.assert_allclose(y.min(0)[[0, 1, 12]], -1, atol=1e-5)
        np.testing.assert_allclose(y[:, 4], 0.0)  # zero range -> centred, not divided by 0
    if mode == "meanstd":
        np.testing.assert_allclose(y.mean(0)[:4], 0, atol=1e-4)
        np.testing.assert_allclose(y.std(0)[:4], 1, atol=1e-3)


def test_normalize_batched_and_clipped(store):
    stats = NormalizationStats.fit(store)
    x = np.full((2, 64, 13), 1e3, np.float32)
    assert stats.normalize(ACTION, x, mode="quantile", clip=True).max() == 1.0
    with pytest.raises(NormalizationError, match="shape"):
        stats.normalize(ACTION, np.zeros((4, 12)))
    with pytest.raises(NormalizationError, match="no normalisation statistics"):
        stats.normalize("observation.other", np.zeros(13))
    with pytest.raises(ValueError, match="mode"):
        stats.normalize(ACTION, np.zeros(13), mode="bogus")


@pytest.mark.parametrize("suffix", [".safetensors", ".json"])
def test_save_load_round_trip(store, tmp_path, suffix):
    stats = NormalizationStats.fit(store)
    path = stats.save(tmp_path / f"stats{suffix}")
    back = NormalizationStats.load(path, expected={OBS_STATE: (13,), ACTION: (13,)})
    assert back.keys == stats.keys and back.counts == stats.counts
    for key in stats.keys:
        for name, value in stats.stats[key].items():
            np.testing.assert_array_equal(back.stats[key][name], value)


def test_load_validation(store, tmp_path):
    stats = NormalizationStats.fit(store)
    path = stats.save(tmp_path / "s.safetensors")
    with pytest.raises(NormalizationError, match="expected \\(14,\\).*dexgrasp stats"):
        NormalizationStats.load(path, expected={ACTION: (14,)})
    with pytest.raises(NormalizationError, match="no statistics for 'observation.x'"):
        NormalizationStats.load(path, expected={"observation.x": (3,)})
    with pytest.raises(NormalizationError, match="no normalisation statistics file"):
        NormalizationStats.load(tmp_path / "missing.safetensors")

    tensors = load_file(str(path))
    tensors["action/mean"][3] = np.nan
    save_file(
        tensors, str(tmp_path / "nan.safetensors"), metadata={"format": "dexgrasp.normalization"}
    )
    with pytest.raises(NormalizationError, match="'action' mean contains NaN"):
        NormalizationStats.load(tmp_path / "nan.safetensors")

    del tensors["action/q99"]
    tensors["action/mean"][3] = 0
    save_file(
        tensors, str(tmp_path / "gap.safetensors"), metadata={"format": "dexgrasp.normalization"}
    )
    with pytest.raises(NormalizationError, match="lacks statistics \\['q99'\\]"):
        NormalizationStats.load(tmp_path / "gap.safetensors")

    doc = json.loads(stats.save(tmp_path / "s.json").read_text())
    doc["keys"][ACTION]["min"] = doc["keys"][ACTION]["min"][:5]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(NormalizationError, match="unreadable"):
        NormalizationStats.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(NormalizationError, match="refit"):
        NormalizationStats.load(tmp_path / "junk.json")


def test_fit_stats_function_and_get(store):
    from dexgrasp.data.normalize import fit_stats

    stats = fit_stats(store, keys=(ACTION,))
    np.testing.assert_allclose(stats.get(ACTION, "min"), _all(store, ACTION).min(0))
    with pytest.raises(KeyError, match="unknown statistic"):
        stats.get(ACTION, "median")


def test_fit_refuses_image_keys(tmp_path, episode_factory):
    with EpisodeWriter(tmp_path / "i.zarr") as w:
        w.add_episode(episode_factory(0, length=2, size=32), {})  # 3072 values per frame
    with pytest.raises(NormalizationError, match="too large"):
        NormalizationStats.fit(EpisodeStore(tmp_path / "i.zarr"), keys=["observation.images.head"])
    with pytest.raises(NormalizationError, match="no key"):
        NormalizationStats.fit(EpisodeStore(tmp_path / "i.zarr"), keys=["nope"])


@given(
    lo=st.lists(st.floats(-100, 100), min_size=3, max_size=3),
    span=st.lists(st.one_of(st.just(0.0), st.floats(1e-4, 50)), min_size=3, max_size=3),
    mode=st.sampled_from(["minmax", "quantile", "meanstd"]),
)
@settings(max_examples=50, deadline=None)
def test_affine_round_trip_property(lo, span, mode):
    lo, span = np.array(lo, np.float32), np.array(span, np.float32)
    hi = lo + span
    per = {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": span / 4, "q01": lo, "q99": hi}
    stats = NormalizationStats({"k": per})
    x = np.linspace(lo, hi, 7).astype(np.float32)
    y = stats.normalize("k", x, mode=mode)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(stats.unnormalize("k", y, mode=mode), x, rtol=1e-5, atol=1e-5)
    if mode != "meanstd":
        assert np.all(np.abs(y) <= 1 + 1e-3)  # also for narrow ranges far from zero
