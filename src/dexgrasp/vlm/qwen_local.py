"""Local Qwen2.5-VL through ``transformers``, from a hub id or a local directory.

The image side uses the PIL-based ``Qwen2VLImageProcessorPil`` (no torchvision); the chat
prompt is built here in Qwen's ChatML format, each image expanded to the number of
``<|image_pad|>`` tokens its merged patch grid needs.

Example::

    client = QwenVLLocalClient.from_pretrained("Qwen/Qwen2.5-VL-7B-Instruct")  # or a directory
    reply = client.chat([Message.user(image, "Describe the table.")], max_tokens=64)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.vlm.errors import VLMConfigError, VLMResponseError
from dexgrasp.vlm.types import Message, check_generation_args, check_messages

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
VISION_START, VISION_END, IMAGE_PAD = "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"
DEFAULT_SYSTEM = "You are a helpful assistant."


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            "QwenVLLocalClient needs transformers and torch: pip install 'dexgrasp[hf,torch]'"
        ) from err
    return transformers


class QwenVLLocalClient:
    """:class:`~dexgrasp.vlm.types.VLMClient` running Qwen2.5-VL in this process.

    Args:
        model: a ``Qwen2_5_VLForConditionalGeneration`` (or compatible) in eval mode.
        tokenizer: its tokenizer; must know the Qwen special tokens.
        image_processor: a ``Qwen2VLImageProcessorPil`` (pixels -> flattened patches + grid).
    """

    def __init__(self, model: Any, tokenizer: Any, image_processor: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        for tok in (IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD):
            ids = tokenizer.convert_tokens_to_ids(tok)
            if ids is None or ids == tokenizer.unk_token_id:
                raise VLMConfigError(f"tokenizer lacks the Qwen special token {tok}")
        self.merge_size = int(getattr(image_processor, "merge_size", 2))
        self.end_ids = [tokenizer.convert_tokens_to_ids(IM_END)]
        if tokenizer.eos_token_id is not None:
            self.end_ids.append(tokenizer.eos_token_id)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        min_pixels: int = 64 * 28 * 28,
        max_pixels: int = 640 * 28 * 28,
    ) -> QwenVLLocalClient:
        """Load model, tokenizer and image processor from a hub id or a local directory.

        Raises :class:`VLMConfigError` naming how to supply the weights when they are missing.
        """
        transformers = _require_transformers()
        import torch
        from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

        path = Path(name_or_path)
        looks_local = path.is_absolute() or str(name_or_path).startswith(".") or path.exists()
        if looks_local and not (path / "config.json").is_file():
            raise VLMConfigError(
                f"{path} has no config.json: point --qwen-model at a directory holding a "
                "Qwen2.5-VL checkpoint (config.json, *.safetensors, tokenizer files), e.g. one "
                "made with `huggingface-cli download Qwen/Qwen2.5-VL-7B-Instruct --local-dir DIR`"
            )
        torch_dtype = getattr(torch, dtype) if dtype != "auto" else "auto"
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(name_or_path))
            image_processor = Qwen2VLImageProcessorPil.from_pretrained(
                str(name_or_path), min_pixels=min_pixels, max_pixels=max_pixels
            )
            model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(
                str(name_or_path), dtype=torch_dtype
            )
        except OSError as err:
            raise VLMConfigError(
                f"could not load Qwen2.5-VL weights from {name_or_path!r} ({err}). Download them "
                "on a machine with network access (`huggingface-cli download "
                "Qwen/Qwen2.5-VL-7B-Instruct --local-dir DIR`) and pass the directory, or unset "
                "HF_HUB_OFFLINE so the hub can be reached."
            ) from err
        return cls(model.to(device).eval(), tokenizer, image_processor)

    # --- prompt building -------------------------------------------------------------------
    def build_inputs(self, messages: Sequence[Message]) -> dict[str, Any]:
        """Tokenise a chat: ``input_ids`` (1, L), ``attention_mask`` (1, L) and, when images
        are present, ``pixel_values`` (N_patches, C*T*P*P) and ``image_grid_thw`` (N_img, 3)."""
        import torch

        messages = check_messages(messages)
        images = [im for m in messages for im in m.images]
        grids: list[list[int]] = []
        extra: dict[str, Any] = {}
        if images:
            out = self.image_processor(
                images=[np.asarray(im) for im in images], return_tensors="pt"
            )
            extra = {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}
            grids = out["image_grid_thw"].tolist()
        text = ""
        if messages[0].role != "system":
            text += f"{IM_START}system\n{DEFAULT_SYSTEM}{IM_END}\n"
        k = 0
        for m in messages:
            text += f"{IM_START}{m.role}\n"
            for part in m.parts:
                if isinstance(part, str):
                    text += part
                else:
                    t, h, w = grids[k]
                    n = t * h * w // (self.merge_size**2)
                    text += VISION_START + IMAGE_PAD * n + VISION_END
                    k += 1
            text += f"{IM_END}\n"
        text += f"{IM_START}assistant\n"
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")
        return {
            "input_ids": ids["input_ids"],
            "attention_mask": ids.get("attention_mask", torch.ones_like(ids["input_ids"])),
            **extra,
        }

    def chat(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> str:
        import torch

        check_generation_args(max_tokens, temperature)
        inputs = self.build_inputs(messages)
        device = next(self.model.parameters()).device
        inputs = {k: v.to(device) for k, v in inputs.items()}
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": float(temperature)}
            if temperature > 0
            else {"do_sample": False}
        )
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=max_tokens,
                eos_token_id=self.end_ids,
                pad_token_id=self.end_ids[0],
                **sampling,
            )
        new = out[0, inputs["input_ids"].shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        if not isinstance(text, str):
            raise VLMResponseError("tokenizer decode did not return text", raw=repr(text))
        return text.strip()
