"""Mask over time with SAM 2 (video) through ``transformers``' ``Sam2VideoModel``.

Streaming use: the first frame is conditioned on the given mask, later frames are added one
at a time. Frame preprocessing is done here (no torchvision); frames and per-frame outputs
older than the model's memory window are dropped so memory stays bounded on long runs.

    tracker = Sam2VideoTracker.from_pretrained("facebook/sam2.1-hiera-tiny")
    tracker.start(frame0, mask0)
    result = tracker.update(frame1)      # TrackResult(mask, lost, score)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.vla.perception.preprocess import sam2_preprocess, upsample_logits
from dexgrasp.vla.perception.types import TrackResult, check_mask, lost_result
from dexgrasp.vlm.types import check_image

OBJ_ID = 1


class Sam2VideoTracker:
    """:class:`~dexgrasp.vla.perception.types.Tracker` over ``Sam2VideoModel``.

    The target counts as lost when SAM 2's object score is not positive or the mask is empty.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        size = model.config.image_size
        self.size = int(size if isinstance(size, int) else size[0])
        self.session: Any = None
        self.shape: tuple[int, int] | None = None
        self._frame = -1

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, device: str = "cpu"
    ) -> Sam2VideoTracker:
        try:
            from transformers import Sam2VideoModel
        except ImportError as err:
            raise ImportError(
                "Sam2VideoTracker needs transformers: pip install 'dexgrasp[hf]'"
            ) from err
        path = Path(name_or_path)
        hint = (
            "Download a SAM 2 video checkpoint on a machine with network access "
            "(`huggingface-cli download facebook/sam2.1-hiera-tiny --local-dir DIR`) and pass "
            "DIR, or use the weights-free tracker (--tracker flow)."
        )
        if (path.is_absolute() or path.exists()) and not (path / "config.json").is_file():
            raise OSError(f"no SAM 2 weights at {str(path)!r}. {hint}")
        try:
            model = Sam2VideoModel.from_pretrained(str(name_or_path))
        except OSError as err:
            raise OSError(
                f"could not load SAM 2 from {str(name_or_path)!r} ({err}). {hint}"
            ) from err
        return cls(model.to(device).eval())

    def _pixels(self, image: np.ndarray):
        import torch

        return torch.from_numpy(sam2_preprocess(image, self.size))

    def _result(self, out: Any) -> TrackResult:
        assert self.shape is not None
        score_logit = float(out.object_score_logits.reshape(-1)[0])
        logits = upsample_logits(out.pred_masks[0, 0].cpu(), self.shape)
        mask = (logits > 0).numpy().astype(np.uint8)
        score = 1.0 / (1.0 + np.exp(-score_logit))
        if score_logit <= 0 or not mask.any():
            return lost_result(self.shape, score=score)
        return TrackResult(mask, lost=False, score=score)

    def start(self, image: np.ndarray, mask: np.ndarray) -> TrackResult:
        import torch
        import torch.nn.functional as F
        from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

        check_image(image)
        mask = check_mask(mask, image.shape[:2])
        if not mask.any():
            raise ValueError("Sam2VideoTracker.start needs a non-empty mask")
        self.shape = image.shape[:2]
        device = next(self.model.parameters()).device
        self.session = Sam2VideoInferenceSession(
            video_height=self.shape[0],
            video_width=self.shape[1],
            inference_device=device,
            dtype=torch.float32,
        )
        idx = self.session.add_new_frame(self._pixels(image))
        obj_idx = self.session.obj_id_to_idx(OBJ_ID)
        m = torch.from_numpy(mask.astype(np.float32))[None, None]
        m = (
            F.interpolate(m, (self.size, self.size), mode="bilinear", align_corners=False) >= 0.5
        ).float()
        self.session.add_mask_inputs(obj_idx, idx, m)
        self.session.obj_with_new_inputs = [OBJ_ID]
        with torch.inference_mode():
            out = self.model(inference_session=self.session, frame_idx=idx)
        self._frame = idx
        return self._result(out)

    def update(self, image: np.ndarray) -> TrackResult:
        import torch

        if self.session is None or self.shape is None:
            raise RuntimeError("Sam2VideoTracker.update called before start")
        check_image(image)
        if image.shape[:2] != self.shape:
            raise ValueError(
                f"frame shape {image.shape[:2]} differs from the first frame {self.shape}"
            )
        with torch.inference_mode():
            # Explicit index: the session would otherwise number frames by how many it stores.
            out = self.model(
                inference_session=self.session, frame=self._pixels(image), frame_idx=self._frame + 1
            )
        self._frame = int(out.frame_idx)
        self._prune()
        return self._result(out)

    def _prune(self) -> None:
        """Drop frames and non-conditioning outputs the memory can no longer reach."""
        cfg = self.model.config
        keep = max(int(cfg.num_maskmem), int(cfg.max_object_pointers_in_encoder)) + 1
        oldest = self._frame - keep
        frames = self.session.processed_frames
        for k in [k for k in frames if k < self._frame]:  # vision features are cached per frame
            if k != 0:
                del frames[k]
        for out in self.session.output_dict_per_obj.values():
            nc = out["non_cond_frame_outputs"]
            for k in [k for k in nc if k < oldest]:
                del nc[k]
        for tracked in self.session.frames_tracked_per_obj.values():
            for k in [k for k in tracked if k < oldest]:
                del tracked[k]

    @property
    def n_stored_frames(self) -> int:
        return 0 if self.session is None else len(self.session.processed_frames)
