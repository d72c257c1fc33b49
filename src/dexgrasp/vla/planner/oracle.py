"""A planner that answers the four sub-tasks from simulator ground truth.

It is the offline default of ``dexgrasp run`` and the way to measure the controller alone.
It reads a :class:`SceneTruth` (object attributes, head-camera boxes, lift heights), parses
prompts with :mod:`dexgrasp.vla.planner.language`, and picks targets with the paper's
preferences: unblocked objects first, then right, centre, left (image right is the robot's
right: the head camera looks forward from behind the robot).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from dexgrasp.vla.planner.language import (
    COLOR_WORDS,
    SIDE_WORDS,
    TargetSpec,
    matches,
    object_words,
    parse_prompt,
    singular,
    tokens,
)
from dexgrasp.vla.planner.types import BoundingBox, PlannerRecord, PlannerTargetError


@dataclass(frozen=True)
class ObjectTruth:
    """Ground truth of one scene object at the time of the query.

    box: head-camera pixels (x1, y1, x2, y2), ``None`` when not visible.
    lift_m: height gained above its resting height on the table, metres.
    on_table: still in the workspace on the table (not lifted, placed away or fallen).
    held: in the hand, when the simulator knows it (``None`` otherwise).
    tags: attribute tags such as "food", "drink".
    """

    name: str
    category: str
    noun: str
    color: str
    box: tuple[int, int, int, int] | None
    lift_m: float
    on_table: bool
    tags: frozenset[str] = frozenset()
    held: bool | None = None

    @property
    def words(self) -> set[str]:
        return object_words(self.category, self.noun, self.name)


@runtime_checkable
class SceneTruth(Protocol):
    """What the oracle needs from a simulator."""

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of the head camera, pixels."""
        ...

    def objects(self) -> Sequence[ObjectTruth]:
        """Every scene object, now."""
        ...


@dataclass
class OracleConfig:
    """lift_success_m: lift that counts as a successful grasp (metres).
    blocked_overlap: fraction of a box covered by other boxes above which it is "blocked".
    workspace_x_px: horizontal extent of the table in the head image, for "left / middle /
    right" (default: the whole image width)."""

    lift_success_m: float = 0.05
    blocked_overlap: float = 0.3
    workspace_x_px: tuple[float, float] | None = None  # table's left/right edge in the image

    def __post_init__(self) -> None:
        if self.workspace_x_px is not None and not self.workspace_x_px[0] < self.workspace_x_px[1]:
            raise ValueError(f"workspace_x_px must be (left, right), got {self.workspace_x_px}")
        if self.lift_success_m <= 0:
            raise ValueError(f"lift_success_m must be > 0, got {self.lift_success_m}")
        if not 0 < self.blocked_overlap <= 1:
            raise ValueError(f"blocked_overlap must be in (0, 1], got {self.blocked_overlap}")


def side_of(box: tuple[int, int, int, int], x_range: tuple[float, float]) -> str:
    """The third of ``x_range`` (pixels) the box centre falls in: left, center or right."""
    cx = (box[0] + box[2]) / 2.0
    lo, hi = x_range
    third = (hi - lo) / 3.0
    return "left" if cx < lo + third else ("right" if cx > hi - third else "center")


def overlap_fraction(box: tuple[int, ...], others: Sequence[tuple[int, ...]]) -> float:
    """Largest fraction of ``box``'s area covered by any one of ``others``."""
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    best = 0.0
    for o in others:
        ix = max(0, min(box[2], o[2]) - max(box[0], o[0]))
        iy = max(0, min(box[3], o[3]) - max(box[1], o[1]))
        best = max(best, ix * iy / area)
    return best


class OraclePlanner:
    """:class:`~dexgrasp.vla.planner.types.Planner` answered from ground truth."""

    def __init__(
        self,
        truth: SceneTruth,
        config: OracleConfig | None = None,
        on_record: Callable[[PlannerRecord], None] | None = None,
    ) -> None:
        self.truth = truth
        self.config = config or OracleConfig()
        self.on_record = on_record
        self._targets: dict[str, str] = {}  # instruction -> object name
        self._initial: dict[str, int] = {}  # prompt -> matching objects on the table at start
        self._proposed: Counter[str] = Counter()  # object name -> times proposed

    # --- helpers -----------------------------------------------------------------------
    def _spec(self, prompt: str) -> TargetSpec:
        objs = self.truth.objects()
        known = {w for o in objs for w in o.words} | {"fruit", "snack", "toy", "tool", "bottle"}
        spec = parse_prompt(prompt, known_nouns=known)
        if spec.is_empty:
            raise PlannerTargetError(
                f"the oracle planner does not understand {prompt!r}: name a colour "
                f"({', '.join(sorted(set(COLOR_WORDS.values())))}), an object kind "
                "(bottles, cans, fruit, ...), food/drinks, or say 'clear the table'"
            )
        return spec

    def _matching(self, spec: TargetSpec, on_table_only: bool = True) -> list[ObjectTruth]:
        return [
            o
            for o in self.truth.objects()
            if (o.on_table or not on_table_only) and matches(spec, o.color, o.words, set(o.tags))
        ]

    def _log(
        self, subtask: str, prompt: str, images: dict[str, np.ndarray], answer: str, parsed: object
    ) -> None:
        if self.on_record is not None:
            self.on_record(PlannerRecord(subtask, prompt, images, answer=answer, parsed=parsed))

    def _x_range(self) -> tuple[float, float]:
        return self.config.workspace_x_px or (0.0, float(self.truth.image_size[0]))

    def rank(self, candidates: Sequence[ObjectTruth], side: str = "") -> list[ObjectTruth]:
        """Candidates in the order the paper prefers: visible, unblocked, then right ->
        centre -> left, rightmost first; when ``side`` is given, the one furthest that way.
        Objects proposed fewer times come first, so a failed target is retried after others."""
        w = self.truth.image_size[0]
        x_range = self._x_range()
        table = [o.box for o in self.truth.objects() if o.on_table and o.box is not None]
        order = {"right": 0, "center": 1, "left": 2}

        def key(o: ObjectTruth) -> tuple:
            if o.box is None:
                return (1, 0, 0.0)
            cx = (o.box[0] + o.box[2]) / 2.0
            if side:  # the prompt names a side: the object furthest towards it
                return (0, 0, {"left": cx, "right": -cx, "center": abs(cx - w / 2)}[side])
            others = [b for b in table if b != o.box]
            blocked = overlap_fraction(o.box, others) > self.config.blocked_overlap
            tries = self._proposed[o.name]
            return (0, tries, int(blocked), order[side_of(o.box, x_range)], -cx)

        return sorted(candidates, key=key)

    def resolve(self, instruction: str, on_table_only: bool = True) -> ObjectTruth:
        """The object an instruction refers to (remembered for instructions this oracle
        proposed, otherwise the best attribute match)."""
        objs = [o for o in self.truth.objects() if o.on_table or not on_table_only]
        name = self._targets.get(instruction)
        if name is not None:
            for o in objs:
                if o.name == name:
                    return o
            raise PlannerTargetError(f"{name} ({instruction!r}) is no longer on the table")
        text = instruction.lower()
        toks = {singular(t) for t in tokens(text)}
        side = next((SIDE_WORDS[t] for t in tokens(text) if t in SIDE_WORDS), "")
        scored = []
        for o in objs:
            score = 5.0 if o.name.lower() in text else 0.0
            score += 2.0 * (o.color in toks) + len(o.words & toks)
            if score > 0:
                scored.append((score, o))
        if not scored:
            raise PlannerTargetError(f"no object on the table fits {instruction!r}")
        best = max(s for s, _ in scored)
        return self.rank([o for s, o in scored if s == best], side=side)[0]

    # --- the four sub-tasks ----------------------------------------------------------------
    def propose_instruction(
        self, prompt: str, initial_head: np.ndarray, current_head: np.ndarray
    ) -> str:
        spec = self._spec(prompt)
        self._initial.setdefault(prompt, len(self._matching(spec)))
        candidates = [o for o in self._matching(spec) if o.box is not None]
        if not candidates:
            raise PlannerTargetError(f"nothing left on the table for {prompt!r}")
        target = self.rank(candidates, side=spec.side)[0]
        side = side_of(target.box, self._x_range())  # type: ignore[arg-type]
        where = (
            "in the middle of the table" if side == "center" else f"on the {side} side of the table"
        )
        instruction = f"Grasp the {target.name} {where}."
        self._targets[instruction] = target.name
        self._proposed[target.name] += 1
        self._log(
            "propose_instruction",
            prompt,
            {"current head image": current_head},
            instruction,
            instruction,
        )
        return instruction

    def predict_box(self, instruction: str, head: np.ndarray) -> BoundingBox:
        target = self.resolve(instruction)
        if target.box is None:
            raise PlannerTargetError(f"{target.name} is not visible in the head camera")
        w, h = self.truth.image_size
        x1, y1, x2, y2 = (int(v) for v in target.box)
        x1, y1 = max(0, min(x1, w - 1)), max(0, min(y1, h - 1))
        x2, y2 = max(x1 + 1, min(x2, w)), max(y1 + 1, min(y2, h))
        box = BoundingBox(
            x1, y1, x2, y2, label=f"{target.color} {target.noun}", description=instruction
        )
        self._targets[instruction] = target.name
        self._log("predict_box", instruction, {"current head image": head}, str(box.to_dict()), box)
        return box

    def verify_grasp(self, instruction: str, head: np.ndarray, wrist: np.ndarray) -> bool:
        target = self.resolve(instruction, on_table_only=False)
        lifted = target.lift_m >= self.config.lift_success_m
        ok = bool(lifted and (target.held is None or target.held))
        self._log(
            "verify_grasp",
            instruction,
            {"head image": head, "wrist image": wrist},
            f"{target.name} lifted {target.lift_m:.3f} m. Output: {ok}",
            ok,
        )
        return ok

    def check_completion(
        self, prompt: str, initial_head: np.ndarray, current_head: np.ndarray
    ) -> bool:
        spec = self._spec(prompt)
        remaining = len(self._matching(spec))
        start = self._initial.setdefault(prompt, remaining)
        done = remaining == 0 if spec.quantifier == "all" else (remaining < start or start == 0)
        self._log(
            "check_completion",
            prompt,
            {"initial head image": initial_head, "current head image": current_head},
            f"{remaining} of {start} targeted objects remain. Output: {done}",
            done,
        )
        return done

    def expected_targets(self, prompt: str) -> list[str]:
        """Names of the objects on the table that ``prompt`` is about (for evaluation)."""
        return [o.name for o in self._matching(self._spec(prompt))]
