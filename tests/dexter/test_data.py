"""Training samples: labels on answers only, contact-position dropout, collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.dexter.data import (
    DexterDataset,
    GraspSample,
    as_sample,
    collate,
    contact_points,
    limit_per_object,
)


def _ds(model, data, **kw):
    objects, samples = data
    return DexterDataset(objects, samples, model.tokenizer, model.num_point_tokens, **kw)


def test_labels_cover_only_the_answer(model, data):
    item = _ds(model, data, contact_dropout=0.0)[0]
    tok = model.tokenizer
    ids, labels = item["input_ids"].tolist(), item["labels"].tolist()
    start = ids.index(tok.contact_start_id)
    assert all(x == -100 for x in labels[:start])
    assert labels[start:] == ids[start:] and ids[-1] == tok.im_end_id


def test_dropout_keeps_links_and_drops_positions(model, data):
    tok = model.tokenizer
    pos, links = set(tok.pos_ids.tolist()), set(tok.link_ids.tolist())
    always = _ds(model, data, contact_dropout=1.0)
    never = _ds(model, data, contact_dropout=0.0)
    half = _ds(model, data, contact_dropout=0.5)
    n_dropped = 0
    for i in range(len(always)):
        a, k = always[i]["input_ids"].tolist(), never[i]["input_ids"].tolist()
        assert not pos & set(a)  # every position gone
        assert [t for t in a if t in links] == [
            t for t in k if t in links
        ]  # same links, same order
        assert len(pos & set(k)) > 0
        n_dropped += not pos & set(half[i]["input_ids"].tolist())
    assert 0 < n_dropped < len(half)


def test_eval_mode_is_deterministic_and_not_dropped(model, data):
    ds = _ds(model, data, contact_dropout=1.0, train=False)
    a, b = ds[1]["input_ids"], ds[1]["input_ids"]
    assert torch.equal(a, b) and set(model.tokenizer.pos_ids.tolist()) & set(a.tolist())


def test_action_only_samples(model, data):
    item = _ds(model, data, action_only=True)[0]
    assert model.tokenizer.contact_start_id not in item["input_ids"].tolist()


def test_collate_pads_right(model, data):
    ds = _ds(model, data)
    items = [ds[0], ds[5]]
    b = collate(items, model.tokenizer.pad_id)
    n = max(len(x["input_ids"]) for x in items)
    assert b["input_ids"].shape == (2, n) and b["points"].shape == (2, 512, 3)
    k = len(items[0]["input_ids"])
    assert b["attention_mask"][0].sum() == k and (b["labels"][0, k:] == -100).all()


def test_records_are_validated(data):
    s = as_sample(
        {
            "object_id": "a",
            "grasp": np.zeros(28),
            "contacts": {"rh_palm": [0, 0, 0]},
            "instructions": "hold it",
        }
    )
    assert s.contacts["rh_palm"].shape == (1, 3) and s.instructions == ["hold it"]
    assert contact_points([s]).shape == (1, 3)
    with pytest.raises(ValueError, match="no instruction"):
        as_sample({"object_id": "a", "grasp": np.zeros(28), "contacts": {}, "instructions": []})
    with pytest.raises(KeyError, match="grasp"):
        as_sample({"object_id": "a", "contacts": {}, "instructions": ["x"]})
    objects, samples = data
    with pytest.raises(KeyError, match="unknown objects"):
        DexterDataset({}, samples, None, 4)


def test_steering_shaped_answers_move_contacts_to_the_front(model, data):
    """With steer_prob=1 each answer starts with 1-5 of its links (hand order among them),
    then the others in hand order; the same links and the same grasp tokens as usual."""
    tok = model.tokenizer
    links = tok.link_ids.tolist()
    plain = _ds(model, data, contact_dropout=0.0)
    steered = _ds(model, data, contact_dropout=0.0, steer_prob=1.0)
    n_reordered = 0
    for i in range(len(plain)):
        a, b = plain[i]["input_ids"].tolist(), steered[i]["input_ids"].tolist()
        la, lb = [t for t in a if t in links], [t for t in b if t in links]
        assert sorted(la) == sorted(lb) and la == sorted(la, key=links.index)
        k = next(
            (j for j in range(1, len(lb)) if links.index(lb[j]) < links.index(lb[j - 1])), len(lb)
        )
        assert lb[:k] == sorted(lb[:k], key=links.index) and lb[k:] == sorted(
            lb[k:], key=links.index
        )
        n_reordered += la != lb
        assert a[a.index(tok.action_start_id) :] == b[b.index(tok.action_start_id) :]
    assert n_reordered > 0
    with pytest.raises(ValueError, match="steer_prob"):
        _ds(model, data, steer_prob=1.5)


def test_rotation_about_z_turns_object_hand_and_contacts_together():
    """The rotated grasp puts every hand surface point where the original one was, turned:
    translation and palm rotation follow the object (joints unchanged)."""
    from dexgrasp.dexter.data import GraspSample, rotate_about_z
    from dexgrasp.grasps.hand import shadow_hand

    hand = shadow_hand()
    rng = np.random.default_rng(0)
    grasp = hand.default_grasp().copy()
    grasp[:3] = [0.05, -0.02, 0.1]
    grasp[3:6] = [0.3, -2.0, 1.1]
    s = GraspSample("o", grasp, {"rh_ffdistal": rng.normal(size=(1, 3))}, ["x"])
    pts = rng.normal(size=(50, 3)).astype(np.float32)
    angle = 1.2
    pts_r, s_r = rotate_about_z(angle, pts, s)
    c, si = np.cos(angle), np.sin(angle)
    m = np.array([[c, -si, 0], [si, c, 0], [0, 0, 1]])
    np.testing.assert_allclose(pts_r, pts @ m.T, atol=1e-5)
    np.testing.assert_allclose(s_r.contacts["rh_ffdistal"], s.contacts["rh_ffdistal"] @ m.T)
    np.testing.assert_array_equal(s_r.grasp[6:], grasp[6:])
    before = hand.surface_points(grasp[None])[0]
    after = hand.surface_points(s_r.grasp[None])[0]
    np.testing.assert_allclose(after, before @ m.T, atol=1e-6)
    assert np.abs(after - before).max() > 0.01  # it did move


def test_rotation_augmentation_samples_and_fitted_ranges(model, data):
    from dexgrasp.dexter.config import DexterConfig
    from dexgrasp.dexter.data import fit_tokenizer

    objects, samples = data
    plain = _ds(model, data, contact_dropout=0.0)
    turned = _ds(model, data, contact_dropout=0.0, augment_rotation=True)
    a, b = plain[0]["points"], turned[0]["points"]
    assert a.shape == b.shape and not torch.allclose(a, b)
    # same radii about the vertical axis, same heights: a rotation about z
    torch.testing.assert_close(a[:, :2].norm(dim=1), b[:, :2].norm(dim=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(a[:, 2], b[:, 2])
    assert not _ds(model, data, augment_rotation=True, train=False)[0]["points"].equal(b)
    # ranges fitted for the augmentation cover every turned translation
    tok = model.tokenizer
    fit_tokenizer(tok, samples, DexterConfig(augment_rotation=True))
    r = max(np.linalg.norm(s.grasp[:2]) for s in samples)
    assert np.all(tok.q_low[:2] <= -0.95 * r) and np.all(tok.q_high[:2] >= 0.95 * r)


def test_shift_augmentation_moves_object_grasp_and_contacts_together(model, data):
    from dexgrasp.dexter.config import DexterConfig
    from dexgrasp.dexter.data import fit_tokenizer, shift_sample
    from dexgrasp.grasps.conventions import ROTATION_SLICE, TRANSLATION_SLICE

    objects, samples = data
    s = samples[0]
    offset = np.array([0.01, -0.02, 0.03])
    pts, moved = shift_sample(offset, objects[s.object_id], s)
    np.testing.assert_allclose(
        pts - objects[s.object_id], np.broadcast_to(offset, pts.shape), atol=1e-6
    )
    np.testing.assert_allclose(moved.grasp[TRANSLATION_SLICE], s.grasp[TRANSLATION_SLICE] + offset)
    np.testing.assert_array_equal(moved.grasp[ROTATION_SLICE], s.grasp[ROTATION_SLICE])
    np.testing.assert_array_equal(moved.grasp[6:], s.grasp[6:])  # joints stay
    for link, xyz in s.contacts.items():
        np.testing.assert_allclose(moved.contacts[link], xyz + offset)
    # training items move by a random offset with the same shape; eval items do not move
    plain = _ds(model, data, contact_dropout=0.0)[0]["points"]
    shifted = _ds(model, data, contact_dropout=0.0, augment_shift=0.05)[0]["points"]
    delta = shifted - plain
    assert delta.abs().max() <= 0.05 + 1e-6 and delta.abs().max() > 0
    torch.testing.assert_close(delta, delta[:1].expand_as(delta))
    assert _ds(model, data, augment_shift=0.05, train=False)[0]["points"].equal(plain)
    # ranges fitted for the augmentation widen by the offset on every translation axis
    tok = model.tokenizer
    fit_tokenizer(tok, samples, DexterConfig())
    low, high = tok.q_low.copy(), tok.q_high.copy()
    fit_tokenizer(tok, samples, DexterConfig(augment_shift=0.05))
    np.testing.assert_allclose(tok.q_low[:3], low[:3] - 0.05, atol=1e-9)
    np.testing.assert_allclose(tok.q_high[:3], high[:3] + 0.05, atol=1e-9)
    np.testing.assert_allclose(tok.q_low[3:], low[3:])
    with pytest.raises(ValueError, match="augment_shift"):
        DexterConfig(augment_shift=-0.1)


def test_limit_per_object_keeps_every_object_and_order():
    def sample(oid, i):
        return GraspSample(oid, np.full(28, float(i)), {}, ["grasp it"])

    samples = [sample("a", i) for i in range(10)] + [sample("b", i) for i in range(3)]
    kept = limit_per_object(samples, 4, seed=1)
    assert [s.object_id for s in kept].count("a") == 4
    assert [s.object_id for s in kept].count("b") == 3  # fewer than k: all kept

    def picked(seed):
        return [
            next(i for i, s in enumerate(samples) if s is k)
            for k in limit_per_object(samples, 4, seed)
        ]

    assert picked(1) == sorted(picked(1))  # input order
    assert picked(1) == picked(1)  # seeded
    assert picked(1) != picked(2)
    with pytest.raises(ValueError, match="at least 1"):
        limit_per_object(samples, 0)
