"""DexterModel: prefix-LM mask, shapes, point encoder, save/load and overfitting a tiny batch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dexgrasp.dexter.data import DexterDataset, collate
from dexgrasp.dexter.model import DexterModel, prefix_lm_mask
from dexgrasp.dexter.point_encoder import (
    ExternalPointEncoder,
    GroupedPointEncoder,
    PointEncoderConfig,
    farthest_point_sample,
)


def _batch(model, data, n=2, dropout=0.0):
    objects, samples = data
    ds = DexterDataset(
        objects, samples[:n], model.tokenizer, model.num_point_tokens, dropout, train=False
    )
    return collate([ds[i] for i in range(n)], model.tokenizer.pad_id)


def test_prefix_lm_mask_pattern():
    valid = torch.tensor([[1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    is_point = torch.tensor([[0, 1, 1, 1, 0, 0]], dtype=torch.bool)
    allowed = prefix_lm_mask(valid, is_point, torch.float32)[0, 0] == 0
    assert allowed[1, 3] and allowed[2, 3]  # point tokens see later point tokens
    assert not allowed[0, 1]  # text before the points stays causal
    assert not allowed[4, 5] and allowed[4, 3] and allowed[4, 0]  # text after: causal
    assert not allowed[3, 4]  # points never see the text after them
    assert not allowed[4, 5] and not allowed[0, 5]  # padding is never a key
    assert allowed.diagonal().all()


def test_prefix_lm_attention_in_the_model(model, data):
    """Changing a late point token changes early point outputs; changing late text does not."""
    model.eval()
    b = _batch(model, data, n=1)
    ids, mask = b["input_ids"], b["attention_mask"]
    is_point = (ids[0] == model.tokenizer.vision_pad_id).nonzero().squeeze(1)
    first_pt, last_pt = int(is_point[0]), int(is_point[-1])
    with torch.no_grad():
        emb = model.encode_points(b["points"])
        h0 = _hidden(model, ids, mask, emb)
        emb2 = emb.clone()
        emb2[:, -1] += 1.0  # perturb the last point token
        h1 = _hidden(model, ids, mask, emb2)
        ids2 = ids.clone()
        ids2[0, -3] = model.tokenizer.link_ids[0]  # perturb a late text token
        h2 = _hidden(model, ids2, mask, emb)
    assert (h1[0, first_pt] - h0[0, first_pt]).abs().max() > 1e-4  # bidirectional among points
    assert torch.allclose(h2[0, : ids.shape[1] - 3], h0[0, : ids.shape[1] - 3], atol=1e-5)  # causal
    assert (h2[0, -3:] - h0[0, -3:]).abs().max() > 1e-4
    assert last_pt > first_pt


def _hidden(model, ids, mask, point_tokens):
    embeds = model.embed(ids, point_tokens)
    is_point = ids == model.tokenizer.vision_pad_id
    m4 = prefix_lm_mask(mask.bool(), is_point, embeds.dtype)
    return model.llm.model(inputs_embeds=embeds, attention_mask=m4).last_hidden_state


def test_forward_shapes_and_loss(model, data):
    b = _batch(model, data, n=3)
    loss, info = model(b)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert info["tokens"] == int((b["labels"][:, 1:] != -100).sum())
    loss.backward()
    assert model.point_encoder.embed.first[0].weight.grad is not None  # gradients reach points


def test_point_encoder_shapes_and_fps():
    cfg = PointEncoderConfig(num_points=128, num_groups=16, group_size=8, dim=32, depth=1, heads=2)
    enc = GroupedPointEncoder(cfg).eval()
    out = enc(torch.rand(2, 300, 3))
    assert out.shape == (2, 16, 32)
    pts = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0.1, 0, 0], [0, 1, 0]]])
    assert farthest_point_sample(pts, 3)[0].tolist() == [0, 1, 3]
    with pytest.raises(ValueError, match="at least 128 points"):
        enc(torch.rand(1, 50, 3))
    with pytest.raises(ValueError, match="num_groups"):
        PointEncoderConfig(num_points=8, num_groups=16)


def test_external_encoder_adapter(model):
    class Fake(torch.nn.Module):  # stands in for a user-loaded PartField/Uni3D module
        def forward(self, p):
            return p[:, :4].repeat(1, 1, 2)  # (B, 4, 6)

    enc = ExternalPointEncoder(Fake(), out_dim=6, num_tokens=4)
    assert enc(torch.rand(2, 10, 3)).shape == (2, 4, 6)
    with pytest.raises(ValueError, match="expected"):
        ExternalPointEncoder(Fake(), out_dim=5, num_tokens=4)(torch.rand(1, 10, 3))
    m = DexterModel(model.config, model.tokenizer, model.llm, point_encoder=enc)
    assert m.encode_points(torch.rand(1, 10, 3)).shape == (1, 4, model.llm.config.hidden_size)


def test_external_encoder_checkpoint(model, tmp_path):
    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(3, 6)

        def forward(self, p):
            return self.proj(p[:, :4])

    m = DexterModel(model.config, model.tokenizer, model.llm, ExternalPointEncoder(Lin(), 6, 4))
    m.save_pretrained(tmp_path)
    back = DexterModel.from_pretrained(tmp_path, point_encoder=ExternalPointEncoder(Lin(), 6, 4))
    pts = torch.rand(1, 10, 3)
    assert torch.allclose(back.encode_points(pts), m.encode_points(pts), atol=1e-6)
    with pytest.raises(ValueError, match="does not match"):
        DexterModel.from_pretrained(tmp_path)  # saved with an external encoder


def test_save_load_round_trip(model, data, tmp_path):
    model.eval()
    b = _batch(model, data)
    model.save_pretrained(tmp_path)
    back = DexterModel.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.allclose(model(b)[0], back(b)[0], atol=1e-6)
    np.testing.assert_array_equal(back.tokenizer.q_high, model.tokenizer.q_high)
    # a mismatched config fails loudly
    cfg = json.loads((tmp_path / "llm_config.json").read_text())
    cfg["intermediate_size"] = 96
    (tmp_path / "llm_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not match"):
        DexterModel.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        DexterModel.from_pretrained(tmp_path)


def test_pretrained_llm_missing_weights_is_clear(tmp_path):
    from dexgrasp.dexter.config import DexterConfig

    cfg = DexterConfig(llm_init="pretrained", llm_name_or_path=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="Qwen2.5-0.5B"):
        DexterModel.build(cfg)


def test_qwen_tokenizer_from_directory(tmp_path):
    """A Qwen2.5-style tokenizer directory (ChatML tokens) loads through AutoTokenizer."""
    from dexgrasp.dexter.tokenizer import DexterTokenizer, build_offline_text_tokenizer

    build_offline_text_tokenizer().save_pretrained(tmp_path)
    tok = DexterTokenizer.from_pretrained(tmp_path)
    assert tok.text.convert_ids_to_tokens(int(tok.action_ids[-1])) == "<action_bin_255>"


def test_overfit_tiny_batch(model, data):
    torch.manual_seed(0)
    b = _batch(model, data, n=2, dropout=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(120):
        loss, info = model(b)
        first = first or info["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        _, info = model(b)
    assert info["loss"] < 0.1 * first and info["acc"] > 0.95


def test_ordinal_bin_embeddings_are_ordered_and_tied(micro_config):
    from dexgrasp.dexter.model import ordinal_embeddings

    e = ordinal_embeddings(256, 64, std=0.02, seed=1)
    assert e.shape == (256, 64) and abs(float(e.std()) - 0.02) < 2e-3
    cos = torch.nn.functional.cosine_similarity
    near, far = cos(e[100], e[101], dim=0), cos(e[100], e[200], dim=0)
    assert near > 0.9 and far < 0.5
    torch.manual_seed(0)
    m = DexterModel.build(micro_config(ordinal_bins=True))
    w = m.llm.get_input_embeddings().weight.detach()
    pos, act = torch.as_tensor(m.tokenizer.pos_ids), torch.as_tensor(m.tokenizer.action_ids)
    assert cos(w[pos[10]], w[pos[11]], dim=0) > 0.9
    assert abs(float(cos(w[pos[10]], w[act[10]], dim=0))) < 0.5  # families differ
    assert m.llm.lm_head.weight.data_ptr() == w.data_ptr()  # the output head reads them too
    plain = DexterModel.build(micro_config()).llm.get_input_embeddings().weight.detach()
    assert cos(plain[pos[10]], plain[pos[11]], dim=0) < 0.5


def test_point_bin_tokens(micro_config, data, tmp_path):
    from dexgrasp.dexter.data import fit_tokenizer

    torch.manual_seed(0)
    m = DexterModel.build(micro_config(point_bin_tokens=True, ordinal_bins=True))
    fit_tokenizer(m.tokenizer, data[1])
    tok = m.tokenizer
    # a centre at bin centres (3, 7, 250) reads exactly those three bin embeddings
    bins = np.array([3, 7, 250])
    centre = torch.as_tensor(tok.bins_to_positions(bins), dtype=torch.float32)[None, None]
    table = m.llm.get_input_embeddings().weight[torch.as_tensor(tok.pos_ids[bins])]
    unit = table / table.pow(2).mean(-1, keepdim=True).sqrt()
    expect = m.centre_maps(unit.flatten()[None, None])
    assert torch.allclose(m.centre_tokens(centre), expect, atol=1e-5)
    # positions outside the bounds clamp to the end bins
    far = torch.as_tensor(tok.pos_high * 10, dtype=torch.float32)[None, None]
    last = torch.as_tensor(tok.bins_to_positions(np.full(3, 255)), dtype=torch.float32)[None, None]
    assert torch.allclose(m.centre_tokens(far), m.centre_tokens(last), atol=1e-5)
    # gradients reach the bin embeddings through the point tokens; save/load keeps the maps
    b = _batch(m, data)
    m(b)[0].backward()
    assert m.centre_maps.weight.grad is not None
    assert m.llm.get_input_embeddings().weight.grad[tok.pos_ids].abs().sum() > 0
    m.eval().save_pretrained(tmp_path)
    back = DexterModel.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.allclose(m(b)[0], back(b)[0], atol=1e-6)
    with pytest.raises(ValueError, match="grouped-point encoder"):
        DexterModel(m.config, tok, m.llm, ExternalPointEncoder(torch.nn.Identity(), 3, 4))
