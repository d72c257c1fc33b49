"""Perception between planner and controller: box -> mask and mask over time.

Segmenters: :class:`SamSegmenter` (transformers SAM), :class:`GrabCutSegmenter` (OpenCV,
no weights), :class:`GroundTruthSegmenter` (simulation). Trackers: :class:`Sam2VideoTracker`
(transformers SAM 2 video), :class:`FlowTracker` (OpenCV, no weights),
:class:`GroundTruthTracker` (simulation). Heavy dependencies load on first use.
"""

from __future__ import annotations

from typing import Any

from dexgrasp.vla.perception.types import (
    Segmenter,
    Tracker,
    TrackResult,
    as_xyxy,
    check_mask,
    mask_box,
    mask_iou,
)

_LAZY = {
    "SamSegmenter": "dexgrasp.vla.perception.sam",
    "GrabCutSegmenter": "dexgrasp.vla.perception.grabcut",
    "GroundTruthSegmenter": "dexgrasp.vla.perception.ground_truth",
    "GroundTruthTracker": "dexgrasp.vla.perception.ground_truth",
    "FlowTracker": "dexgrasp.vla.perception.flow_tracker",
    "FlowTrackerConfig": "dexgrasp.vla.perception.flow_tracker",
    "Sam2VideoTracker": "dexgrasp.vla.perception.sam2_video",
}

__all__ = [
    "Segmenter",
    "TrackResult",
    "Tracker",
    "as_xyxy",
    "check_mask",
    "mask_box",
    "mask_iou",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dexgrasp.vla.perception' has no attribute {name!r}")
