"""Simulated success (force and gravity tests) on a hand-made grasp of a 3.5 cm ball."""

import numpy as np
import pytest

from dexgrasp.grasps.metrics.simulation import perturb_grasps, simulated_success
from dexgrasp.grasps.objects import GraspObject, Primitive

# A power grasp of the ball found once by closing the fingers around it in simulation;
# it holds in all 6 directions of both tests (penetration 7.8 mm < 1 cm).
GOOD = np.array([
    -0.01, 0.05, -0.08, 0.0, 0.0, 0.0,
    0.0864, 1.0885, 0.7858, 0.7323, -0.009, 0.9942, 0.7071, 0.6396,
    -0.1366, 1.0769, 0.7786, 0.7214, 0.0097, 0.0, 1.4989, 1.4409, 1.4998,
    1.0398, 0.6083, -0.0483, 0.3346, -0.499,
])  # fmt: skip


@pytest.fixture(scope="module")
def ball():
    return {"ball": GraspObject("ball", "ball", (Primitive("sphere", (0.035,)),), mass=0.1)}


def test_good_far_and_penetrating_grasps(ball):
    far = GOOD.copy()
    far[1] += 0.1  # hand 10 cm away: nothing holds the object
    deep = GOOD.copy()
    deep[1] -= 0.03  # palm 3 cm into the ball: > 1 cm penetration fails outright
    res = simulated_success(np.stack([GOOD, far, deep]), ["ball"] * 3, ball)
    for test in ("force", "gravity"):
        r = res[test]
        assert r.all6.tolist() == [True, False, False]
        assert r.any6.tolist() == [True, False, False]
        assert r.per_direction[0].all() and not r.per_direction[1].any()
        assert r.penetration[2] > 0.01 > r.penetration[0]
        s = r.summary()
        assert s[f"sim_{test}_all6"] == pytest.approx(1 / 3)


def test_perturbation_lowers_success(ball):
    noisy = perturb_grasps(np.stack([GOOD] * 6), joint_std=0.3, trans_std=0.02, seed=0)
    assert not np.allclose(noisy, GOOD)
    res = simulated_success(noisy, ["ball"] * 6, ball, tests=["force"])
    assert res["force"].all6.mean() < 1.0


def test_bad_inputs(ball):
    with pytest.raises(ValueError, match=r"\(N, 28\)"):
        simulated_success(np.zeros((2, 27)), ["ball"] * 2, ball)
    with pytest.raises(KeyError, match="no object geometry"):
        simulated_success(GOOD[None], ["mug"], ball)
    with pytest.raises(ValueError, match="unknown simulated test"):
        simulated_success(GOOD[None], ["ball"], ball, tests=["shake"])
