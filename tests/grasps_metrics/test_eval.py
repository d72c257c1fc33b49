"""The evaluation engine and the predictions-file reader of `dexgrasp grasps eval`."""

import json

import numpy as np
import pytest

from dexgrasp.grasps.eval_cli import load_predictions
from dexgrasp.grasps.metrics.evaluate import GraspSet, evaluate, sdf_contacts
from dexgrasp.grasps.metrics.penetration import sphere_sdf
from dexgrasp.grasps.objects import GraspObject, Primitive

from .test_simulation import GOOD

BALL = {"ball": GraspObject("ball", "ball", (Primitive("sphere", (0.035,)),), mass=0.1)}


def test_sdf_contacts_one_per_link():
    pts = np.array([[0.0, 0, 0.036], [0.0, 0, 0.05], [0.04, 0, 0], [0.0, 0.2, 0]])
    links = np.array([0, 0, 1, 2])
    p, n, names = sdf_contacts(pts, links, lambda x: -sphere_sdf(0.035)(x), threshold=0.006)
    assert names == ["rh_palm", "rh_ffproximal"]  # link 2 is 16.5 cm away
    np.testing.assert_allclose(p[0], [0, 0, 0.035], atol=1e-6)  # projected onto the surface
    np.testing.assert_allclose(n[0], [0, 0, -1], atol=1e-4)  # pushing into the ball


def test_evaluate_identical_and_perturbed():
    gt = GraspSet(["ball"], GOOD[None], [{"rh_ffdistal": np.zeros((1, 3))}])
    same = evaluate(GraspSet(["ball"] * 2, np.stack([GOOD, GOOD]), [gt.contacts[0]] * 2), BALL,
                    ("q1", "pen", "cd", "con", "div", "contact"), ref=gt)  # fmt: skip
    s = same.summary
    assert s["cd_cm"] == 0.0 and s["con"] == 0.0 and s["delta_t"] == 0.0
    assert s["contact_f1"] == 1.0 and s["q1"] > 0 and 0 < s["pen_cm"] < 1.0
    moved = GOOD.copy()
    moved[0] += 0.01  # palm 1 cm sideways
    other = evaluate(GraspSet(["ball"], moved[None]), BALL, ("cd", "con"), ref=gt)
    # Every point has a partner exactly 1 cm away, so each direction averages <= 1 cm.
    assert 0.3 < other.summary["cd_cm"] <= 2.0 + 1e-9
    assert other.summary["con"] > 0
    with pytest.raises(ValueError, match="need reference"):
        evaluate(gt, BALL, ("cd",))
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate(gt, BALL, ("fid",))
    with pytest.raises(KeyError, match="no object geometry"):
        evaluate(GraspSet(["cup"], GOOD[None]), BALL, ("pen",))


def _write(tmp_path, data):
    p = tmp_path / "pred.json"
    p.write_text(json.dumps(data))
    return p


def test_load_predictions(tmp_path):
    good = [{"object_id": "ball", "grasp": GOOD.tolist(), "ref": 0,
             "contacts": {"rh_thdistal": [[0, 0, 0.035]]}}]  # fmt: skip
    pred, ref = load_predictions(_write(tmp_path, {"grasps": good}))
    assert pred.grasps.shape == (1, 28) and ref.tolist() == [0]
    assert pred.contacts[0]["rh_thdistal"].shape == (1, 3)
    cases = [
        ([{"grasp": GOOD.tolist()}], "object_id"),
        ([{"object_id": "b", "grasp": [0.0] * 27}], "grasp"),
        (
            [{"object_id": "b", "grasp": GOOD.tolist(), "contacts": {"rh_wrist": [[0, 0, 0]]}}],
            "rh_wrist",
        ),
        ([{"object_id": "b", "grasp": GOOD.tolist(), "ref": -1}], "ref"),
        ({"preds": []}, "grasps"),
    ]
    for data, field in cases:
        with pytest.raises(ValueError, match=field):
            load_predictions(_write(tmp_path, data))
    (tmp_path / "pred.json").write_text("[oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_predictions(tmp_path / "pred.json")
