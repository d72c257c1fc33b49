"""Torch normalisation around NormalizationStats: round trip, zero ranges, files, checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_STATE
from dexgrasp.data.normalize import NormalizationStats
from dexgrasp.vla.controller.normalize import Normalizer, StatsError


def _norm(mode="min_max") -> Normalizer:
    rng = np.random.default_rng(0)
    state = rng.normal(size=(50, 13))
    action = rng.normal(size=(50, 13))
    action[:, 3] = 0.7  # a joint that never moves
    return Normalizer.from_arrays(state, action, mode)


@pytest.mark.parametrize("mode", ["min_max", "mean_std"])
def test_round_trip_and_zero_range(mode):
    n = _norm(mode)
    x = torch.randn(4, 13)
    x[:, 3] = 0.7
    y = n.normalize(ACTION, x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(n.unnormalize(ACTION, y), x, atol=1e-5, rtol=1e-5)
    if mode == "min_max":
        assert torch.allclose(y[:, 3], torch.zeros(4), atol=1e-6)


def test_min_max_maps_data_range_to_unit_interval_like_the_numpy_stats():
    n = _norm()
    rng = np.random.default_rng(0)
    state = rng.normal(size=(50, 13)).astype(np.float32)
    y = n.normalize(OBS_STATE, torch.from_numpy(state))
    assert y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5
    np.testing.assert_allclose(y.numpy(), n.stats.normalize(OBS_STATE, state), atol=1e-6)


def test_fit_on_a_store_uses_only_the_given_episodes(tiny_store, episodes):
    from dexgrasp.data.episodes import EpisodeStore

    n = Normalizer.fit(EpisodeStore(tiny_store), episodes=[1])
    np.testing.assert_allclose(n.stats.get(ACTION, "max"), episodes[1][ACTION].max(0), atol=1e-6)


def test_relative_fit_describes_every_window_minus_its_state(tiny_store, episodes):
    from dexgrasp.data.episodes import EpisodeStore

    n = Normalizer.fit(EpisodeStore(tiny_store), episodes=[1, 2], relative_horizon=5)
    deltas = []
    for ep in (episodes[1], episodes[2]):
        T = len(ep[ACTION])
        for t in range(T):
            for k in range(5):  # padded with the episode's last action, like training windows
                deltas.append(ep[ACTION][min(t + k, T - 1)] - ep[OBS_STATE][t])
    deltas = np.array(deltas)
    for name, ref in (("min", deltas.min(0)), ("max", deltas.max(0)), ("mean", deltas.mean(0))):
        np.testing.assert_allclose(n.stats.get(ACTION, name), ref, atol=1e-5, err_msg=name)
    states = np.concatenate([episodes[1][OBS_STATE], episodes[2][OBS_STATE]])
    np.testing.assert_allclose(n.stats.get(OBS_STATE, "max"), states.max(0), atol=1e-6)


def test_save_load_and_fingerprint(tmp_path):
    n = _norm()
    n.save(tmp_path / "s.json")
    m = Normalizer.load(tmp_path / "s.json", "min_max", {OBS_STATE: 13, ACTION: 13})
    assert m.fingerprint() == n.fingerprint()
    assert _norm("mean_std").fingerprint() != n.fingerprint()
    with pytest.raises(StatsError, match="expected"):
        Normalizer.load(tmp_path / "s.json", "min_max", {ACTION: 12})


def test_bad_statistics_are_refused(tmp_path):
    full = _norm().stats
    with pytest.raises(StatsError, match="action"):
        Normalizer(NormalizationStats({OBS_STATE: full.stats[OBS_STATE]}))
    with pytest.raises(StatsError, match="13 dims"):
        _norm().check_dims(13, 12)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(StatsError, match="broken.json"):
        Normalizer.load(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="last dim"):
        _norm().normalize(ACTION, torch.zeros(2, 7))
    with pytest.raises(StatsError, match="mode"):
        Normalizer(full, "quantile_something")
