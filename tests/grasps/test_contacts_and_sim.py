"""Contact annotation of a known grasp, and the simulated success test on known cases."""

import numpy as np
import pytest

from dexgrasp.grasps.contacts import (
    annotate_contacts,
    contact_links,
    contacted_part,
    validate_contacts,
)
from dexgrasp.grasps.hand import shadow_hand
from dexgrasp.grasps.objects import GraspObject, Primitive
from dexgrasp.grasps.simulate import HandObjectSim, SimConfig

R = 0.02  # sphere radius, m
TIP = (
    0.024 + 0.00705
)  # ffdistal capsule end along its z axis (half-length 0.012 at z=0.012, radius)


def _sphere() -> GraspObject:
    return GraspObject("ball", "apple", (Primitive("sphere", (R,)),), mass=0.1)


def _fingertip_touching_grasp(gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Open hand placed so the first fingertip is ``gap`` m from the sphere; returns grasp, tip."""
    hand = shadow_hand()
    g = hand.default_grasp()
    t = hand.forward_kinematics(g[None])["rh_ffdistal"][0]
    tip = t[:3, 3] + t[:3, 2] * TIP  # fingertip point, palm at the origin
    centre = tip + t[:3, 2] * (R + gap)  # sphere straight ahead of the fingertip
    g[:3] = -centre  # move the hand so that the sphere sits at the object origin
    return g, tip - centre


def test_contact_annotation_of_a_known_grasp():
    sim = HandObjectSim.from_object(_sphere())
    grasp, tip = _fingertip_touching_grasp(gap=0.0005)
    contacts = annotate_contacts(sim, grasp)
    assert contact_links(contacts) == ("rh_ffdistal",)
    p = contacts["rh_ffdistal"]
    assert p.shape == (1, 3) and p.dtype == np.float32
    assert np.linalg.norm(p[0]) == pytest.approx(R, abs=2e-4)  # on the object surface
    assert np.linalg.norm(p[0] - tip) < 1e-3  # right at the fingertip


def test_no_contacts_beyond_the_threshold():
    sim = HandObjectSim.from_object(_sphere())
    grasp, _ = _fingertip_touching_grasp(gap=0.004)
    assert annotate_contacts(sim, grasp, threshold=0.002) == {}
    assert contact_links(annotate_contacts(sim, grasp, threshold=0.006)) == ("rh_ffdistal",)


def test_contact_query_does_not_change_the_physics():
    sim = HandObjectSim.from_object(_sphere())
    grasp, _ = _fingertip_touching_grasp(gap=0.001)
    margin = sim.model.geom_margin.copy()
    sim.set_grasp(grasp)
    assert len(sim.contacts(max_dist=0.003)) == 1 and len(sim.contacts(max_dist=0.0)) == 0
    np.testing.assert_array_equal(sim.model.geom_margin, margin)


def test_validate_contacts_names_the_bad_link():
    with pytest.raises(ValueError, match="rh_toe"):
        validate_contacts({"rh_toe": [[0, 0, 0]]})
    with pytest.raises(ValueError, match="rh_palm"):
        validate_contacts({"rh_palm": [[0, 0]]})


def test_hand_far_away_does_not_hold_the_object():
    sim = HandObjectSim.from_object(_sphere())
    g = shadow_hand().default_grasp()
    g[:3] = [0.0, 0.0, 0.5]
    r = sim.test_grasp(g, SimConfig(disturb_steps=100))
    assert not r.success and not r.any_success
    assert np.all(r.translation > 0.05)  # free object pushed 1 g for 0.2 s: ~20 cm


def test_deep_penetration_fails_outright():
    sim = HandObjectSim.from_object(_sphere())
    g = shadow_hand().default_grasp()
    g[:3] = [0.0, 0.0, -0.06]  # palm through the sphere
    r = sim.test_grasp(g)
    assert r.penetration > 0.01 and not r.success


def test_sim_config_validates_fields():
    with pytest.raises(ValueError, match="mode"):
        SimConfig(mode="wind")
    with pytest.raises(ValueError, match="timestep"):
        SimConfig(timestep=0)
    with pytest.raises(ValueError, match="grasp"):
        HandObjectSim.from_object(_sphere()).set_grasp(np.zeros(27))


def test_contacted_part_is_the_majority_part():
    pts = np.array([[0, 0, 0], [0, 0, 1.0], [0, 0, 2.0]])
    labels = np.array([0, 1, 1])
    parts = ("handle", "body")
    c = {
        "rh_ffdistal": np.array([[0, 0, 0.9], [0, 0, 2.1]]),
        "rh_thdistal": np.array([[0, 0, 0.1]]),
    }
    assert contacted_part(c, pts, labels, parts) == "body"
    assert contacted_part({}, pts, labels, parts, fallback="lid") == "lid"
