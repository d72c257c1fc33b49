"""Policy shapes, the condition KV cache, the action queue and bf16 autocast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.vla.controller.checkpoint import CheckpointError
from dexgrasp.vla.controller.configuration import ConfigError
from dexgrasp.vla.controller.dit import DiT
from dexgrasp.vla.controller.modeling import DexGraspVLAController, mask_geometry
from dexgrasp.vla.controller.normalize import Normalizer

from .conftest import IMG, tiny_config


def make_policy(**overrides) -> DexGraspVLAController:
    rng = np.random.default_rng(1)
    norm = Normalizer.from_arrays(rng.normal(size=(40, 13)), rng.normal(size=(40, 13)))
    return DexGraspVLAController(tiny_config(**overrides), norm)


def make_batch(b: int = 3, horizon: int = 16) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(b)
    return {
        OBS_HEAD: torch.randint(0, 256, (b, IMG, IMG, 3), dtype=torch.uint8, generator=g),
        OBS_WRIST: torch.randint(0, 256, (b, 48, 40, 3), dtype=torch.uint8, generator=g),
        OBS_MASK: (torch.rand(b, IMG, IMG, generator=g) > 0.7).to(torch.uint8),
        OBS_STATE: torch.randn(b, 13, generator=g),
        ACTION: torch.randn(b, horizon, 13, generator=g),
    }


def test_forward_and_chunk_shapes():
    policy = make_policy()
    loss, info = policy(make_batch())
    assert (
        loss.ndim == 0
        and torch.isfinite(loss)
        and info["loss"] == pytest.approx(float(loss.detach()))
    )
    loss.backward()
    assert all(p.grad is not None for p in policy.dit.parameters())
    policy.eval()
    chunk = policy.predict_action_chunk(make_batch())
    assert chunk.shape == (3, 16, 13) and chunk.dtype == torch.float32
    assert policy.encode_observation(make_batch(2)).shape == (2, policy.config.n_obs_tokens, 32)


def test_relative_actions_are_anchored_to_the_state(monkeypatch):
    """action_mode="relative": the model denoises action - state; the policy adds it back."""
    policy = make_policy(action_mode="relative", prediction_type="sample", clip_sample=True)
    batch = make_batch(2)
    zero = policy.normalizer.normalize(ACTION, torch.zeros(13))  # "hold still", normalised
    monkeypatch.setattr(policy.dit, "forward", lambda x, t, cond: zero.expand_as(x))
    hold = dict(batch, **{ACTION: batch[OBS_STATE][:, None].expand(2, 16, 13)})
    loss, _ = policy(hold)  # training target: the normalised zero chunk
    assert float(loss) < 1e-10
    policy.eval()
    policy.use_kv_cache = False  # the patched forward is the uncached path
    chunk = policy.predict_action_chunk(batch)
    torch.testing.assert_close(chunk, hold[ACTION], atol=1e-4, rtol=0)


def test_mask_geometry_of_a_box_and_of_an_empty_mask():
    m = torch.zeros(2, 10, 20)
    m[0, 2:4, 5:10] = 1  # rows 2-3, columns 5-9
    g = mask_geometry(m)
    col, row = (lambda i: -1 + 2 * i / 19), (lambda i: -1 + 2 * i / 9)
    want = [1, (10 / 200) ** 0.5, col(7), row(2.5), col(5), row(2), col(9), row(3)]
    torch.testing.assert_close(g[0], torch.tensor(want), atol=1e-6, rtol=0)
    assert torch.equal(g[1].abs(), torch.zeros(8))


def test_mask_geometry_starts_as_a_no_op_and_learns():
    """A model with the geometry MLP computes what the same model without it does until
    trained (zero output layer), so fine-tuning a checkpoint with it starts where it was."""
    plain, geo = make_policy(), make_policy(mask_geometry=True)
    geo.load_state_dict(plain.state_dict(), strict=False)
    batch = make_batch(2)
    for p in (plain, geo):
        p.eval()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(
        geo.predict_action_chunk(batch, generator=gen()),
        plain.predict_action_chunk(batch, generator=gen()),
    )
    geo.train()
    geo(batch)[0].backward()
    assert geo.geometry_proj[-1].weight.grad.abs().sum() > 0


def test_wrong_action_shape_is_refused():
    with pytest.raises(ValueError, match="action"):
        make_policy()(make_batch(horizon=10))


def test_cached_equals_uncached_fp32():
    torch.manual_seed(0)
    dit = DiT(13, 16, n_obs_tokens=40, dim=64, layers=3, heads=4, attn_dropout=0.1).eval()
    obs = torch.randn(2, 40, 64)
    x = torch.randn(2, 16, 13)
    with torch.inference_mode():
        cache = dit.build_cache(obs)
        for step in (49, 17, 0):  # the cache is reused across steps
            t = torch.full((2,), step)
            torch.testing.assert_close(
                dit.forward_cached(x, t, cache), dit(x, t, obs), atol=1e-5, rtol=0
            )


def test_cached_and_uncached_chunks_agree():
    policy = make_policy().eval()
    batch = make_batch(2)
    out = []
    for cached in (True, False):
        policy.use_kv_cache = cached
        out.append(policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(3)))
    torch.testing.assert_close(out[0], out[1], atol=1e-4, rtol=0)


def test_select_action_runs_the_receding_horizon(monkeypatch):
    policy = make_policy().eval()
    calls = []
    real = policy._model_chunk

    def counting(obs, generator=None, prior=None, plan=None):
        calls.append(prior)
        return real(obs, generator, prior, plan)

    monkeypatch.setattr(policy, "_model_chunk", counting)
    obs = {k: v[0].numpy() for k, v in make_batch(1).items() if k != ACTION}  # env-style, unbatched
    actions = [policy.select_action(obs) for _ in range(9)]
    assert all(a.shape == (13,) for a in actions)
    assert len(calls) == 3  # n_action_steps = 4: new chunks at steps 0, 4, 8
    policy.reset()
    policy.select_action(obs)
    assert len(calls) == 4
    assert all(prior is None for prior in calls)  # warm start is off by default


def _record_chunks(monkeypatch, policy, steps: int):
    """Run ``steps`` select_action calls on one observation, recording each chunk's warm-start
    prior, coherence plan and output: (priors, plans, chunks). ``policy._model_chunk`` stays
    recording, so later calls append."""
    priors, plans, chunks = [], [], []
    real = policy._model_chunk

    def recording(obs, generator=None, prior=None, plan=None):
        priors.append(prior)
        plans.append(plan)
        out = real(obs, generator, prior, plan)
        chunks.append(out[0])
        return out

    monkeypatch.setattr(policy, "_model_chunk", recording)
    obs = {k: v[0].numpy() for k, v in make_batch(1).items() if k != ACTION}
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        policy.select_action(obs, generator=gen)
    return priors, plans, chunks


def test_warm_start_continues_the_previous_chunk(monkeypatch):
    policy = make_policy().eval()
    policy.set_inference(warm_start_steps=3)
    n, horizon = policy.config.n_action_steps, policy.config.horizon
    priors, _, chunks = _record_chunks(monkeypatch, policy, 2 * n + 1)
    assert priors[0] is None and len(priors) == 3
    for prev, prior in zip(chunks, priors[1:], strict=False):
        # the unexecuted remainder, held at the last action to the full horizon
        assert torch.equal(prior[:, : horizon - n], prev[:, n:])
        assert torch.equal(prior[:, horizon - n :], prev[:, -1:].expand(-1, n, -1))
    policy.reset()
    policy.select_action({k: v[0].numpy() for k, v in make_batch(1).items() if k != ACTION})
    assert priors[-1] is None  # a new episode starts from noise


def test_warm_start_from_a_plan_stays_near_it():
    policy = make_policy().eval()
    batch = {k: v for k, v in make_batch(1).items() if k != ACTION}
    cold = policy._model_chunk(batch, torch.Generator().manual_seed(0))[0]
    other = policy._model_chunk(batch, torch.Generator().manual_seed(1))[0]
    policy.set_inference(warm_start_steps=2)
    warm = policy._model_chunk(batch, torch.Generator().manual_seed(1), prior=cold)[0]
    # two final DDIM steps from the slightly noised plan land nearer it than a fresh sample
    assert (warm - cold).abs().mean() < (other - cold).abs().mean()
    with pytest.raises(ValueError, match="does not fit this batch"):
        policy._model_chunk(batch, prior=cold.repeat(2, 1, 1))
    with pytest.raises(ConfigError, match="warm_start_steps"):
        policy.set_inference(warm_start_steps=policy.config.num_inference_steps + 1)


def _spy_noise(monkeypatch, policy) -> list[torch.Tensor]:
    """The initial noise of every chunk ``policy`` denoises from now on, in call order."""
    seen = []
    real = policy._denoise

    def spy(cond, noise, steps):
        seen.append(noise.clone())
        return real(cond, noise, steps)

    monkeypatch.setattr(policy, "_denoise", spy)
    return seen


def test_noise_scale_scales_the_initial_noise(monkeypatch):
    policy = make_policy().eval()
    batch = {k: v for k, v in make_batch(1).items() if k != ACTION}
    seen = _spy_noise(monkeypatch, policy)
    policy._model_chunk(batch, torch.Generator().manual_seed(0))
    policy.set_inference(noise_scale=0.25)
    policy._model_chunk(batch, torch.Generator().manual_seed(0))
    assert torch.allclose(seen[1], 0.25 * seen[0])
    with pytest.raises(ConfigError, match="noise_scale"):
        policy.set_inference(noise_scale=0.0)


def test_episode_noise_is_drawn_once_per_episode(monkeypatch):
    policy = make_policy().eval()
    policy.set_inference(episode_noise=True)
    batch = {k: v for k, v in make_batch(1).items() if k != ACTION}
    seen = _spy_noise(monkeypatch, policy)
    gen = torch.Generator().manual_seed(0)
    first = policy._model_chunk(batch, gen)[0]
    again = policy._model_chunk(batch, gen)[0]  # the generator has moved on; the noise has not
    assert torch.equal(seen[0], seen[1]) and torch.equal(first, again)
    policy.reset()
    policy._model_chunk(batch, gen)
    assert not torch.equal(seen[2], seen[0])  # a new episode draws anew
    policy.set_inference(episode_noise=False)
    policy._model_chunk(batch, gen)
    policy._model_chunk(batch, gen)
    assert not torch.equal(seen[3], seen[4])  # the default: fresh noise for every chunk


def test_coherent_selection_continues_the_previous_chunk(monkeypatch):
    policy = make_policy().eval()
    policy.set_inference(num_samples=4, sample_select="coherent")
    n = policy.config.n_action_steps
    real = policy._model_chunk
    _, plans, chunks = _record_chunks(monkeypatch, policy, n + 1)
    assert plans[0] is None and torch.equal(plans[1], chunks[0])
    # a plan whose remainder is the start of one sample (not the medoid) picks that sample
    monkeypatch.setattr(policy, "_model_chunk", real)
    samples = []
    real_denoise = policy._denoise

    def spy(cond, noise, steps):
        samples.append(real_denoise(cond, noise, steps))
        return samples[-1]

    monkeypatch.setattr(policy, "_denoise", spy)
    batch = {k: v for k, v in make_batch(1).items() if k != ACTION}
    medoid_pick = real(batch, torch.Generator().manual_seed(5))[0]
    unnorm = policy._require_normalizer().unnormalize(ACTION, samples[0].float())
    j = next(i for i in range(4) if not torch.allclose(unnorm[i], medoid_pick[0]))
    plan = torch.zeros_like(medoid_pick)
    plan[:, n:] = unnorm[j, :-n]
    picked = real(batch, torch.Generator().manual_seed(5), plan=plan)[0]
    torch.testing.assert_close(picked[0], unnorm[j])
    policy.reset()
    assert policy._plan is None
    with pytest.raises(ConfigError, match="sample_select"):
        policy.set_inference(sample_select="best")


def test_bf16_autocast_close_to_fp32():
    policy = make_policy().eval()
    batch = make_batch(2)
    ref = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(0))
    policy.autocast_dtype = torch.bfloat16
    low = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(0))
    span = policy.normalizer.span(ACTION)
    err = ((low - ref).abs() / span).max()
    assert err < 0.1, float(err)


def test_inference_dtype_setting():
    policy = make_policy()
    assert policy.autocast_dtype == "auto" and policy.inference_dtype is None  # fp32 on CPU
    policy.autocast_dtype = torch.bfloat16
    assert policy.inference_dtype == torch.bfloat16
    policy.autocast_dtype = "bf16"
    with pytest.raises(ConfigError, match="autocast_dtype"):
        policy.predict_action_chunk(make_batch(1))


def test_missing_normalizer_and_observation_keys():
    policy = DexGraspVLAController(tiny_config())
    with pytest.raises(CheckpointError, match="normalisation"):
        policy(make_batch())
    policy = make_policy().eval()
    batch = make_batch(1)
    del batch[OBS_MASK]
    with pytest.raises(KeyError, match="mask"):
        policy.predict_action_chunk(batch)


def test_num_samples_executes_one_of_its_samples():
    """num_samples=k denoises k chunks per observation and returns their medoid: one of the k
    chunks the same noise gives with num_samples=1 on k copies of the observation."""
    policy = make_policy()
    policy.eval()
    obs = make_batch(1)
    g = torch.Generator()
    single = policy.predict_action_chunk({k: v.repeat_interleave(3, 0) for k, v in obs.items()},
                                         generator=g.manual_seed(0))  # fmt: skip
    policy.set_inference(num_samples=3)
    picked = policy.predict_action_chunk(obs, generator=g.manual_seed(0))
    assert picked.shape == (1, 16, 13)
    assert min(float((picked[0] - s).abs().max()) for s in single) < 1e-5
    with pytest.raises(ValueError, match="cannot change at inference"):
        policy.set_inference(hidden_dim=8)
    with pytest.raises(ValueError, match="must be positive"):
        policy.set_inference(num_samples=0)
