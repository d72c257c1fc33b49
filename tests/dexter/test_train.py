"""Training loop: loss goes down, checkpoints load, resume continues, schedule shape."""

from __future__ import annotations

import json

import pytest

from dexgrasp.dexter.generate import generate_grasps
from dexgrasp.dexter.model import DexterModel
from dexgrasp.dexter.train import TrainConfig, cosine_with_warmup, train


def test_schedule():
    assert cosine_with_warmup(0, 10, 100) == pytest.approx(0.1)
    assert cosine_with_warmup(9, 10, 100) == pytest.approx(1.0)
    assert cosine_with_warmup(55, 10, 100) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 10, 100) == pytest.approx(0.0)


def test_train_saves_and_resumes(model, data, tmp_path):
    objects, samples = data
    cfg = TrainConfig(
        output_dir=str(tmp_path),
        steps=30,
        batch_size=4,
        lr=2e-3,
        warmup_steps=5,
        save_every=20,
        log_every=10,
        contact_dropout=0.5,
    )
    summary = train(model, objects, samples, cfg, progress=False)
    assert summary["steps"] == 30
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < log[0]["loss"]
    back = DexterModel.from_pretrained(tmp_path)
    assert all(o.ok for o in generate_grasps(back, objects["obj0"], "hold it", n=2, seed=0))
    # resume: continues from step 30 to 40 without starting over
    cfg2 = TrainConfig(**{**cfg.__dict__, "steps": 40})
    summary2 = train(back, objects, samples, cfg2, progress=False)
    assert summary2["steps"] == 40
    rows = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]


def test_bad_train_config():
    with pytest.raises(ValueError, match="contact_dropout"):
        TrainConfig(contact_dropout=1.5)
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")
