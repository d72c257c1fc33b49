"""Teacher-forced answer losses, split into the contact block and the action tokens."""

from __future__ import annotations

import math

import torch

from dexgrasp.dexter.data import fit_tokenizer
from dexgrasp.dexter.evaluate import answer_losses
from dexgrasp.dexter.model import DexterModel
from dexgrasp.grasps.conventions import GRASP_DIM


def test_parts_count_the_right_tokens(model, data):
    objects, samples = data
    out = answer_losses(model, objects, samples, batch=5)
    tok = model.tokenizer
    contact_tokens = 0
    for s in samples:
        answer = tok.encode_answer(s.contacts, s.grasp)
        contact_tokens += answer.index(tok.action_start_id)
    assert out["contacts"]["tokens"] == contact_tokens
    assert out["actions"]["tokens"] == GRASP_DIM * len(samples)
    for part in out.values():
        assert math.isfinite(part["loss"]) and part["loss"] > 0
        assert 0.0 <= part["acc"] <= 1.0


def test_batching_does_not_change_the_result(model, data):
    objects, samples = data
    a = answer_losses(model, objects, samples, batch=3)
    b = answer_losses(model, objects, samples, batch=64)
    for k in a:
        assert abs(a[k]["loss"] - b[k]["loss"]) < 1e-4 and a[k]["acc"] == b[k]["acc"]


def test_action_only_model_has_no_contact_part(micro_config, data):
    objects, samples = data
    torch.manual_seed(0)
    m = DexterModel.build(micro_config(action_only=True))
    fit_tokenizer(m.tokenizer, samples)
    out = answer_losses(m, objects, samples)
    assert out["contacts"] is None
    assert out["actions"]["tokens"] == GRASP_DIM * len(samples)


def test_diagnose_script_reports_link_sets(model, data):
    """scripts/diagnose_dexter.py on a random model: every field present and consistent."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "scripts" / "diagnose_dexter.py"
    spec = importlib.util.spec_from_file_location("diagnose_dexter", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    objects, samples = data
    out = script.diagnose(model, objects, samples, n_objects=2)
    sets = out["link_sets"]
    assert out["answers"] == 2 and sets["samples"] == 8
    assert 0.0 <= sets["of_own_object"] <= sets["of_any_grasp"] <= 1.0
    assert 0.0 <= sets["grasp_exact"] <= 1.0
