"""``dexgrasp run``: argument parsing, and the default command end to end (slow)."""

from __future__ import annotations

import json

import pytest

from dexgrasp.cli import build_parser


def test_run_is_registered_with_defaults():
    args = build_parser().parse_args(["run"])
    assert args.prompt == "clear the table" and args.planner == "oracle"
    assert args.controller is None and args.scene_seed == 0
    args = build_parser().parse_args(
        [
            "run",
            "grasp all bottles",
            "--planner",
            "openai",
            "--controller",
            "expert",
            "--scene-seed",
            "4",
        ]
    )
    assert (args.prompt, args.planner, args.controller, args.scene_seed) == (
        "grasp all bottles",
        "openai",
        "expert",
        4,
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--planner", "gpt"])


@pytest.mark.slow
def test_default_run_writes_video_and_summary(tmp_path, capsys):
    from dexgrasp.cli import main

    out = tmp_path / "demo"
    code = main(
        ["run", "clear the table", "--n-objects", "2", "--scene-seed", "1", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert "completed (planner)" in printed and str(out) in printed
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "video.mp4").stat().st_size > 0 and (out / "events.jsonl").is_file()
    assert code == (0 if summary["completed"] else 1)
