"""DexGraspVLA controller: DINOv2 / mask-ViT observation encoding and a DiT diffusion action head.

    from dexgrasp.vla.controller import DexGraspVLAController, ControllerConfig
    policy = DexGraspVLAController.from_pretrained("runs/ctrl")

Names are imported lazily so that ``dexgrasp --help`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ControllerConfig": "configuration",
    "EncoderConfig": "configuration",
    "TrainConfig": "configuration",
    "ConfigError": "configuration",
    "DexGraspVLAController": "modeling",
    "CheckpointError": "checkpoint",
    "Normalizer": "normalize",
    "ControllerDataset": "dataset",
    "FeatureCache": "dataset",
    "train_controller": "train",
    "evaluate_controller": "evaluate",
    "EvalResult": "evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)
