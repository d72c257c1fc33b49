"""Oracle planner on a hand-made scene truth."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from dexgrasp.vla.planner.oracle import ObjectTruth, OraclePlanner, SceneTruth
from dexgrasp.vla.planner.types import Planner, PlannerTargetError

W, H = 640, 480
IMG = np.zeros((H, W, 3), np.uint8)


def obj(name, category, noun, color, x, tags=(), y=200, size=60) -> ObjectTruth:
    return ObjectTruth(
        name=name,
        category=category,
        noun=noun,
        color=color,
        box=(x, y, x + size, y + size),
        lift_m=0.0,
        on_table=True,
        tags=frozenset(tags),
    )


@dataclass
class FakeTruth:
    objs: list[ObjectTruth]
    image_size: tuple[int, int] = (W, H)

    def objects(self):
        return list(self.objs)

    def lift(self, name: str, dz: float = 0.2) -> None:
        self.objs = [
            replace(o, lift_m=dz, on_table=False) if o.name == name else o for o in self.objs
        ]


@pytest.fixture
def scene() -> FakeTruth:
    return FakeTruth(
        [
            obj("green bottle", "bottle", "water bottle", "green", 50, ["drink"]),
            obj("red apple", "fruit", "apple", "red", 300, ["food"]),
            obj("green apple", "fruit", "apple", "green", 520, ["food"]),
            obj("blue toy car", "toy", "toy car", "blue", 420, y=350),
            obj("striped red bottle", "bottle", "soda bottle", "red", 200, ["drink"]),
        ]
    )


def run_prompt(planner: OraclePlanner, truth: FakeTruth, prompt: str, limit: int = 10) -> list[str]:
    picked = []
    for _ in range(limit):
        if planner.check_completion(prompt, IMG, IMG):
            return picked
        instr = planner.propose_instruction(prompt, IMG, IMG)
        box = planner.predict_box(instr, IMG)
        target = planner.resolve(instr)
        assert box.xyxy == target.box
        assert not planner.verify_grasp(instr, IMG, IMG)
        truth.lift(target.name)
        assert planner.verify_grasp(instr, IMG, IMG)
        picked.append(target.name)
    raise AssertionError(f"{prompt!r} never completed; picked {picked}")


def test_is_a_planner(scene):
    assert isinstance(scene, SceneTruth)
    assert isinstance(OraclePlanner(scene), Planner)


def test_clear_the_table_prefers_right_then_center_then_left(scene):
    picked = run_prompt(OraclePlanner(scene), scene, "clear the table")
    assert picked == [
        "green apple",
        "blue toy car",
        "red apple",
        "striped red bottle",
        "green bottle",
    ]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("grasp all bottles", {"green bottle", "striped red bottle"}),
        ("Grasp all green objects", {"green bottle", "green apple"}),
        ("grasp all food", {"red apple", "green apple"}),
        (
            "grasp all edible objects, including food and drinks",
            {"red apple", "green apple", "green bottle", "striped red bottle"},
        ),
        ("pick up the toys", {"blue toy car"}),
        ("grasp all red bottles", {"striped red bottle"}),
        ("grasp the apples", {"red apple", "green apple"}),
    ],
)
def test_prompts_pick_exactly_their_targets(scene, prompt, expected):
    picked = run_prompt(OraclePlanner(scene), scene, prompt)
    assert set(picked) == expected and len(picked) == len(expected)


def test_single_object_prompt_completes_after_one(scene):
    picked = run_prompt(OraclePlanner(scene), scene, "grasp the apple on the left")
    assert picked == ["red apple"]


def test_blocked_objects_come_last():
    truth = FakeTruth(
        [
            obj("red can", "can", "soda can", "red", 500),
            obj("blue can", "can", "soda can", "blue", 510, y=210),  # overlaps the red can
            obj("green can", "can", "soda can", "green", 100),
        ]
    )
    first = OraclePlanner(truth).propose_instruction("grasp all cans", IMG, IMG)
    assert "green can" in first


def test_box_for_free_form_instruction(scene):
    planner = OraclePlanner(scene)
    box = planner.predict_box("pick up the red thing that is a bottle", IMG)
    assert box.xyxy == (200, 200, 260, 260)
    with pytest.raises(PlannerTargetError):
        planner.predict_box("grasp the purple elephant", IMG)


def test_unknown_prompt_is_a_typed_error(scene):
    with pytest.raises(PlannerTargetError, match="does not understand"):
        OraclePlanner(scene).propose_instruction("make me a sandwich", IMG, IMG)


def test_prompt_with_no_targets_is_complete(scene):
    assert OraclePlanner(scene).check_completion("grasp all purple objects", IMG, IMG)


def test_records_are_logged(scene):
    records = []
    planner = OraclePlanner(scene, on_record=records.append)
    instr = planner.propose_instruction("grasp all food", IMG, IMG)
    planner.predict_box(instr, IMG)
    assert [r.subtask for r in records] == ["propose_instruction", "predict_box"]
    assert records[0].answer == instr


def test_sides_are_relative_to_the_table(scene):
    from dexgrasp.vla.planner.oracle import OracleConfig

    # Table spans pixels 200..440: the apple at x=300..360 is in its middle third.
    planner = OraclePlanner(scene, OracleConfig(workspace_x_px=(200, 440)))
    assert "middle" in planner.propose_instruction("grasp the red apple", IMG, IMG)
    assert "right" in OraclePlanner(scene).propose_instruction("grasp the green apple", IMG, IMG)
    with pytest.raises(ValueError, match="workspace_x_px"):
        OracleConfig(workspace_x_px=(5, 1))


def test_failed_target_is_retried_after_the_others(scene):
    planner = OraclePlanner(scene)
    first = planner.propose_instruction("grasp all food", IMG, IMG)
    second = planner.propose_instruction("grasp all food", IMG, IMG)  # first one failed
    assert "green apple" in first and "red apple" in second
