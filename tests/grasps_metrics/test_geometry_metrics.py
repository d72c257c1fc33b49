"""Q1, Chamfer, penetration, contact maps, contact links, diversity: hand-made known answers."""

import numpy as np
import pytest

from dexgrasp.grasps.metrics.chamfer import chamfer_distance
from dexgrasp.grasps.metrics.contact import (
    contact_distance,
    contact_map,
    contact_quality,
    link_set_scores,
    position_hits,
)
from dexgrasp.grasps.metrics.diversity import diversity
from dexgrasp.grasps.metrics.penetration import (
    box_sdf,
    max_penetration,
    mesh_penetration,
    mesh_sdf,
    sphere_sdf,
)
from dexgrasp.grasps.metrics.q1 import friction_cone_edges, q1_metric, wrench_space_q1


def test_wrench_space_q1_cross_polytope():
    # Hull of +-e_i in 6-D: every facet is at distance 1/sqrt(6) from the origin.
    w = np.concatenate([np.eye(6), -np.eye(6)])
    assert wrench_space_q1(w) == pytest.approx(1 / np.sqrt(6), rel=1e-9)


def test_wrench_space_q1_origin_outside_is_zero():
    w = np.eye(6) + 1.0  # all in one orthant: origin on the hull boundary
    assert wrench_space_q1(w) == 0.0


def test_friction_cone_edges_geometry():
    e = friction_cone_edges(np.array([[0.0, 0.0, 2.0]]), mu=0.5, n_edges=8)
    assert e.shape == (1, 8, 3)
    np.testing.assert_allclose(e[0, :, 2], 1.0)  # unit normal component
    np.testing.assert_allclose(np.linalg.norm(e[0, :, :2], axis=1), 0.5)  # mu tangential


def _sphere_contacts(k):
    # k points on a 5 cm sphere, inward normals.
    rng = np.random.default_rng(0)
    d = rng.normal(size=(k, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return 0.05 * d, -d


def test_q1_known_cases():
    p, n = _sphere_contacts(12)
    good = q1_metric(p, n, mu=0.5)
    assert good > 0.05
    # One contact cannot resist anything; two frictionless antipodal contacts neither.
    assert q1_metric(p[:1], n[:1]) == 0.0
    two = np.array([[0.05, 0, 0], [-0.05, 0, 0]])
    assert q1_metric(two, -two / 0.05, mu=0.0) == 0.0
    # All contacts on one side: the hand only pushes, the object escapes the other way.
    one_side = p[:, 2] > 0
    assert q1_metric(p[one_side], n[one_side], mu=0.2) == 0.0
    # More friction never lowers Q1.
    assert q1_metric(p, n, mu=1.0) >= good


def test_chamfer_known_values():
    a = np.array([[0.0, 0, 0]])
    b = np.array([[0.03, 0.04, 0]])
    assert chamfer_distance(a, b) == pytest.approx(0.1)  # 0.05 each way
    assert chamfer_distance(a, b, squared=True) == pytest.approx(2 * 0.0025)
    grid = np.stack(np.meshgrid(*[np.arange(4) * 0.1] * 3), -1).reshape(-1, 3)
    assert chamfer_distance(grid, grid + [0.01, 0, 0]) == pytest.approx(0.02)
    assert chamfer_distance(grid, grid) == 0.0
    with pytest.raises(ValueError, match="a must be"):
        chamfer_distance(np.zeros((0, 3)), b)


def test_penetration_sphere_and_box_and_mesh():
    import trimesh

    pts = np.array([[0.0, 0, 0.047], [0.0, 0.06, 0], [0.0, 0, -0.049]])
    assert max_penetration(pts, sphere_sdf(0.05)) == pytest.approx(0.003)
    assert max_penetration(pts + [0, 0, 1], sphere_sdf(0.05)) == 0.0
    assert max_penetration(np.array([[0.0, 0.0, 0.02]]), box_sdf([0.1, 0.1, 0.03])) == (
        pytest.approx(0.01)
    )
    box = trimesh.creation.box(extents=[0.2, 0.2, 0.06])
    assert max_penetration(np.array([[0.0, 0.0, 0.02]]), mesh_sdf(box)) == pytest.approx(0.01)
    sdf = mesh_sdf(box)(np.array([[0.0, 0.0, 0.05], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(sdf, [-0.02, 0.03], atol=1e-12)
    rng = np.random.default_rng(0)
    cloud = rng.uniform(-0.15, 0.15, size=(300, 3))
    assert mesh_penetration(cloud, box) == pytest.approx(max_penetration(cloud, mesh_sdf(box)))
    assert mesh_penetration(cloud + 1.0, box) == 0.0


def test_contact_map_and_distance():
    obj = np.array([[0.0, 0, 0], [0.01, 0, 0], [1.0, 0, 0]])
    hand = np.array([[0.0, 0, 0]])
    cmap = contact_map(obj, hand)
    assert cmap[0] == pytest.approx(1.0)
    assert cmap[1] == pytest.approx(2 - 2 / (1 + np.exp(-1.0)))
    assert cmap[2] == pytest.approx(0.0, abs=1e-12)
    assert contact_distance(cmap, cmap) == 0.0
    assert contact_distance(np.ones(4), np.zeros(4)) == 1.0
    with pytest.raises(ValueError, match="contact maps"):
        contact_distance(np.ones(3), np.ones(4))


def test_link_set_scores_known():
    s = link_set_scores({"rh_ffdistal", "rh_thdistal", "rh_palm"}, {"rh_ffdistal", "rh_thdistal"})
    assert s["iou"] == pytest.approx(2 / 3)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == 1.0
    assert s["f1"] == pytest.approx(0.8)
    assert link_set_scores([], [])["f1"] == 1.0
    assert link_set_scores(["rh_palm"], [])["iou"] == 0.0


def test_position_accuracy():
    link_pts = {"rh_ffdistal": np.array([[0.0, 0, 0]]), "rh_thdistal": np.array([[0.1, 0, 0]])}
    pred = {
        "rh_ffdistal": np.array([[0.005, 0, 0], [0.02, 0, 0]]),  # hit, miss
        "rh_thdistal": np.array([[0.1, 0.009, 0]]),  # hit
        "rh_palm": np.array([[0.0, 0, 0]]),  # link not placed: miss
    }
    assert position_hits(pred, link_pts) == (2, 4)
    q = contact_quality([pred], [{"rh_ffdistal": None, "rh_thdistal": None}], [link_pts])
    assert q["pos_acc"] == 0.5
    assert q["recall"] == 1.0 and q["precision"] == pytest.approx(2 / 3)


def test_diversity_known_values():
    g = np.zeros((2, 28))
    g[1, 0] = 0.02  # 2 cm along x
    g[1, 6:] = np.deg2rad(10.0)
    d = diversity(g)
    # std of {0, 2} cm is sqrt(2); mean over 3 dims.
    assert d["delta_t"] == pytest.approx(np.sqrt(2) / 3)
    assert d["delta_q"] == pytest.approx(10 / np.sqrt(2))
    assert d["delta_r"] == pytest.approx(0.0)
    # Rotation std wraps around +-180 degrees: 179 and -179 are 2 degrees apart.
    r = np.zeros((2, 28))
    r[0, 3] = np.deg2rad(179.0)
    r[1, 3] = -np.deg2rad(179.0)
    assert diversity(r)["delta_r"] < 1.0
    with pytest.raises(ValueError, match="grasps must be"):
        diversity(np.zeros((3, 27)))
