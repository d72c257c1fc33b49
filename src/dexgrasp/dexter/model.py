"""DextER: point encoder -> 2-layer MLP projector -> Qwen2 LLM with a prefix-LM attention mask.

Example::

    from dexgrasp.dexter import DexterConfig, DexterModel, generate_grasps

    model = DexterModel.build(DexterConfig.preset("tiny"))      # random weights, offline
    model.tokenizer.fit(train_grasps, train_contact_points)      # normalisation statistics
    loss, info = model(batch)                                    # see dexgrasp.dexter.data.collate
    grasps = generate_grasps(model, points, "grasp the mug by its handle", n=8)
    model.save_pretrained("runs/dexter")                          # config.json, model.safetensors, tokenizer/
    model = DexterModel.from_pretrained("runs/dexter")
    model = DexterModel.from_pretrained("shipped")                # the tiny model packaged with the library

The point cloud fills the ``<|vision_pad|>`` placeholders of the prompt. Point tokens attend to
each other in both directions; every other token attends causally (:func:`prefix_lm_mask`).
"""

from __future__ import annotations

import copy
import functools
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dexgrasp.dexter.config import DexterConfig
from dexgrasp.dexter.point_encoder import GroupedPointEncoder
from dexgrasp.dexter.tokenizer import STATS_FILE, DexterTokenizer


@functools.cache
def _cache_keyword() -> str:
    """The Qwen2 body's key/value-cache argument: ``cache`` from transformers 5.2x on,
    ``past_key_values`` before."""
    import inspect

    from transformers import Qwen2Model

    params = inspect.signature(Qwen2Model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


CONFIG_FILE = "config.json"
LLM_CONFIG_FILE = "llm_config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
PROVENANCE_FILE = "provenance.json"
IGNORE_INDEX = -100
# The tiny contacts-first model packaged with the library (`dexgrasp export dexter`):
# `dexgrasp generate` without --model, `--model shipped`, `DexterModel.from_pretrained("shipped")`.
SHIPPED_DEXTER = Path(__file__).resolve().parents[1] / "checkpoints" / "dexter_tiny"


def resolve_model_dir(spec: str | Path) -> Path:
    """The DextER checkpoint directory ``spec`` names: ``"shipped"`` (the packaged model) or a
    directory written by :meth:`DexterModel.save_pretrained`."""
    if str(spec) != "shipped":
        return Path(spec)
    if not (SHIPPED_DEXTER / CONFIG_FILE).is_file():
        raise FileNotFoundError(
            f"'shipped': this installation has no packaged DextER model at {SHIPPED_DEXTER}; "
            "train one (`dexgrasp train dexter --data DIR --out runs/dexter`) and pass its "
            "directory"
        )
    return SHIPPED_DEXTER


def prefix_lm_mask(valid: torch.Tensor, is_point: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive 4-D prefix-LM attention mask.

    Args:
        valid: (B, L) bool, False on padding.
        is_point: (B, L) bool, True on point-cloud tokens.
        dtype: float dtype of the attention scores.

    Returns:
        (B, 1, L, L): 0 where query i may attend to key j (j <= i, or both are point tokens; key
        not padding), the dtype's minimum elsewhere. Every row keeps its diagonal, so padded
        queries never produce NaNs.
    """
    b, n = valid.shape
    idx = torch.arange(n, device=valid.device)
    allowed = (idx[None, :, None] >= idx[None, None, :]) | (
        is_point[:, :, None] & is_point[:, None, :]
    )
    allowed = (allowed & valid[:, None, :]) | torch.eye(n, dtype=torch.bool, device=valid.device)
    mask = torch.zeros(b, 1, n, n, dtype=dtype, device=valid.device)
    return mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)


def ordinal_embeddings(n: int, width: int, std: float, seed: int) -> torch.Tensor:
    """(n, width) embeddings of n ordered bins: sinusoids of each bin's centre, rotated.

    Frequencies run geometrically from a quarter turn over the whole range to about n / 8 turns,
    so neighbouring bins are close and distant bins differ. The features are centred over the
    bins, turned by a random orthogonal matrix (``seed``: different bin families get different
    directions) and scaled to ``std`` per entry.
    """
    if n < 1 or width < 1:
        raise ValueError(f"ordinal_embeddings: need n >= 1 and width >= 1, got {n}, {width}")
    gen = torch.Generator().manual_seed(seed)
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    half = max(width // 2, 1)
    freqs = torch.pi * torch.logspace(-1.0, math.log2(max(n, 2) / 4), half, base=2.0)
    angles = u[:, None] * freqs[None, :]
    feats = torch.cat([angles.sin(), angles.cos()], dim=1)[:, :width]
    if feats.shape[1] < width:
        feats = torch.cat([feats, torch.zeros(n, width - feats.shape[1])], dim=1)
    feats = feats - feats.mean(0, keepdim=True)
    q, _ = torch.linalg.qr(torch.randn(width, width, generator=gen, dtype=torch.float64))
    feats = feats @ q
    rms = feats.pow(2).mean().sqrt().clamp(min=1e-12)
    return (feats * (std / rms)).float()


def init_ordinal_bins(llm: nn.Module, tokenizer: DexterTokenizer) -> None:
    """Overwrite the position-bin and action-bin rows of the input embedding (tied to the output
    head in the presets) with :func:`ordinal_embeddings` at the scale of the other rows."""
    weight = llm.get_input_embeddings().weight
    pos_ids = torch.as_tensor(tokenizer.pos_ids)
    act_ids = torch.as_tensor(tokenizer.action_ids)
    other = torch.ones(weight.shape[0], dtype=torch.bool)
    other[pos_ids] = other[act_ids] = False
    std = float(weight.detach()[other].float().std())
    width = weight.shape[1]
    with torch.no_grad():
        for ids, seed in ((pos_ids, 1), (act_ids, 2)):
            weight[ids] = ordinal_embeddings(len(ids), width, std, seed).to(weight)


def _require_transformers():
    try:
        import transformers
    except ImportError as err:  # pragma: no cover
        raise ImportError("DextER needs transformers: pip install 'dexgrasp[hf]'") from err
    return transformers


def _build_llm(config: DexterConfig, vocab: int) -> nn.Module:
    """A Qwen2ForCausalLM: random weights from ``llm_arch`` or loaded with ``from_pretrained``."""
    transformers = _require_transformers()
    if config.llm_init == "pretrained":
        try:
            llm = transformers.Qwen2ForCausalLM.from_pretrained(
                config.llm_name_or_path, attn_implementation=config.attn_implementation
            )
        except OSError as err:
            raise FileNotFoundError(
                f"could not load LLM weights from {config.llm_name_or_path!r}. Download "
                "Qwen2.5-0.5B (e.g. `huggingface-cli download Qwen/Qwen2.5-0.5B --local-dir DIR`) and "
                "pass that directory, or use the offline preset `--config tiny`"
            ) from err
        if llm.get_input_embeddings().num_embeddings < vocab:
            llm.resize_token_embeddings(vocab, pad_to_multiple_of=64)
        return llm
    arch = dict(config.llm_arch)
    arch["vocab_size"] = max(int(arch.get("vocab_size") or 0), -(-vocab // 64) * 64)
    llm_config = transformers.Qwen2Config(**arch)
    llm_config._attn_implementation = config.attn_implementation
    return transformers.Qwen2ForCausalLM(llm_config)


class DexterModel(nn.Module):
    """DextER grasp generator (see the module docstring for usage).

    Args:
        config: model configuration.
        tokenizer: the :class:`DexterTokenizer` whose ids the LLM reads and writes.
        llm: a ``Qwen2ForCausalLM`` whose vocabulary covers the tokenizer.
        point_encoder: module mapping (B, N, 3) points to (B, M, d) tokens, with ``out_dim`` and
            ``num_tokens`` attributes (default: the grouped-point encoder of ``config``).
    """

    def __init__(
        self,
        config: DexterConfig,
        tokenizer: DexterTokenizer,
        llm: nn.Module,
        point_encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.llm = llm
        self.point_encoder = point_encoder or GroupedPointEncoder(config.point_encoder)
        width = llm.config.hidden_size
        hidden = config.projector_hidden or width
        self.projector = nn.Sequential(
            nn.Linear(self.point_encoder.out_dim, hidden), nn.GELU(), nn.Linear(hidden, width)
        )
        if llm.get_input_embeddings().num_embeddings < len(tokenizer):
            raise ValueError(
                f"LLM vocabulary ({llm.get_input_embeddings().num_embeddings}) is smaller than the "
                f"tokenizer ({len(tokenizer)})"
            )
        self.centre_maps: nn.Linear | None = None
        if config.point_bin_tokens:
            if not isinstance(self.point_encoder, GroupedPointEncoder):
                raise ValueError(
                    "DexterConfig.point_bin_tokens needs the grouped-point encoder (it embeds the "
                    f"group centres); got {type(self.point_encoder).__name__}"
                )
            # x, y and z bin embeddings (unit RMS each) -> one token-width vector, starting at
            # about the projector's output scale (RMS ~0.2 at init) so neither term drowns out
            # the other
            self.centre_maps = nn.Linear(3 * width, width, bias=False)
            nn.init.normal_(self.centre_maps.weight, std=0.25 * (3 * width) ** -0.5)
            self.register_buffer(
                "pos_bin_ids", torch.as_tensor(tokenizer.pos_ids), persistent=False
            )

    @property
    def num_point_tokens(self) -> int:
        return int(self.point_encoder.num_tokens)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @classmethod
    def build(cls, config: DexterConfig, tokenizer: DexterTokenizer | None = None) -> DexterModel:
        """Create the tokenizer (unless given) and the LLM as the config says."""
        if tokenizer is None:
            kwargs = {
                "n_pos_bins": config.n_pos_bins,
                "n_action_bins": config.n_action_bins,
                "max_contacts_per_link": config.max_contacts_per_link,
            }
            if config.tokenizer == "offline":
                tokenizer = DexterTokenizer.offline(**kwargs)
            else:
                tokenizer = DexterTokenizer.from_pretrained(config.tokenizer, **kwargs)
        llm = _build_llm(config, len(tokenizer))
        if config.ordinal_bins:
            init_ordinal_bins(llm, tokenizer)
        return cls(config, tokenizer, llm)

    # ----------------------------------------------------------------- forward
    def encode_points(self, points: torch.Tensor) -> torch.Tensor:
        """points (B, N, 3) metres -> projected point tokens (B, M, hidden)."""
        dtype = self.llm.get_input_embeddings().weight.dtype
        if self.centre_maps is None:
            return self.projector(self.point_encoder(points)).to(dtype)
        feats, centres = self.point_encoder(points, return_centres=True)
        return (self.projector(feats) + self.centre_tokens(centres)).to(dtype)

    def centre_tokens(self, centres: torch.Tensor) -> torch.Tensor:
        """Group centres (B, M, 3) metres -> (B, M, hidden) from the position-bin embeddings.

        Each coordinate is placed on the tokenizer's position bins (linear interpolation between
        the two nearest bin centres, clamped to the fitted bounds); its bin embedding, scaled to
        unit RMS, goes through ``centre_maps`` with the other two axes.
        """
        tok = self.tokenizer
        if not tok.is_fitted:
            raise RuntimeError("point_bin_tokens needs the tokenizer's fitted position bounds")
        n = tok.n_pos_bins
        low = torch.as_tensor(tok.pos_low, dtype=torch.float32, device=centres.device)
        high = torch.as_tensor(tok.pos_high, dtype=torch.float32, device=centres.device)
        v = ((centres.float() - low) / (high - low) * n - 0.5).clamp(0, n - 1)
        i0 = v.floor().long().clamp(max=max(n - 2, 0))
        w = (v - i0)[..., None]
        table = self.llm.get_input_embeddings().weight[self.pos_bin_ids].float()
        emb = table[i0] * (1 - w) + table[(i0 + 1).clamp(max=n - 1)] * w  # (B, M, 3, hidden)
        emb = emb * emb.pow(2).mean(-1, keepdim=True).add(1e-12).rsqrt()
        return self.centre_maps(emb.flatten(-2).to(self.centre_maps.weight.dtype))

    def embed(self, input_ids: torch.Tensor, point_tokens: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, L, hidden) with the (B, M, hidden) point tokens at the placeholders."""
        emb = self.llm.get_input_embeddings()(input_ids)
        is_point = input_ids == self.tokenizer.vision_pad_id
        counts = is_point.sum(1)
        if not torch.all(counts == point_tokens.shape[1]):
            raise ValueError(
                f"every sequence needs {point_tokens.shape[1]} <|vision_pad|> tokens, got "
                f"{counts.tolist()}"
            )
        return emb.masked_scatter(is_point[..., None], point_tokens.to(emb.dtype))

    def body(self, cache: Any = None, **kwargs: Any) -> tuple[torch.Tensor, Any]:
        """The LLM body (no head) on ``kwargs``, continuing ``cache`` when given: returns the
        last hidden states and the cache. Hides the cache keyword's rename in transformers 5
        (``past_key_values`` -> ``cache``)."""
        if cache is not None or kwargs.get("use_cache"):
            kwargs[_cache_keyword()] = cache
        out = self.llm.model(**kwargs)
        return out.last_hidden_state, out.get(_cache_keyword())

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        points: torch.Tensor,
        cache: Any = None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Any]:
        """Run the LLM body over a (B, L) batch (right-padded) with its prefix-LM mask.

        Returns (B, L, hidden) last hidden states and the KV cache (when ``use_cache``).
        """
        embeds = self.embed(input_ids, self.encode_points(points))
        valid = attention_mask.bool()
        is_point = input_ids == self.tokenizer.vision_pad_id
        mask = prefix_lm_mask(valid, is_point, embeds.dtype)
        position_ids = (valid.long().cumsum(1) - 1).clamp(min=0)
        return self.body(
            cache,
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=use_cache,
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Next-token loss on the answer tokens only.

        Args:
            batch: ``input_ids`` (B, L) long, ``attention_mask`` (B, L), ``labels`` (B, L) long with
                -100 outside the assistant answer, ``points`` (B, N, 3) float metres.

        Returns:
            (loss, info) with ``loss`` (float), ``acc`` (answer-token accuracy), ``tokens``.
        """
        hidden, _ = self.hidden_states(batch["input_ids"], batch["attention_mask"], batch["points"])
        labels = batch["labels"][:, 1:]
        sel = labels != IGNORE_INDEX
        if not sel.any():
            raise ValueError("batch has no answer tokens to train on (labels are all -100)")
        logits = self.llm.lm_head(hidden[:, :-1][sel]).float()  # only where a target exists
        target = labels[sel]
        loss = nn.functional.cross_entropy(logits, target)
        with torch.no_grad():
            acc = (logits.argmax(-1) == target).float().mean()
        return loss, {"loss": float(loss.detach()), "acc": float(acc), "tokens": int(sel.sum())}

    # ----------------------------------------------------------------- persistence
    def save_pretrained(
        self, directory: str | Path, weights_dtype: torch.dtype | None = None
    ) -> None:
        """Write ``config.json``, ``llm_config.json``, ``model.safetensors`` and ``tokenizer/``.

        ``weights_dtype`` (e.g. ``torch.float16``: half the size) stores the floating-point
        weights in that type; :meth:`from_pretrained` casts them back to the model's."""
        from safetensors.torch import save_model

        if not self.tokenizer.is_fitted:
            raise RuntimeError("refusing to save a model whose tokenizer has no fitted statistics")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(directory / TOKENIZER_DIR)
        cfg = self.config.to_dict()
        (directory / CONFIG_FILE).write_text(json.dumps(cfg, indent=1))
        (directory / LLM_CONFIG_FILE).write_text(self.llm.config.to_json_string())
        tmp = directory / (WEIGHTS_FILE + ".tmp")
        stored = self if weights_dtype is None else copy.deepcopy(self).to(weights_dtype)
        save_model(stored, str(tmp))
        tmp.replace(directory / WEIGHTS_FILE)

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        device: str | torch.device = "cpu",
        point_encoder: nn.Module | None = None,
    ) -> DexterModel:
        """Load a directory written by :meth:`save_pretrained` (or ``"shipped"``, the packaged
        model; see :func:`resolve_model_dir`); fails loudly on missing pieces.

        Pass ``point_encoder`` (e.g. an :class:`ExternalPointEncoder`) when the model was saved
        with one; its weights are restored from the checkpoint too.
        """
        from safetensors.torch import load_model

        transformers = _require_transformers()
        directory = resolve_model_dir(directory)
        for name in (CONFIG_FILE, LLM_CONFIG_FILE, WEIGHTS_FILE, f"{TOKENIZER_DIR}/{STATS_FILE}"):
            if not (directory / name).is_file():
                raise FileNotFoundError(
                    f"DextER checkpoint {directory} is missing {name}; save it with "
                    "DexterModel.save_pretrained or `dexgrasp train dexter`"
                )
        config = DexterConfig.from_dict(json.loads((directory / CONFIG_FILE).read_text()))
        tokenizer = DexterTokenizer.from_pretrained(directory / TOKENIZER_DIR)
        if not tokenizer.is_fitted:
            raise ValueError(f"{directory}/{TOKENIZER_DIR} has no normalisation statistics")
        try:
            llm_config = transformers.Qwen2Config.from_json_file(str(directory / LLM_CONFIG_FILE))
        except (ValueError, TypeError, OSError) as err:
            raise ValueError(
                f"{directory}/{LLM_CONFIG_FILE} is not a valid Qwen2 config: {err}"
            ) from err
        llm_config._attn_implementation = config.attn_implementation
        model = cls(config, tokenizer, transformers.Qwen2ForCausalLM(llm_config), point_encoder)
        try:
            missing, unexpected = load_model(model, str(directory / WEIGHTS_FILE), strict=False)
        except RuntimeError as err:  # shape mismatches
            raise ValueError(
                f"{directory}/{WEIGHTS_FILE} does not match the config: {err}"
            ) from err
        if missing or unexpected:
            raise ValueError(
                f"{directory}/{WEIGHTS_FILE} does not match the config: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        return model.to(device).eval()
