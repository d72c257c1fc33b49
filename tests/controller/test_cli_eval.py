"""The CLI verbs and closed-loop evaluation plumbing (a short episode in the simulator)."""

from __future__ import annotations

import json

import pytest

from dexgrasp.cli import main
from dexgrasp.vla.controller.modeling import DexGraspVLAController

from .conftest import tiny_config
from .test_model import make_policy


def test_cli_train_then_eval(tmp_path, tiny_store, capsys):
    pytest.importorskip("mujoco")
    (tmp_path / "cfg.json").write_text(json.dumps(tiny_config().to_dict()))
    out = tmp_path / "run"
    rc = main(["train", "controller", "--data", str(tiny_store), "--out", str(out),
               "--config", str(tmp_path / "cfg.json"), "--batch-size", "8", "--max-steps", "3",
               "--episodes", "2", "--quiet"])  # fmt: skip
    assert rc == 0
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 0  # log_every=10 > 3 steps
    DexGraspVLAController.from_pretrained(out)
    prov = json.loads((out / "provenance.json").read_text())
    assert (
        prov["episodes"] == 2
        and prov["scene_seeds"] == [0, 1]
        and "--max-steps 3" in prov["command"]
    )
    rc = main(["eval", "controller", "--ckpt", str(out), "--episodes", "1", "--max-steps", "8",
               "--out", str(tmp_path / "eval.json"), "--quiet"])  # fmt: skip
    assert rc == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["episodes"] == 1 and result["reasons"] == {"time_limit": 1}
    assert result["controller_steps_per_s"] > 0
    assert main(["eval", "controller", "--ckpt", str(tmp_path / "missing")]) == 2


def test_closed_loop_runs_in_the_simulator():
    pytest.importorskip("mujoco")
    from dexgrasp.vla.controller.evaluate import evaluate_controller

    result = evaluate_controller(
        make_policy(), split="unseen", episodes=2, max_steps=5, progress=False
    )
    assert result.episodes == 2 and len(result.outcomes) == 2
    assert result.seeds == [1_000_000, 1_000_001]
    assert result.mean_steps == 5 and 0 <= result.success_rate <= 1
