"""Planner data types: the box a planner marks, the four-question protocol, typed errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

SUBTASKS = ("propose_instruction", "predict_box", "verify_grasp", "check_completion")


@dataclass(frozen=True)
class BoundingBox:
    """Target box in head-camera pixels: ``x1 <= x < x2``, ``y1 <= y < y2``."""

    x1: int
    y1: int
    x2: int
    y2: int
    label: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("x1", "y1", "x2", "y2"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool):
                raise TypeError(f"BoundingBox.{name} must be an int, got {v!r}")
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"BoundingBox is empty or inverted: {self.xyxy}")

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        return (int(self.x1), int(self.y1), int(self.x2), int(self.y2))

    @property
    def width(self) -> int:
        return int(self.x2 - self.x1)

    @property
    def height(self) -> int:
        return int(self.y2 - self.y1)

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def inside(self, width: int, height: int) -> bool:
        """True when the box lies within a ``width`` x ``height`` image."""
        return 0 <= self.x1 < self.x2 <= width and 0 <= self.y1 < self.y2 <= height

    def iou(self, other: BoundingBox) -> float:
        ix = max(0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"bbox_2d": list(self.xyxy), "label": self.label, "description": self.description}


class PlannerError(RuntimeError):
    """Base class of planner failures the runtime handles (it re-plans or stops)."""


class PlannerParseError(PlannerError, ValueError):
    """A planner answer could not be turned into the expected value.

    ``raw`` holds the offending answer (the last one when several attempts were made) and
    ``answers`` every answer seen.
    """

    def __init__(self, message: str, raw: str = "", answers: list[str] | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.answers = list(answers) if answers is not None else [raw]


class PlannerTargetError(PlannerError):
    """The planner found nothing to grasp or could not ground an instruction."""


@dataclass
class PlannerRecord:
    """One planner exchange, as logged: the prompt, the images shown, the answer, the parse."""

    subtask: str
    prompt: str
    images: dict[str, np.ndarray] = field(default_factory=dict)
    answer: str = ""
    parsed: Any = None
    error: str = ""
    attempt: int = 0


@runtime_checkable
class Planner(Protocol):
    """The four planner sub-tasks of DexGraspVLA (paper Sec. 4.1, App. A.1).

    Images are (H, W, 3) uint8 head or wrist camera frames.
    """

    def propose_instruction(
        self, prompt: str, initial_head: np.ndarray, current_head: np.ndarray
    ) -> str:
        """The next object-level grasping instruction, e.g. "Grasp the red can on the right"."""
        ...

    def predict_box(self, instruction: str, head: np.ndarray) -> BoundingBox:
        """The box of the instruction's target in ``head``."""
        ...

    def verify_grasp(self, instruction: str, head: np.ndarray, wrist: np.ndarray) -> bool:
        """True when the target is held in the hand."""
        ...

    def check_completion(
        self, prompt: str, initial_head: np.ndarray, current_head: np.ndarray
    ) -> bool:
        """True when the whole user prompt is done."""
        ...
