"""Grasp-mode conditioning (ControllerConfig.grasp_modes, modes.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_STATE
from dexgrasp.vla.controller.configuration import ConfigError, TrainConfig
from dexgrasp.vla.controller.modeling import DexGraspVLAController
from dexgrasp.vla.controller.modes import FINAL_ACTION, GRASP_MODE, fit_modes
from dexgrasp.vla.controller.normalize import Normalizer
from dexgrasp.vla.controller.train import train_controller

from .conftest import tiny_config
from .test_model import make_batch, make_policy


def test_fit_modes_separates_clusters():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, (20, 3)) + [1, 0, 0]
    b = rng.normal(0, 0.01, (20, 3)) + [0, 1, 0]
    fit = fit_modes(np.concatenate([a, b]), 2)
    # scaled to [-1, 1] per feature: the clusters sit at opposite corners of x and y
    assert sorted(fit["centroids"].round(1)[:, :2].tolist()) == [[-1, 1], [1, -1]]
    with pytest.raises(ValueError, match="at least 5 training episodes"):
        fit_modes(a[:3], 5)
    with pytest.raises(ConfigError, match="grasp_modes"):
        tiny_config(grasp_modes=1)


def test_the_mode_selects_between_two_chunks_of_one_observation():
    """One observation, two demonstrated chunks that end differently: given its mode, the
    policy reproduces each one (without modes it could only blend or pick)."""
    torch.manual_seed(0)
    batch = make_batch(1)
    batch = {k: v.repeat(2, *([1] * (v.ndim - 1))) for k, v in batch.items()}  # same obs twice
    ramp = torch.linspace(0, 1, 16)[None, :, None]
    batch[ACTION] = (
        torch.stack([torch.linspace(-1, 1, 13), torch.linspace(1, -1, 13)])[:, None] * ramp
    )
    batch[FINAL_ACTION] = batch[ACTION][:, -1]
    norm = Normalizer.from_arrays(batch[OBS_STATE].numpy(), batch[ACTION].reshape(-1, 13).numpy())
    cfg = tiny_config(attn_dropout=0.0, prediction_type="sample", grasp_modes=2)
    policy = DexGraspVLAController(cfg, norm)
    policy.fit_grasp_modes(batch[FINAL_ACTION].numpy())
    modes = policy.grasp_mode_of(batch[FINAL_ACTION])
    assert sorted(modes.tolist()) == [0, 1]
    opt = torch.optim.AdamW(policy.parameters(), lr=2e-3, weight_decay=0.0)
    for _ in range(MODE_STEPS):
        loss, info = policy(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert {"mode_loss", "mode_acc", "diffusion_loss"} <= set(info)
    policy.eval()
    obs = {k: v for k, v in batch.items() if k not in (ACTION, FINAL_ACTION)}
    pred = policy.predict_action_chunk(
        {**obs, GRASP_MODE: modes}, generator=torch.Generator().manual_seed(0)
    )
    err = (pred - batch[ACTION]).abs()
    assert err.mean() < 0.1 * batch[ACTION].abs().mean(), float(err.mean())
    swapped = policy.predict_action_chunk(
        {**obs, GRASP_MODE: modes.flip(0)}, generator=torch.Generator().manual_seed(0)
    )
    assert (swapped - batch[ACTION].flip(0)).abs().mean() < 0.1 * batch[ACTION].abs().mean()
    with pytest.raises(KeyError, match=FINAL_ACTION):
        policy.train()({k: v for k, v in batch.items() if k != FINAL_ACTION})


MODE_STEPS = 500


def test_select_action_keeps_the_episode_mode(monkeypatch):
    policy = make_policy(grasp_modes=3).eval()
    torch.nn.init.normal_(policy.mode_embed.weight)
    chosen = []
    real = policy.predict_grasp_mode

    def recording(obs):
        chosen.append(real(obs))
        return chosen[-1]

    monkeypatch.setattr(policy, "predict_grasp_mode", recording)
    obs = {k: v[0].numpy() for k, v in make_batch(1).items() if k != ACTION}
    for _ in range(9):  # n_action_steps = 4: chunks at steps 0, 4, 8
        assert policy.select_action(obs).shape == (13,)
    assert len(chosen) == 1 and chosen[0].shape == (1,)
    policy.reset()
    policy.select_action(obs)
    assert len(chosen) == 2
    policy.reset()
    policy.episode_grasp_mode = 2  # chosen for the policy: the classifier is not asked
    policy.select_action(obs)
    assert len(chosen) == 2 and policy.episode_grasp_mode.tolist() == [2]
    with pytest.raises(ConfigError, match="not one of 3 modes"):
        policy.episode_grasp_mode = 3
    # the chunk depends on the mode it is conditioned on
    batch = {k: v for k, v in make_batch(1).items() if k != ACTION}
    a, b = (
        policy.predict_action_chunk(
            {**batch, GRASP_MODE: torch.tensor([m])}, generator=torch.Generator().manual_seed(0)
        )
        for m in (0, 2)
    )
    assert not torch.allclose(a, b)


def test_train_fits_modes_and_checkpoint_keeps_them(tmp_path, tiny_store):
    cfg = tiny_config(grasp_modes=2)
    tc = TrainConfig(batch_size=8, max_steps=3, warmup_steps=1, checkpoint_every=10, log_every=1)
    out = train_controller(tiny_store, tmp_path / "run", cfg, tc, progress=False)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert all(0 <= rec["mode_acc"] <= 1 for rec in log)
    policy = DexGraspVLAController.from_pretrained(out)
    assert policy.mode_centroids.abs().sum() > 0  # fitted, and stored with the weights
    assert (policy.mode_hi > policy.mode_lo).all()
    batch = {k: v for k, v in make_batch(2).items() if k != ACTION}
    mode = policy.predict_grasp_mode(batch)
    assert mode.shape == (2,) and mode.dtype == torch.int64
