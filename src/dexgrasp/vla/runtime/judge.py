"""Scores every planner answer against simulator ground truth while a run goes on.

Used by ``bench/bench_runtime.py`` and by ``dexgrasp run`` in simulation, for any planner
(oracle or VLM): instruction proposal (the instruction names an object the prompt is about),
box (IoU >= 0.5 with the ground-truth box of the instruction's object), completion check
(matches "no targeted object left on the table"), grasp check (matches "lifted and held").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dexgrasp.vla.planner.oracle import OracleConfig, OraclePlanner, SceneTruth
from dexgrasp.vla.planner.types import BoundingBox, PlannerError

IOU_OK = 0.5


def box_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Judge:
    """Ground-truth scorer; ``counts[subtask] = [correct, total]``."""

    def __init__(self, truth: SceneTruth, lift_success_m: float = 0.1) -> None:
        self.truth = truth
        self.lift_success_m = lift_success_m
        self._oracle = OraclePlanner(truth, OracleConfig(lift_success_m=lift_success_m))
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.picked: list[str] = []  # objects verified lifted and held, in order

    def _score(self, subtask: str, ok: bool, **info: Any) -> dict[str, Any]:
        c = self.counts[subtask]
        c[0] += int(ok)
        c[1] += 1
        return {"correct": bool(ok), **info}

    def _resolve(self, instruction: str, on_table_only: bool = True) -> str | None:
        try:
            return self._oracle.resolve(instruction, on_table_only=on_table_only).name
        except PlannerError:
            return None

    def proposal(self, prompt: str, instruction: str) -> dict[str, Any]:
        name = self._resolve(instruction)
        try:
            expected = self._oracle.expected_targets(prompt)
        except PlannerError:
            expected = []
        return self._score("instruction_proposal", name in expected, object=name, expected=expected)

    def box(self, instruction: str, box: BoundingBox) -> dict[str, Any]:
        name = self._resolve(instruction)
        truth = {o.name: o.box for o in self.truth.objects() if o.box is not None}
        hit = max(truth, key=lambda n: box_iou(box.xyxy, truth[n]), default=None)
        iou = box_iou(box.xyxy, truth[name]) if name in truth else 0.0
        return self._score("bbox", iou >= IOU_OK, object=name, iou=round(iou, 3), box_on=hit)

    def completion(self, prompt: str, verdict: bool) -> dict[str, Any]:
        try:
            remaining = self._oracle.expected_targets(prompt)
        except PlannerError:
            remaining = []
        return self._score("completion_check", verdict == (not remaining), remaining=remaining)

    def grasp(self, verdict: bool) -> dict[str, Any]:
        lifted = [
            o.name for o in self.truth.objects() if o.lift_m >= self.lift_success_m and o.held
        ]
        if verdict and lifted:
            self.picked.extend(n for n in lifted if n not in self.picked)
        return self._score("grasp_check", verdict == bool(lifted), lifted=lifted)

    def expected_targets(self, prompt: str) -> list[str]:
        """Objects on the table that ``prompt`` is about (empty when it is not understood)."""
        try:
            return self._oracle.expected_targets(prompt)
        except PlannerError:
            return []

    def accuracies(self) -> dict[str, dict[str, float]]:
        return {
            k: {"correct": c, "total": n, "accuracy": (c / n if n else float("nan"))}
            for k, (c, n) in self.counts.items()
        }
