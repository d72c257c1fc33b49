"""Torch normalisation: round trip, zero ranges, persistence and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_STATE
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
        assert torch.all(y[:, 3] == 0)


def test_min_max_maps_data_range_to_unit_interval():
    n = _norm()
    rng = np.random.default_rng(0)
    state = torch.from_numpy(rng.normal(size=(50, 13)).astype(np.float32))
    y = n.normalize(OBS_STATE, state)
    assert y.min() >= -1 - 1e-5 and y.max() <= 1 + 1e-5
    assert torch.allclose(y.min(0).values, torch.full((13,), -1.0), atol=1e-5)


def test_save_load_and_fingerprint(tmp_path):
    n = _norm()
    n.save(tmp_path / "s.json")
    m = Normalizer.load(tmp_path / "s.json")
    assert m.fingerprint() == n.fingerprint() and m.mode == n.mode
    assert _norm("mean_std").fingerprint() != n.fingerprint()


def test_bad_statistics_are_refused(tmp_path):
    with pytest.raises(StatsError, match="action"):
        Normalizer({OBS_STATE: {f: np.zeros(13) for f in ("min", "max", "mean", "std")}})
    bad = {k: {f: np.zeros(13) for f in ("min", "max", "mean", "std")} for k in (OBS_STATE, ACTION)}
    bad[ACTION]["max"][2] = np.nan
    with pytest.raises(StatsError, match="NaN"):
        Normalizer(bad)
    with pytest.raises(StatsError, match="13 dims"):
        _norm().check_dims(13, 12)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(StatsError, match="broken.json"):
        Normalizer.load(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="last dim"):
        _norm().normalize(ACTION, torch.zeros(2, 7))
