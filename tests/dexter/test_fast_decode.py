"""The static-cache decoder gives the transformers decode's logits and answers."""

from __future__ import annotations

import pytest
import torch

from dexgrasp.dexter import fast_decode
from dexgrasp.dexter.fast_decode import StaticDecoder, static_decoder
from dexgrasp.dexter.generate import generate_grasps

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _prefill(model, data):
    prompt = model.tokenizer.encode_prompt("grasp object 0", model.num_point_tokens, "meta")
    ids = torch.tensor([prompt], device=model.device)
    pts = torch.as_tensor(data[0]["obj0"], device=model.device)[None]
    with torch.no_grad():
        _, cache = model.hidden_states(ids, torch.ones_like(ids), pts, use_cache=True)
    return ids.shape[1], cache


def _reference_logits(model, cache, tokens: list[torch.Tensor], pos: int) -> list[torch.Tensor]:
    """The transformers decode loop, one step per token batch."""
    out = []
    emb = model.llm.get_input_embeddings()
    with torch.no_grad():
        for i, tok in enumerate(tokens):
            h, cache = model.body(
                cache,
                inputs_embeds=emb(tok[:, None]),
                position_ids=torch.full((tok.shape[0], 1), pos + i, device=tok.device),
                use_cache=True,
            )
            out.append(model.llm.lm_head(h[:, -1]).float())
    return out


def test_step_logits_equal_transformers_decode(model, data):
    model.eval()
    n = 3
    length, cache = _prefill(model, data)
    dec = StaticDecoder(model.llm, n, length + 10)
    dec.load_prompt(cache, length)
    cache.batch_repeat_interleave(n)
    g = torch.Generator().manual_seed(0)
    tokens = [torch.randint(0, 200, (n,), generator=g) for _ in range(6)]
    ref = _reference_logits(model, cache, tokens, length)
    for i, tok in enumerate(tokens):
        torch.testing.assert_close(dec.step(tok, length + i), ref[i], atol=1e-4, rtol=1e-4)


def test_generation_matches_the_transformers_loop(model, data):
    pts = data[0]["obj1"]
    steer = [("rh_thdistal", (0.01, -0.02, 0.03))]
    for contacts in (None, steer):
        kw = dict(n=4, seed=3, temperature=1.0, top_p=0.9, contacts=contacts)
        fast = generate_grasps(model, pts, "hold it", fast=True, **kw)
        slow = generate_grasps(model, pts, "hold it", fast=False, **kw)
        assert [o.token_ids for o in fast] == [o.token_ids for o in slow]
        assert all(o.ok for o in fast)


def test_decoders_are_reused_and_checked(model):
    a = static_decoder(model.llm, 2, 70)
    assert a.max_len == 128 and static_decoder(model.llm, 2, 100) is a
    assert static_decoder(model.llm, 3, 70) is not a
    with pytest.raises(ValueError, match="position"):
        a.step(torch.zeros(2, dtype=torch.long), 128)
    with pytest.raises(ValueError, match="no room"):
        a.load_prompt(None, 128)


def test_sliding_window_models_use_the_transformers_loop(model):
    model.llm.config.use_sliding_window = True
    try:
        assert not fast_decode.supports(model.llm)
        with pytest.raises(ValueError, match="sliding"):
            StaticDecoder(model.llm, 1, 64)
    finally:
        model.llm.config.use_sliding_window = False


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_graph_step_equals_eager(model, data, dtype):
    model = model.to(device="cuda", dtype=dtype).eval()
    length, cache = _prefill(model, data)
    graphed = StaticDecoder(model.llm, 2, length + 8, use_cuda_graph=True)
    eager = StaticDecoder(model.llm, 2, length + 8, use_cuda_graph=False)
    for dec in (graphed, eager):
        dec.load_prompt(cache, length)
    g = torch.Generator().manual_seed(1)
    for i in range(5):
        tok = torch.randint(0, 200, (2,), generator=g).cuda()
        torch.testing.assert_close(graphed.step(tok, length + i), eager.step(tok, length + i))
    assert len(graphed._graphs) == 1
