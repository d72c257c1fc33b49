"""Box -> mask with SAM (Segment Anything) through ``transformers``' ``SamModel``.

Preprocessing is done in :mod:`dexgrasp.vla.perception.preprocess` (no torchvision).

    seg = SamSegmenter.from_pretrained("facebook/sam-vit-base")   # or a local directory
    mask = seg.segment(head_image, (x1, y1, x2, y2))               # (H, W) uint8 {0, 1}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.vla.perception.preprocess import sam_preprocess, upsample_logits
from dexgrasp.vla.perception.types import as_xyxy
from dexgrasp.vlm.types import check_image


def _missing_weights(name: str, err: Exception | None = None) -> OSError:
    return OSError(
        f"no SAM weights at {name!r}{f' ({err})' if err else ''}. Download a checkpoint on a "
        "machine with network access (`huggingface-cli download facebook/sam-vit-base "
        "--local-dir DIR`) and pass DIR, or use the weights-free GrabCut segmenter "
        "(--segmenter grabcut)."
    )


class SamSegmenter:
    """:class:`~dexgrasp.vla.perception.types.Segmenter` over a ``SamModel``.

    Args:
        model: ``transformers.SamModel`` in eval mode.
        multimask: ask for SAM's three candidate masks and keep the best-scored one.
        clip_margin: keep only mask pixels within the box grown by this fraction of its size
            (SAM can leak into neighbours in clutter); ``None`` disables clipping.
    """

    def __init__(
        self, model: Any, *, multimask: bool = True, clip_margin: float | None = 0.1
    ) -> None:
        self.model = model
        self.size = int(model.config.vision_config.image_size)
        self.multimask = multimask
        self.clip_margin = clip_margin
        self.last_score = float("nan")

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, device: str = "cpu", **kw: Any
    ) -> SamSegmenter:
        try:
            from transformers import SamModel
        except ImportError as err:
            raise ImportError(
                "SamSegmenter needs transformers: pip install 'dexgrasp[hf]'"
            ) from err
        path = Path(name_or_path)
        if (path.is_absolute() or path.exists()) and not (path / "config.json").is_file():
            raise _missing_weights(str(name_or_path))
        try:
            model = SamModel.from_pretrained(str(name_or_path))
        except OSError as err:
            raise _missing_weights(str(name_or_path), err) from err
        return cls(model.to(device).eval(), **kw)

    def segment(self, image: np.ndarray, box: Any) -> np.ndarray:
        """(H, W) uint8 {0, 1} mask of the object in ``box`` (pixels)."""
        import torch

        check_image(image)
        h, w = image.shape[:2]
        x1, y1, x2, y2 = as_xyxy(box, w, h)
        pixels, scale, resized_hw = sam_preprocess(image, self.size)
        device = next(self.model.parameters()).device
        boxes = torch.tensor(
            [[[x1 * scale, y1 * scale, x2 * scale, y2 * scale]]], dtype=torch.float32
        )
        with torch.inference_mode():
            out = self.model(
                pixel_values=torch.from_numpy(pixels)[None].to(device),
                input_boxes=boxes.to(device),
                multimask_output=self.multimask,
            )
        scores = out.iou_scores[0, 0].float().cpu()  # (n_masks,)
        best = int(torch.argmax(scores))
        self.last_score = float(scores[best])
        logits = out.pred_masks[0, 0, best].cpu()  # (h_low, w_low)
        full = upsample_logits(logits, (h, w), crop_hw=resized_hw, pad_size=self.size)
        mask = (full > 0).numpy().astype(np.uint8)
        if self.clip_margin is not None:
            mx, my = int((x2 - x1) * self.clip_margin), int((y2 - y1) * self.clip_margin)
            keep = np.zeros_like(mask)
            keep[max(0, y1 - my) : y2 + my, max(0, x1 - mx) : x2 + mx] = 1
            mask &= keep
        return mask
