"""DextER model configuration (dataclass validated on construction) and the tiny / paper presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dexgrasp.dexter.point_encoder import PointEncoderConfig

# Qwen2.5-0.5B's architecture, so a randomly initialised "paper" model has the real size/speed.
QWEN25_05B_ARCH: dict[str, Any] = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "vocab_size": 151936,
}
TINY_ARCH: dict[str, Any] = {
    "hidden_size": 192,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "vocab_size": 0,  # 0: the tokenizer's size
}
LLM_INITS = ("scratch", "pretrained")


@dataclass
class DexterConfig:
    """Everything needed to rebuild a DextER model.

    Attributes:
        llm_init: "scratch" (random weights from ``llm_arch``) or "pretrained"
            (``Qwen2ForCausalLM.from_pretrained(llm_name_or_path)``).
        llm_name_or_path: hub id or local directory of a Qwen2-architecture LLM (pretrained init).
        llm_arch: Qwen2Config fields for scratch init (``vocab_size`` 0 = tokenizer size).
        tokenizer: "offline" (library-built BPE) or a hub id / directory of a Qwen2.5 tokenizer;
            pretrained init defaults to ``llm_name_or_path``.
        point_encoder: grouped-point tokenizer sizes.
        projector_hidden: hidden width of the 2-layer MLP projector (0: the LLM width).
        n_pos_bins / n_action_bins: token bins (paper: 256 / 256).
        grasp_quantiles / grasp_margin: how the action-bin ranges are fitted on training grasps
            (``DexterTokenizer.fit``); (0, 1) = min and max.
        max_contacts_per_link: contact blocks per link in one answer.
        action_only: no contact reasoning (the "w/o ER" ablation).
        augment_rotation: train on objects turned by random angles about the vertical axis
            (points, contacts and grasp together); the tokenizer's ranges are fitted to cover
            them. Against memorising whole training grasps.
        augment_shift: train on objects moved by a random offset of up to this many metres
            along each axis (points, contacts and grasp translation together; 0 = off). The
            object frame's origin is arbitrary, so this is an exact symmetry of the data; it
            makes the grasp's place readable only from the points.
        ordinal_bins: initialise the position-bin and action-bin token embeddings (tied to
            the output head) with sinusoids of the bin's value, so neighbouring bins start out
            alike instead of as unrelated random vectors (not in the paper; a model trained
            from scratch otherwise has to learn the order of 256 bins from their co-occurrence).
        point_bin_tokens: add to each point token the LLM's own position-bin embeddings of its
            group centre (x, y and z, each through a learned linear map), so a point token says
            where it is in the same tokens a contact position is written in (not in the paper;
            needs the grouped-point encoder).
        attn_implementation: transformers attention backend ("sdpa" or "eager").
    """

    llm_init: str = "scratch"
    llm_name_or_path: str = ""
    llm_arch: dict[str, Any] = field(default_factory=lambda: dict(TINY_ARCH))
    tokenizer: str = "offline"
    point_encoder: PointEncoderConfig = field(default_factory=PointEncoderConfig)
    projector_hidden: int = 0
    n_pos_bins: int = 256
    n_action_bins: int = 256
    grasp_quantiles: tuple[float, float] = (0.0, 1.0)
    grasp_margin: float = 0.0
    max_contacts_per_link: int = 1
    action_only: bool = False
    augment_rotation: bool = False
    augment_shift: float = 0.0
    ordinal_bins: bool = False
    point_bin_tokens: bool = False
    attn_implementation: str = "sdpa"

    def __post_init__(self) -> None:
        self.grasp_quantiles = tuple(self.grasp_quantiles)  # type: ignore[assignment]
        if not (
            len(self.grasp_quantiles) == 2
            and 0 <= self.grasp_quantiles[0] < self.grasp_quantiles[1] <= 1
        ):
            raise ValueError(
                f"DexterConfig.grasp_quantiles must be (low, high) with 0 <= low < high <= 1, "
                f"got {self.grasp_quantiles}"
            )
        if not 0 <= self.augment_shift < 1:
            raise ValueError(
                f"DexterConfig.augment_shift is in metres and must be in [0, 1), "
                f"got {self.augment_shift}"
            )
        if self.grasp_margin < 0:
            raise ValueError(f"DexterConfig.grasp_margin must be >= 0, got {self.grasp_margin}")
        if isinstance(self.point_encoder, dict):
            self.point_encoder = PointEncoderConfig(**self.point_encoder)
        if self.llm_init not in LLM_INITS:
            raise ValueError(
                f"DexterConfig.llm_init must be one of {LLM_INITS}, got {self.llm_init!r}"
            )
        if self.llm_init == "pretrained" and not self.llm_name_or_path:
            raise ValueError("DexterConfig.llm_name_or_path is required when llm_init='pretrained'")
        if self.llm_init == "scratch":
            for key in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
                if int(self.llm_arch.get(key, 0)) < 1:
                    raise ValueError(f"DexterConfig.llm_arch[{key!r}] must be >= 1")
        for name in ("n_pos_bins", "n_action_bins", "max_contacts_per_link"):
            if getattr(self, name) < 1:
                raise ValueError(f"DexterConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.projector_hidden < 0:
            raise ValueError("DexterConfig.projector_hidden must be >= 0")
        if self.attn_implementation not in ("sdpa", "eager"):
            raise ValueError("DexterConfig.attn_implementation must be 'sdpa' or 'eager'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DexterConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"DexterConfig: unknown field(s) {unknown}")
        return cls(**data)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> DexterConfig:
        """``tiny`` (offline, trains on 2 CPU cores) or ``paper`` (Qwen2.5-0.5B sizes).

        ``paper`` loads Qwen2.5-0.5B weights; pass ``llm_init="scratch"`` for random weights of the
        same size (benchmarks).
        """
        if name == "tiny":
            base: dict[str, Any] = {
                "point_encoder": PointEncoderConfig(
                    num_points=1024, num_groups=32, group_size=32, dim=128, depth=2, heads=4
                ),
            }
        elif name == "paper":
            base = {
                "llm_init": "pretrained",
                "llm_name_or_path": "Qwen/Qwen2.5-0.5B",
                "tokenizer": "Qwen/Qwen2.5-0.5B",
                "llm_arch": dict(QWEN25_05B_ARCH),
                "point_encoder": PointEncoderConfig(
                    num_points=8192, num_groups=512, group_size=32, dim=384, depth=4, heads=6
                ),
            }
            if overrides.get("llm_init") == "scratch":
                base["tokenizer"], base["llm_name_or_path"] = "offline", ""
        else:
            raise ValueError(f"unknown DextER preset {name!r}; expected 'tiny' or 'paper'")
        base.update(overrides)
        return cls(**base)
