"""Shadow Hand model: forward kinematics against MuJoCo, limits, surface points."""

import mujoco
import numpy as np
import pytest

from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES, SHADOW_JOINT_NAMES
from dexgrasp.grasps.hand import (
    LINK_TO_BODY,
    ShadowHand,
    axis_angle_to_mat,
    hand_spec,
    mat_to_axis_angle,
    mat_to_quat,
    shadow_hand,
)


@pytest.fixture(scope="module")
def hand() -> ShadowHand:
    return shadow_hand()


def _random_grasps(hand: ShadowHand, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = np.zeros((n, GRASP_DIM))
    g[:, :3] = rng.normal(scale=0.1, size=(n, 3))
    g[:, 3:6] = rng.normal(size=(n, 3))
    g[:, 6:] = rng.uniform(hand.lower, hand.upper, size=(n, 22))
    return g


def test_model_is_free_floating_with_22_joints(hand):
    m = hand.model
    assert m.njnt == 22 and m.nmocap == 1
    names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, j) for j in range(m.njnt)]
    assert names == [f"robot0:{n}" for n in SHADOW_JOINT_NAMES]
    assert not any("WRJ" in n for n in names)
    assert m.nu == 18  # the 18 finger actuators; the four J0 joints are tendon-coupled to J1


def test_joint_limits_come_from_the_mjcf(hand):
    lo, hi = hand.joint_limits
    i = SHADOW_JOINT_NAMES.index("THJ0")
    assert lo[i] == pytest.approx(-1.571) and hi[i] == pytest.approx(0.0)
    i = SHADOW_JOINT_NAMES.index("LFJ4")
    assert lo[i] == pytest.approx(0.0) and hi[i] == pytest.approx(0.785)
    assert np.all(lo < hi)


def test_forward_kinematics_matches_mujoco(hand):
    grasps = _random_grasps(hand, 6)
    fk = hand.forward_kinematics(grasps)
    assert set(fk) == set(LINK_NAMES)
    m, d = hand.model, mujoco.MjData(hand.model)
    for i, g in enumerate(grasps):
        d.mocap_pos[0] = g[:3]
        d.mocap_quat[0] = mat_to_quat(axis_angle_to_mat(g[3:6]))
        d.qpos[hand.qpos_adr] = g[6:]
        mujoco.mj_kinematics(m, d)
        for link, t in fk.items():
            b = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, LINK_TO_BODY[link])
            np.testing.assert_allclose(t[i, :3, 3], d.xpos[b], atol=1e-9)
            np.testing.assert_allclose(t[i, :3, :3], d.xmat[b].reshape(3, 3), atol=1e-9)


def test_fk_palm_is_the_grasp_pose(hand):
    g = _random_grasps(hand, 1, seed=3)
    t = hand.forward_kinematics(g)["rh_palm"][0]
    np.testing.assert_allclose(t[:3, 3], g[0, :3])
    np.testing.assert_allclose(mat_to_axis_angle(t[:3, :3]), g[0, 3:6], atol=1e-9)


def test_fingers_flex_towards_minus_y_of_the_palm(hand):
    g = hand.default_grasp()
    tip_open = hand.forward_kinematics(g[None])["rh_ffdistal"][0, :3, 3]
    g[6 + SHADOW_JOINT_NAMES.index("FFJ2")] = 1.2
    tip_flexed = hand.forward_kinematics(g[None])["rh_ffdistal"][0, :3, 3]
    assert tip_open[2] > 0.1 and tip_flexed[1] < tip_open[1] - 0.02


def test_surface_points_are_fixed_and_move_with_the_hand(hand):
    g = _random_grasps(hand, 2, seed=1)
    a, b = hand.surface_points(g), ShadowHand(seed=0).surface_points(g)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, len(hand.surface_point_links), 3)
    shifted = g.copy()
    shifted[:, :3] += [0.1, 0.0, 0.0]
    np.testing.assert_allclose(
        hand.surface_points(shifted) - a, np.broadcast_to([0.1, 0, 0], a.shape), atol=1e-12
    )
    counts = np.bincount(hand.surface_point_links, minlength=len(LINK_NAMES))
    assert counts[LINK_NAMES.index("rh_ffdistal")] > 0 and counts[LINK_NAMES.index("rh_palm")] > 0


def test_bad_grasp_shape_is_rejected(hand):
    with pytest.raises(ValueError, match="grasps"):
        hand.body_poses(np.zeros((2, 27)))


def test_hand_plus_object_spec_compiles():
    from dexgrasp.grasps.objects import make_object

    spec = hand_spec(make_object("can", 0).mjcf())
    model = spec.compile()
    assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "object") > 0
    assert model.njnt == 23  # 22 finger joints + the object's free joint


def test_fit_grasp_to_contacts_moves_links_onto_their_contacts(hand):
    """Contacts taken from a grasp's own link surfaces pull a perturbed copy back onto them."""
    from dexgrasp.grasps.contacts import fit_grasp_to_contacts

    g = _random_grasps(hand, 1, seed=3)[0]
    pts = hand.surface_points(g[None])[0]
    ids = hand.surface_point_links
    contacts = {}
    for link in ("rh_thdistal", "rh_ffdistal", "rh_mfdistal", "rh_palm"):
        li = LINK_NAMES.index(link)
        contacts[link] = pts[ids == li][:1]

    def worst(grasp):  # the largest distance from a contact to its link's surface points
        p = hand.surface_points(grasp[None])[0]
        return max(
            np.linalg.norm(p[ids == LINK_NAMES.index(k)] - c, axis=1).min()
            for k, v in contacts.items()
            for c in v
        )

    rng = np.random.default_rng(0)
    start = g.copy()
    start[:3] += rng.normal(0, 0.02, 3)
    start[3:6] += rng.normal(0, 0.1, 3)
    start[6:] = np.clip(start[6:] + rng.normal(0, 0.2, 22), hand.lower, hand.upper)
    fitted = fit_grasp_to_contacts(start, contacts, hand)
    assert worst(start) > 0.015 and worst(fitted) < 0.004
    assert np.all(fitted[6:] >= hand.lower - 1e-12) and np.all(fitted[6:] <= hand.upper + 1e-12)
    # nothing to fit: unchanged; bad input: a clear error
    links_only = {"rh_thdistal": np.zeros((0, 3))}
    assert np.array_equal(fit_grasp_to_contacts(start, links_only, hand), start)
    with pytest.raises(ValueError, match="grasp"):
        fit_grasp_to_contacts(start[:10], contacts, hand)
    with pytest.raises(ValueError, match="unknown link"):
        fit_grasp_to_contacts(start, {"rh_wrist": np.zeros((1, 3))}, hand)


def test_fit_with_an_sdf_keeps_the_hand_out_of_the_object(hand):
    """A contact on a sphere pulls the thumb onto it; with the sphere's SDF the rest of the hand
    is pushed out (from a start deep inside), without it the hand stays in."""
    from dexgrasp.grasps.contacts import fit_grasp_to_contacts
    from dexgrasp.grasps.metrics.penetration import point_cloud_sdf

    rng = np.random.default_rng(1)
    d = rng.normal(size=(4000, 3))
    sphere = d / np.linalg.norm(d, axis=1, keepdims=True) * 0.04
    exact = lambda p: 0.04 - np.linalg.norm(p, axis=1)  # noqa: E731  positive inside
    q = rng.normal(size=(500, 3)) * 0.03
    near = np.abs(exact(q)) > 0.003
    assert np.all(np.sign(point_cloud_sdf(sphere)(q)[near]) == np.sign(exact(q)[near]))
    g = hand.default_grasp()
    g[:3] = (0.0, 0.0, 0.0)  # the palm at the sphere's centre: deep inside
    contacts = {"rh_thdistal": sphere[:1]}
    free = fit_grasp_to_contacts(g, contacts, hand)
    kept = fit_grasp_to_contacts(g, contacts, hand, sdf=point_cloud_sdf(sphere), iters=40)
    depth = lambda grasp: exact(hand.surface_points(grasp[None])[0]).max()  # noqa: E731
    assert depth(free) > 0.02 and depth(kept) < 0.5 * depth(free)


def test_contact_agreement_scores_written_links_against_the_placed_hand(hand):
    from dexgrasp.grasps.contacts import contact_agreement

    g = hand.default_grasp()
    g[6:] = np.clip(0.3, hand.lower, hand.upper)
    surf = hand.surface_points(g[None])[0]
    ids = hand.surface_point_links
    touching = ["rh_ffdistal", "rh_lfdistal", "rh_thdistal"]
    obj = np.concatenate([surf[ids == LINK_NAMES.index(n)] for n in touching])
    outside = lambda q: -np.ones(len(q))  # noqa: E731 - nothing is inside
    gs = np.stack([g, g, g, g + np.r_[1.0, np.zeros(GRASP_DIM - 1)]])
    names = [touching, touching[:1], [], touching]  # the last hand is 1 m away
    written = [{n: np.zeros((0, 3)) for n in ns} for ns in names]
    s = contact_agreement(gs, written, obj, hand, sdf=outside, touch=1e-4)
    assert s == pytest.approx([1.0, 0.5, 0.0, 0.0])  # F1: 1, 2*1/(1+3), empty, no touch
    tip = surf[ids == LINK_NAMES.index("rh_ffdistal")][:1]
    with_pos = [{"rh_ffdistal": tip}, {"rh_ffdistal": tip + [0.0, 0.0, 0.1]}]  # on it, 10 cm off
    s = contact_agreement(gs[:2], with_pos, obj, hand, sdf=outside, touch=1e-4)
    assert s[0] == pytest.approx(0.5)  # F1 2*1/(1+3), no gap
    assert s[1] < s[0] - 5  # the gap (>= 5 cm from the fingertip) costs gap / 1 cm
    inside = lambda q: np.full(len(q), 0.01)  # noqa: E731 - every hand point 1 cm deep
    n_links = len(set(ids.tolist()))
    s = contact_agreement(gs[:1], written[:1], obj, hand, sdf=inside, touch=1e-4)
    assert s[0] == pytest.approx(2 * 3 / (3 + n_links))  # all touch; no depth term by default
    s = contact_agreement(gs[:1], written[:1], obj, hand, sdf=inside, touch=1e-4, pen_scale=0.005)
    assert s[0] == pytest.approx(2 * 3 / (3 + n_links) - 2.0)  # 1 cm deep / 5 mm
    with pytest.raises(ValueError, match="unknown link"):
        contact_agreement(gs[:1], [{"rh_wrist": np.zeros((0, 3))}], obj, hand, sdf=outside)
    with pytest.raises(ValueError, match="contact sets"):
        contact_agreement(gs, written[:2], obj, hand, sdf=outside)


def test_touching_links_are_the_links_near_or_inside_the_object(hand):
    from dexgrasp.grasps.contacts import touching_links

    g = hand.default_grasp()
    g[6:] = np.clip(0.3, hand.lower, hand.upper)
    surf = hand.surface_points(g[None])[0]
    ids = hand.surface_point_links
    names = ["rh_ffdistal", "rh_thdistal"]
    obj = np.concatenate([surf[ids == LINK_NAMES.index(n)] for n in names])
    outside = lambda q: -np.ones(len(q))  # noqa: E731
    far = g + np.r_[1.0, np.zeros(GRASP_DIM - 1)]
    touching, pts = touching_links(np.stack([g, far]), obj, hand, sdf=outside, touch=1e-4)
    assert pts.shape == (2, len(ids), 3)
    assert sorted(LINK_NAMES[i] for i in np.flatnonzero(touching[0])) == sorted(names)
    assert not touching[1].any()  # 1 m away
    inside = lambda q: np.ones(len(q))  # noqa: E731 - everything is inside
    touching, _ = touching_links(far[None], obj, hand, sdf=inside)
    assert touching[0].sum() == len(set(ids.tolist()))  # every link with surface samples
    with pytest.raises(ValueError, match="grasps"):
        touching_links(np.zeros((1, 5)), obj, hand, sdf=outside)


def test_link_f1_compares_written_links_with_touching_links():
    from dexgrasp.grasps.contacts import link_f1

    n = len(LINK_NAMES)
    touching = np.zeros(n, dtype=bool)
    touching[[LINK_NAMES.index("rh_ffdistal"), LINK_NAMES.index("rh_thdistal")]] = True
    every = np.ones(n, dtype=bool)
    none = np.zeros((0, 3))
    assert link_f1({"rh_ffdistal": none, "rh_thdistal": none}, touching, every) == 1.0
    assert link_f1({"rh_ffdistal": none}, touching, every) == pytest.approx(2 / 3)
    assert link_f1({"rh_mfdistal": none}, touching, every) == 0.0  # named, not touching
    assert link_f1({}, touching, every) == 0.0  # an action-only answer names nothing
    no_thumb = every.copy()
    no_thumb[LINK_NAMES.index("rh_thdistal")] = False  # a link the hand model cannot touch with
    both = {"rh_ffdistal": none, "rh_thdistal": none}
    assert link_f1(both, touching & no_thumb, no_thumb) == 1.0
