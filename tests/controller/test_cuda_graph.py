"""A chunk (encoders and denoising loop) replayed as a CUDA graph equals the eager chunk (GPU
only), and asking for it without a GPU changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.cuda_graph import GraphCache
from dexgrasp.vla.controller.kinematics import PALM_ACTION_DIM
from dexgrasp.vla.controller.normalize import Normalizer

from .test_model import make_batch, make_policy

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _chunks(policy, batch, graph: bool, seed: int = 0) -> torch.Tensor:
    policy.use_cuda_graph = graph
    return policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(seed))


def test_cuda_graph_request_is_ignored_on_cpu():
    policy = make_policy().eval()
    batch = make_batch(2)
    eager = _chunks(policy, batch, graph=False)
    assert torch.equal(_chunks(policy, batch, graph=True), eager)
    assert len(policy._graphs) == 0


def test_graphed_denoiser_refuses_cpu_tensors():
    with pytest.raises(ValueError, match="CUDA"):
        GraphCache()(lambda c, x: x, (torch.zeros(1, 2, 3), torch.zeros(1, 4, 5)))


@cuda
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
@pytest.mark.parametrize("kv_cache", [True, False])
def test_graph_replay_equals_eager(dtype, kv_cache):
    policy = make_policy().cuda().eval()
    policy.autocast_dtype, policy.use_kv_cache = dtype, kv_cache
    for b in (1, 3):  # a new shape captures a new graph
        batch = make_batch(b)
        eager = _chunks(policy, batch, graph=False, seed=b)
        for _ in range(2):  # the first call captures, the second replays
            graphed = _chunks(policy, batch, graph=True, seed=b)
            torch.testing.assert_close(graphed, eager, atol=1e-5 if dtype is None else 1e-2, rtol=0)
    assert len(policy._graphs) == 2
    other = _chunks(policy, make_batch(1), graph=True, seed=99)  # new noise, same graph
    assert not torch.allclose(other, _chunks(policy, make_batch(1), graph=True, seed=1))
    assert len(policy._graphs) == 2


@cuda
@pytest.mark.parametrize(
    "overrides", [{"mask_geometry": True}, {"num_samples": 3}, {"action_space": "palm"}]
)
def test_graph_covers_every_chunk_input(overrides):
    """Mask geometry, consensus samples and a palm-space model's host-side kinematics."""
    policy = make_policy(**overrides)
    if overrides.get("action_space") == "palm":
        pytest.importorskip("mujoco")  # the palm model's kinematics
        rng = np.random.default_rng(2)
        policy.normalizer = Normalizer.from_arrays(
            rng.normal(size=(40, 13)), rng.normal(scale=0.2, size=(40, PALM_ACTION_DIM))
        )
    policy = policy.cuda().eval()
    policy.autocast_dtype = None
    batch = make_batch(2)
    eager = _chunks(policy, batch, graph=False)
    for _ in range(2):
        torch.testing.assert_close(_chunks(policy, batch, graph=True), eager, atol=1e-5, rtol=0)
    assert len(policy._graphs) == 1


@cuda
def test_graph_follows_inference_settings():
    policy = make_policy().cuda().eval()
    batch = make_batch(1)
    _chunks(policy, batch, graph=True)
    policy.set_inference(num_inference_steps=4)
    eager = _chunks(policy, batch, graph=False)
    torch.testing.assert_close(_chunks(policy, batch, graph=True), eager, atol=1e-5, rtol=0)
    assert len(policy._graphs) == 2


@cuda
def test_inference_runs_in_bf16_on_cuda_by_default():
    policy = make_policy().cuda().eval()
    assert policy.inference_dtype == torch.bfloat16
    policy.autocast_dtype = None
    assert policy.inference_dtype is None
