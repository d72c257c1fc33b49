"""DextER: language-driven dexterous grasp generation with contact reasoning.

Point cloud + instruction -> (contacts, 28-D Shadow Hand grasp) tokens from a Qwen2 LLM.

>>> from dexgrasp.dexter import DexterModel, generate_grasps
>>> model = DexterModel.from_pretrained("runs/dexter")
>>> grasps = generate_grasps(model, points, "hold the mug by its handle", n=8)

Names are imported lazily so that ``dexgrasp --help`` does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DexterConfig": "dexgrasp.dexter.config",
    "DexterModel": "dexgrasp.dexter.model",
    "prefix_lm_mask": "dexgrasp.dexter.model",
    "DexterTokenizer": "dexgrasp.dexter.tokenizer",
    "DecodeError": "dexgrasp.dexter.tokenizer",
    "GroupedPointEncoder": "dexgrasp.dexter.point_encoder",
    "ExternalPointEncoder": "dexgrasp.dexter.point_encoder",
    "PointEncoderConfig": "dexgrasp.dexter.point_encoder",
    "GraspGrammar": "dexgrasp.dexter.grammar",
    "generate_grasps": "dexgrasp.dexter.generate",
    "GeneratedGrasp": "dexgrasp.dexter.generate",
    "TrainConfig": "dexgrasp.dexter.train",
    "train": "dexgrasp.dexter.train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dexgrasp.dexter' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
