"""Schedulers follow Table 5; immiscible assignment is a distance-minimising permutation;
the medoid of several chunks stays in their majority mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dexgrasp.vla.controller.configuration import ControllerConfig
from dexgrasp.vla.controller.diffusion import (
    coherent,
    immiscible_assignment,
    immiscible_noise,
    make_inference_scheduler,
    make_train_scheduler,
    medoid,
)


def test_schedulers_use_table5_settings():
    cfg = ControllerConfig.preset("paper")
    train, infer = make_train_scheduler(cfg), make_inference_scheduler(cfg)
    assert type(train).__name__ == "DDPMScheduler" and type(infer).__name__ == "DDIMScheduler"
    for s in (train, infer):
        c = s.config
        assert c.num_train_timesteps == 50 and c.beta_schedule == "squaredcos_cap_v2"
        assert c.clip_sample and c.prediction_type == "epsilon"
    assert infer.config.set_alpha_to_one and infer.config.steps_offset == 0
    assert len(infer.timesteps) == 16 and int(infer.timesteps[-1]) == 0


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_immiscible_is_a_permutation_that_does_not_increase_distance(b, seed):
    g = torch.Generator().manual_seed(seed)
    actions = torch.rand(b, 16, 13, generator=g) * 2 - 1
    noise = torch.randn(b, 16, 13, generator=g)
    perm = immiscible_assignment(actions, noise)
    assert sorted(perm.tolist()) == list(range(b))
    before = (actions - noise).flatten(1).norm(dim=1).sum()
    after = (actions - noise[perm]).flatten(1).norm(dim=1).sum()
    assert after <= before + 1e-4


def test_immiscible_pairs_clustered_data_with_nearby_noise():
    # Two far-apart clusters of "actions" and noise drawn near each: matching must pair them.
    actions = torch.cat([torch.full((4, 8), 5.0), torch.full((4, 8), -5.0)])
    noise = torch.cat([torch.full((4, 8), -4.0), torch.full((4, 8), 4.0)])
    perm = immiscible_assignment(actions, noise)
    assert (noise[perm][:4] > 0).all() and (noise[perm][4:] < 0).all()


def test_immiscible_noise_shape_and_marginal():
    torch.manual_seed(0)
    a = torch.rand(64, 4, 13)
    n = immiscible_noise(a)
    assert n.shape == a.shape
    assert abs(float(n.mean())) < 0.05 and abs(float(n.std()) - 1) < 0.05
    assert np.isfinite(n.numpy()).all()


def test_medoid_picks_the_sample_inside_the_majority_mode():
    x = torch.zeros(2, 4, 3, 5)
    x[0, 0] += 10.0  # an outlier; samples 1-3 agree up to small offsets
    x[0, 1:] += torch.tensor([0.1, 0.0, -0.1])[:, None, None]
    x[1, :] = torch.arange(4.0)[:, None, None]  # on a line: 1 or 2 is the centre
    out = medoid(x)
    assert out.shape == (2, 3, 5)
    torch.testing.assert_close(out[0], x[0, 2])
    assert float(out[1, 0, 0]) in (1.0, 2.0)
    with pytest.raises(ValueError, match="expected"):
        medoid(torch.zeros(4, 5))


def test_coherent_picks_the_sample_that_continues_the_plan():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 8, 3, generator=g)
    plan = torch.randn(2, 8, 3, generator=g)
    plan[0, 3:] = x[0, 4, :5] + 0.01  # row 0 continues with sample 4, row 1 with sample 1
    plan[1, 3:] = x[1, 1, :5] - 0.01
    out = coherent(x, plan, shift=3)
    assert out.shape == (2, 8, 3)
    assert torch.equal(out[0], x[0, 4]) and torch.equal(out[1], x[1, 1])
    with pytest.raises(ValueError, match="expected samples"):
        coherent(x, plan[:, :4], shift=3)
    with pytest.raises(ValueError, match="shift"):
        coherent(x, plan, shift=8)
