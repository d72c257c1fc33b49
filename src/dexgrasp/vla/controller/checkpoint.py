"""Controller checkpoints: one directory with the config, the trainable weights and the
normalisation statistics, checked against each other on load.

    save_checkpoint(policy, "runs/ctrl")             # policy.save_pretrained("runs/ctrl")
    policy = load_checkpoint(DexGraspVLAController, "runs/ctrl")

Layout: ``config.json`` (``ControllerConfig``), ``model.safetensors`` (trainable weights only:
frozen foundation encoders are referenced by hub id or path in the config, not stored; the
file's metadata names the format and the fingerprint of the statistics it was trained with)
and ``normalization.json`` (``Normalizer``). A missing piece, statistics that do not match the
weights, or weights that do not match the config raise ``CheckpointError`` saying which.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from dexgrasp.constants import ACTION, OBS_STATE
from dexgrasp.vla.controller.configuration import ControllerConfig
from dexgrasp.vla.controller.normalize import Normalizer

if TYPE_CHECKING:
    from dexgrasp.vla.controller.encoders import ImageEncoder

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
STATS_NAME = "normalization.json"
CHECKPOINT_FORMAT = "dexgrasp-controller/1"


class CheckpointError(RuntimeError):
    """A controller checkpoint is missing a piece or its pieces do not match."""


def save_checkpoint(
    model: Any, directory: str | Path, weights_dtype: torch.dtype | None = None
) -> Path:
    """Write ``model``'s config, trainable weights (cast to ``weights_dtype`` when given, e.g.
    ``torch.float16`` for half the size) and normalisation statistics to ``directory``."""
    from safetensors.torch import save_file

    norm = model._require_normalizer()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.config.save(out / CONFIG_NAME)
    norm.save(out / STATS_NAME)
    tensors = {}
    for k, v in model.trainable_state_dict().items():
        v = v.detach().cpu()
        if weights_dtype is not None and v.is_floating_point():
            v = v.to(weights_dtype)
        tensors[k] = v.contiguous()
    meta = {"format": CHECKPOINT_FORMAT, "stats_fingerprint": norm.fingerprint()}
    save_file(tensors, str(out / WEIGHTS_NAME), metadata=meta)
    return out


def load_checkpoint(
    cls: type,
    directory: str | Path,
    device: str | torch.device = "cpu",
    encoder_paths: dict[str, str] | None = None,
    encoders: dict[str, ImageEncoder] | None = None,
) -> Any:
    """Build ``cls(config, normalizer=..., encoders=...)`` from ``directory`` and load its
    weights (cast to the model's dtype), in eval mode on ``device``. ``encoder_paths``
    (``{"head": DIR, "wrist": DIR}``) overrides the stored frozen-encoder locations."""
    from safetensors import safe_open

    src = Path(directory)
    if not src.is_dir():
        raise CheckpointError(f"controller checkpoint {src} is not a directory")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (src / name).is_file():
            raise CheckpointError(f"controller checkpoint {src} has no {name}")
    if not (src / STATS_NAME).is_file():
        raise CheckpointError(
            f"controller checkpoint {src} has no normalisation statistics ({STATS_NAME}). "
            "A controller cannot run without the statistics of its training data: copy "
            f"{STATS_NAME} from the training output directory, or refit them on the same "
            "demonstrations with Normalizer.fit(store) and save them there."
        )
    config = ControllerConfig.load(src / CONFIG_NAME)
    for cam, path in (encoder_paths or {}).items():
        getattr(config, f"{cam}_encoder").pretrained = path
    dims = {OBS_STATE: config.state_dim, ACTION: config.model_action_dim}
    normalizer = Normalizer.load(src / STATS_NAME, config.norm_mode, dims)
    with safe_open(str(src / WEIGHTS_NAME), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{src / WEIGHTS_NAME} is not a {CHECKPOINT_FORMAT} file")
    if meta.get("stats_fingerprint") != normalizer.fingerprint():
        raise CheckpointError(
            f"{src / STATS_NAME} does not match the statistics this model was trained with "
            "(fingerprint differs); restore the original file from the training output"
        )
    model = cls(config, normalizer=normalizer, encoders=encoders)
    expected = set(model.trainable_state_dict())
    missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{src / WEIGHTS_NAME} does not match its config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    try:
        model.load_state_dict(tensors, strict=False)
    except RuntimeError as err:
        raise CheckpointError(f"{src / WEIGHTS_NAME}: {err}") from err
    return model.to(device).eval()
