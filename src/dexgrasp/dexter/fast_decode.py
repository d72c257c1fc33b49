"""One-token decode steps of the Qwen2 LLM over a preallocated key/value cache.

Generating a grasp is ~70-130 one-token steps over a few samples. Through the ``transformers``
model each step pays its Python machinery per layer (cache objects that grow by concatenation,
mask builders, wrappers): measured on an H200 at paper size, about 26 ms a token for a model whose
arithmetic takes a small fraction of that. :class:`StaticDecoder` runs the same layers (their
own norm, projection and MLP modules, so the weights are the model's) with the attention
written out over fixed-size key/value buffers:

- the prompt's keys/values (computed once by the ``transformers`` prefill, prefix-LM mask and
  all) are copied into the buffers, repeated for every sample;
- a step writes its token's keys/values at position ``pos`` and attends to positions
  ``0..pos`` through a mask, so every step has the same shapes;
- on CUDA the step is captured once as a CUDA graph (``dexgrasp.cuda_graph``) and replayed.

It supports the Qwen2 architecture without sliding-window attention (what DextER builds);
:func:`supports` says whether a model qualifies, and generation falls back to the
``transformers`` loop otherwise. ``tests/dexter/test_fast_decode.py`` checks that the logits
equal the ``transformers`` decode.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F

from dexgrasp.cuda_graph import GraphCache


def supports(llm: Any) -> bool:
    """True for a Qwen2 causal LM without sliding-window attention."""
    cfg = llm.config
    return cfg.model_type == "qwen2" and not getattr(cfg, "use_sliding_window", False)


def _cache_layer(cache: Any, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values (B, kv_heads, L, head_dim) of layer ``i`` of a transformers cache."""
    if hasattr(cache, "layers"):
        return cache.layers[i].keys, cache.layers[i].values
    return cache.key_cache[i], cache.value_cache[i]  # transformers < 4.54


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (the half-split convention of Qwen2)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class StaticDecoder:
    """Decode steps for ``batch`` samples of ``llm`` with room for ``max_len`` positions.

    Usage: :meth:`load_prompt` with the prefill's cache, then :meth:`step` once per token.
    Buffers are reused across prompts; a decoder serves one generation at a time.
    """

    def __init__(self, llm: Any, batch: int, max_len: int, use_cuda_graph: bool = True) -> None:
        if not supports(llm):
            raise ValueError("StaticDecoder needs a Qwen2 LLM without sliding-window attention")
        self.llm, self.batch, self.max_len = llm, batch, max_len
        cfg = llm.config
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        w = llm.get_input_embeddings().weight
        shape = (cfg.num_hidden_layers, batch, self.kv_heads, max_len, self.head_dim)
        self.k = torch.zeros(shape, dtype=w.dtype, device=w.device)
        self.v = torch.zeros(shape, dtype=w.dtype, device=w.device)
        self.positions = torch.arange(max_len, device=w.device)
        self.use_cuda_graph = use_cuda_graph and w.device.type == "cuda"
        self._graphs = GraphCache()

    def load_prompt(self, cache: Any, length: int) -> None:
        """Copy the first ``length`` positions of a batch-1 prefill cache into every sample."""
        if length >= self.max_len:
            raise ValueError(f"prompt of {length} tokens leaves no room in {self.max_len}")
        for i in range(self.k.shape[0]):
            k, v = _cache_layer(cache, i)
            self.k[i, :, :, :length] = k[:, :, :length]
            self.v[i, :, :, :length] = v[:, :, :length]

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, pos: int) -> torch.Tensor:
        """Feed (B,) token ids at position ``pos``; returns the next-token logits (B, V), float32."""
        if not 0 <= pos < self.max_len:
            raise ValueError(f"position {pos} outside the decoder's {self.max_len}")
        pos_t = torch.full((1,), pos, dtype=torch.long, device=self.k.device)
        if self.use_cuda_graph:
            return self._graphs(self._step, (tokens, pos_t))
        return self._step(tokens, pos_t)

    def _step(self, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Graph-safe body of :meth:`step`: ``pos`` is a (1,) device tensor, no host reads."""
        body = self.llm.model
        b = tokens.shape[0]
        h = body.embed_tokens(tokens)[:, None]  # (B, 1, D)
        cos, sin = body.rotary_emb(h, pos.expand(b)[:, None])  # (B, 1, head_dim)
        cos, sin = cos[:, None], sin[:, None]  # broadcast over heads
        visible = (self.positions <= pos)[None, None, None]  # (1, 1, 1, max_len)
        for i, layer in enumerate(body.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            q = attn.q_proj(x).view(b, 1, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(x).view(b, 1, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(x).view(b, 1, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            self.k[i].index_copy_(2, pos, k.to(self.k.dtype))
            self.v[i].index_copy_(2, pos, v.to(self.v.dtype))
            o = F.scaled_dot_product_attention(
                q, self.k[i].to(q.dtype), self.v[i].to(q.dtype), attn_mask=visible,
                scale=attn.scaling, enable_gqa=self.heads != self.kv_heads,
            )  # fmt: skip
            h = h + attn.o_proj(o.transpose(1, 2).reshape(b, 1, -1))
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        return self.llm.lm_head(body.norm(h)[:, 0]).float()


_DECODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def static_decoder(llm: Any, batch: int, min_len: int) -> StaticDecoder:
    """A decoder for ``llm`` with at least ``min_len`` positions, reused across calls (buffers
    and captured graphs) while the model lives; lengths round up to a multiple of 64."""
    max_len = -(-min_len // 64) * 64
    w = llm.get_input_embeddings().weight
    key = (batch, max_len, w.dtype, w.device, w.data_ptr())
    per_model = _DECODERS.setdefault(llm, {})
    if key not in per_model:
        per_model[key] = StaticDecoder(llm, batch, max_len)
    return per_model[key]
