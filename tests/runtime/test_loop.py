"""The hierarchical loop on a fake world: completion, budgets, lost tracks, records."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import FakeController, FakeRobot, FakeWorld

from dexgrasp.vla.perception import GroundTruthSegmenter, GroundTruthTracker
from dexgrasp.vla.planner import OracleConfig, OraclePlanner
from dexgrasp.vla.runtime import HierarchicalRunner, RunRecorder, RuntimeConfig
from dexgrasp.vla.runtime.judge import Judge
from dexgrasp.vla.runtime.protocols import Controller, ControllerError, Robot

OBJECTS = [
    ("red can", "can", "red", 5),
    ("green can", "can", "green", 27),
    ("green cup", "cup", "green", 50),
]


def make_runner(world, tmp_path=None, controller=None, **cfg):
    robot = FakeRobot(world)
    rec = RunRecorder(tmp_path, video=tmp_path is not None, fps=10)
    planner = OraclePlanner(world, OracleConfig(lift_success_m=0.1), on_record=rec.planner)
    config = RuntimeConfig(check_every=20, attempt_steps=100, **cfg)
    runner = HierarchicalRunner(
        robot,
        planner,
        GroundTruthSegmenter(world.masks),
        GroundTruthTracker(world.masks),
        controller or FakeController(robot),
        config,
        rec,
        judge=Judge(world, lift_success_m=0.1),
    )
    return runner, robot, rec


def test_protocols_are_satisfied():
    world = FakeWorld(OBJECTS)
    robot = FakeRobot(world)
    assert isinstance(robot, Robot)
    assert isinstance(FakeController(robot), Controller)


def test_clear_the_table_completes_right_to_left(tmp_path):
    world = FakeWorld(OBJECTS)
    runner, robot, rec = make_runner(world, tmp_path / "run")
    result = runner.run("clear the table")
    assert result.completed and result.reason == "completed"
    assert [a.outcome for a in result.attempts] == ["grasped"] * 3
    assert result.picked == ["green cup", "green can", "red can"]
    # Lifted at step 30, seen by the 1 Hz check at step 40 (39 actions sent).
    assert all(a.steps == 39 and a.checks == 2 for a in result.attempts)
    assert robot.poses == ["place"] * 3 and robot.resets == 3
    for sub in ("instruction_proposal", "bbox", "completion_check", "grasp_check"):
        assert result.accuracy[sub]["accuracy"] == 1.0, sub
    summary = rec.finish(result.to_dict())
    events = [json.loads(x) for x in (summary / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("placed") == 3
    planner_log = [json.loads(x) for x in (summary / "planner.jsonl").read_text().splitlines()]
    assert {p["subtask"] for p in planner_log} == {
        "propose_instruction",
        "predict_box",
        "verify_grasp",
        "check_completion",
    }
    for p in planner_log:
        for f in p["images"].values():
            assert (summary / f).is_file()
    assert (summary / "masks" / "attempt01_overlay.png").is_file()
    assert json.loads((summary / "summary.json").read_text())["completed"] is True


def test_grasp_is_checked_at_1hz_while_the_track_holds():
    world = FakeWorld(OBJECTS[:1], visible_when_held=True)
    runner, _, rec = make_runner(world)
    result = runner.run("clear the table")
    assert result.completed and result.attempts[0].steps == 39
    checks = [e for e in rec.events if e["event"] == "grasp_check"]
    assert len(checks) == 2  # at 20 (not yet) and 40 (lifted at 30)


def test_grasp_all_green_objects_never_picks_red():
    world = FakeWorld(OBJECTS)
    runner, _, _ = make_runner(world)
    result = runner.run("grasp all green objects")
    assert result.completed
    assert set(result.picked) == {"green can", "green cup"}
    assert world.truth["red can"].on_table


def test_failing_object_exhausts_its_budget():
    world = FakeWorld(OBJECTS, fail={"green cup"})
    runner, robot, _ = make_runner(world, max_attempts_per_object=2)
    result = runner.run("grasp all cups")
    assert not result.completed and result.reason == "object_attempt_budget"
    assert [a.outcome for a in result.attempts] == ["not_grasped", "not_grasped"]
    assert robot.resets == 2


def test_total_attempt_budget():
    world = FakeWorld(OBJECTS, fail={"green cup", "green can", "red can"})
    runner, _, _ = make_runner(world, max_attempts=2, max_attempts_per_object=5)
    result = runner.run("clear the table")
    assert result.reason == "attempt_budget" and len(result.attempts) == 2
    # The oracle moves on to another object after a failure.
    assert result.attempts[0].instruction != result.attempts[1].instruction


def test_lost_track_asks_the_planner_again():
    world = FakeWorld(OBJECTS[:1], fail={"red can"})
    calls = {"n": 0}
    masks = world.masks

    def flaky():  # the tracker loses the object on some frames
        calls["n"] += 1
        return {} if calls["n"] % 3 == 0 else masks()

    robot = FakeRobot(world)
    rec = RunRecorder(None, video=False)
    runner = HierarchicalRunner(
        robot,
        OraclePlanner(world),
        GroundTruthSegmenter(world.masks),
        GroundTruthTracker(flaky),
        FakeController(robot),
        RuntimeConfig(check_every=20, attempt_steps=60, max_rebox=1, max_attempts=1),
        rec,
    )
    result = runner.run("grasp the red can")
    kinds = [e["event"] for e in rec.events]
    assert "track_lost" in kinds and kinds.count("box") >= 2
    assert result.attempts[0].outcome == "not_grasped" and result.attempts[0].reboxes == 1


def test_controller_error_ends_the_attempt():
    class Broken(FakeController):
        def reset(self, observation):
            raise ControllerError("no grasp")

    world = FakeWorld(OBJECTS[:1])
    robot = FakeRobot(world)
    runner, _, _ = make_runner(
        world, controller=Broken(robot), max_attempts=2, max_attempts_per_object=9
    )
    result = runner.run("clear the table")
    assert [a.outcome for a in result.attempts] == ["controller_error"] * 2


def test_planner_that_does_not_understand_stops_the_run():
    world = FakeWorld(OBJECTS)
    runner, _, _ = make_runner(world)
    result = runner.run("sing a song")
    assert result.reason == "planner_failed" and not result.completed


def test_config_and_prompt_validation(tmp_path):
    with pytest.raises(ValueError, match="check_every"):
        RuntimeConfig(check_every=0)
    runner, _, _ = make_runner(FakeWorld(OBJECTS))
    with pytest.raises(ValueError, match="prompt"):
        runner.run("  ")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("keep me")
    with pytest.raises(FileExistsError):
        RunRecorder(tmp_path / "x")
    assert (tmp_path / "x" / "f").read_text() == "keep me"


def test_video_is_written_from_frames(tmp_path):
    world = FakeWorld(OBJECTS[:1])
    rec = RunRecorder(tmp_path / "v", video=True, fps=5)
    for i in range(6):
        rec.frame(np.full((32, 48, 3), 40 * i, np.uint8))
    out = rec.finish({"ok": True})
    from dexgrasp.viz.video import read_mp4

    assert read_mp4(out / "video.mp4").shape[0] == 6
    assert not (out / "frames").exists()
    assert json.loads((out / "summary.json").read_text())["video_frames"] == 6
    del world


def test_vlm_planner_drives_the_loop():
    """A VLMPlanner over a client that answers in free text (fenced JSON, prose booleans)."""
    from dexgrasp.vla.planner import VLMPlanner

    world = FakeWorld(OBJECTS[:2])
    robot = FakeRobot(world)

    class Client:  # answers like a VLM would, from the fake world's state
        def chat(self, messages, *, max_tokens=512, temperature=0.0):
            text = messages[-1].text
            left = [o for o in world.objects() if o.on_table]
            if "Find the object" in text:
                o = next(o for o in left if o.name in text)
                return f'```json\n{{"bbox_2d": {list(o.box)}, "label": "{o.name}"}}\n```'
            if "Has the robot picked up" in text:
                return f"The can is in the hand.\nOutput: {robot.holding is not None}"
            if "completely done" in text:
                return f"**{not left}**"
            return f"Grasp the {left[-1].name}." if left else "Nothing left."

    rec = RunRecorder(None, video=False)
    runner = HierarchicalRunner(
        robot,
        VLMPlanner(Client(), on_record=rec.planner),
        GroundTruthSegmenter(world.masks),
        GroundTruthTracker(world.masks),
        FakeController(robot),
        RuntimeConfig(check_every=20, attempt_steps=100),
        rec,
        judge=Judge(world, lift_success_m=0.1),
    )
    result = runner.run("clear the table")
    assert result.completed and [a.outcome for a in result.attempts] == ["grasped"] * 2
    assert all(v["accuracy"] == 1.0 for v in result.accuracy.values()), result.accuracy
    assert rec.n_planner >= 2 + 2 + 3 + 2 * 2  # proposals, boxes, completion and grasp checks
