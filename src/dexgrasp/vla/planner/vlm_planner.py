"""The DexGraspVLA planner over any :class:`~dexgrasp.vlm.types.VLMClient`.

Each sub-task sends its prompt and images, parses the answer robustly, and on a parse
failure asks again (with a hint) until ``max_attempts`` answers have been tried; then it
raises :class:`PlannerParseError` carrying every raw answer. Every exchange is passed to the
``on_record`` callback as a :class:`PlannerRecord` (prompt, images, answer, parse, error).

Example::

    client = OpenAICompatibleClient(OpenAIClientConfig(base_url=..., model=...))
    planner = VLMPlanner(client, PlannerConfig(workspace=WorkspaceRegion.rect(.1, .3, .9, 1)))
    box = planner.predict_box("Grasp the red can on the right", head_image)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dexgrasp.vla.planner import prompts
from dexgrasp.vla.planner.parsing import COORD_MODES, parse_bbox, parse_bool, parse_instruction
from dexgrasp.vla.planner.types import BoundingBox, PlannerParseError, PlannerRecord
from dexgrasp.vla.planner.workspace import WorkspaceRegion, crop_workspace
from dexgrasp.vlm.types import Message, VLMClient, check_image


@dataclass
class PlannerConfig:
    """Settings of :class:`VLMPlanner`.

    ``coords`` tells how to read box answers ("auto" guesses normalised / 0-1000 / pixels);
    ``reference_size`` (W, H) is the frame of pixel answers when the model saw a resized image.
    """

    max_attempts: int = 3
    temperature: float = 0.0
    retry_temperature: float = 0.3
    max_tokens: dict[str, int] = field(
        default_factory=lambda: {
            "propose_instruction": 96,
            "predict_box": 160,
            "verify_grasp": 160,
            "check_completion": 384,
        }
    )
    workspace: WorkspaceRegion | None = None
    coords: str = "auto"
    reference_size: tuple[int, int] | None = None
    min_box_px: int = 4

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.coords not in COORD_MODES:
            raise ValueError(f"coords must be one of {COORD_MODES}, got {self.coords!r}")
        for name in ("temperature", "retry_temperature"):
            if not 0.0 <= getattr(self, name) <= 2.0:
                raise ValueError(f"{name} must be in [0, 2], got {getattr(self, name)}")
        for k, v in self.max_tokens.items():
            if v < 1:
                raise ValueError(f"max_tokens[{k!r}] must be >= 1, got {v}")
        if self.min_box_px < 1:
            raise ValueError(f"min_box_px must be >= 1, got {self.min_box_px}")


class VLMPlanner:
    """:class:`~dexgrasp.vla.planner.types.Planner` answered by a vision-language model."""

    def __init__(
        self,
        client: VLMClient,
        config: PlannerConfig | None = None,
        on_record: Callable[[PlannerRecord], None] | None = None,
    ) -> None:
        self.client = client
        self.config = config or PlannerConfig()
        self.on_record = on_record

    def _ask(
        self,
        subtask: str,
        text: str,
        images: dict[str, np.ndarray],
        parse: Callable[[str], Any],
    ) -> Any:
        cfg = self.config
        answers: list[str] = []
        hint = ""
        for attempt in range(cfg.max_attempts):
            prompt = text + hint
            parts: list[Any] = []
            for name, image in images.items():
                parts += [f"[{name}]", image]
            parts.append(prompt)
            messages = [Message.system(prompts.SYSTEM), Message.user(*parts)]
            temperature = cfg.temperature if attempt == 0 else cfg.retry_temperature
            record = PlannerRecord(subtask, prompt, dict(images), attempt=attempt)
            try:
                answer = self.client.chat(
                    messages,
                    max_tokens=cfg.max_tokens.get(subtask, 256),
                    temperature=temperature,
                )
            except Exception as err:
                record.error = f"{type(err).__name__}: {err}"
                self._emit(record)
                raise
            if not isinstance(answer, str):
                answer = "" if answer is None else str(answer)
            answers.append(answer)
            record.answer = answer
            try:
                record.parsed = parse(answer)
            except PlannerParseError as err:
                record.error = str(err)
                self._emit(record)
                hint = prompts.RETRY_HINT.format(reason=str(err)[:200])
                continue
            self._emit(record)
            return record.parsed
        raise PlannerParseError(
            f"{subtask}: no usable answer after {cfg.max_attempts} attempts",
            raw=answers[-1] if answers else "",
            answers=answers,
        )

    def _emit(self, record: PlannerRecord) -> None:
        if self.on_record is not None:
            self.on_record(record)

    def _view(self, image: np.ndarray, name: str) -> np.ndarray:
        return crop_workspace(check_image(image, name), self.config.workspace)

    # --- the four sub-tasks ----------------------------------------------------------------
    def propose_instruction(
        self, prompt: str, initial_head: np.ndarray, current_head: np.ndarray
    ) -> str:
        images = {
            "initial head image": self._view(initial_head, "initial_head"),
            "current head image": self._view(current_head, "current_head"),
        }
        text = prompts.PROPOSE_INSTRUCTION.format(prompt=prompt)
        return self._ask("propose_instruction", text, images, parse_instruction)

    def predict_box(self, instruction: str, head: np.ndarray) -> BoundingBox:
        view = self._view(head, "head")
        h, w = view.shape[:2]
        cfg = self.config

        def parse(answer: str) -> BoundingBox:
            return parse_bbox(
                answer,
                (w, h),
                coords=cfg.coords,  # type: ignore[arg-type]
                reference_size=cfg.reference_size,
                min_size_px=cfg.min_box_px,
            )

        text = prompts.PREDICT_BOX.format(instruction=instruction, width=w, height=h)
        return self._ask("predict_box", text, {"current head image": view}, parse)

    def verify_grasp(self, instruction: str, head: np.ndarray, wrist: np.ndarray) -> bool:
        images = {
            "head image": check_image(head, "head"),
            "wrist image": check_image(wrist, "wrist"),
        }
        text = prompts.VERIFY_GRASP.format(instruction=instruction)
        return self._ask("verify_grasp", text, images, parse_bool)

    def check_completion(
        self, prompt: str, initial_head: np.ndarray, current_head: np.ndarray
    ) -> bool:
        images = {
            "initial head image": self._view(initial_head, "initial_head"),
            "current head image": self._view(current_head, "current_head"),
        }
        text = prompts.CHECK_COMPLETION.format(prompt=prompt)
        return self._ask("check_completion", text, images, parse_bool)
