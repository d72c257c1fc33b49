"""DexterTokenizer: bins, round trips, persistence and decode errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexgrasp.dexter.tokenizer import DecodeError, DexterTokenizer
from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES

RNG = np.random.default_rng(0)
GRASPS = RNG.normal(size=(500, GRASP_DIM)) * np.linspace(0.05, 1.5, GRASP_DIM)
POINTS = RNG.uniform(-0.1, 0.1, size=(400, 3))


@pytest.fixture(scope="module")
def tok() -> DexterTokenizer:
    return DexterTokenizer.offline().fit(GRASPS, POINTS)


def test_special_tokens_registered(tok):
    assert len(set(tok.link_ids)) == len(LINK_NAMES) == 18
    assert len(set(tok.pos_ids)) == 256 and len(set(tok.action_ids)) == 256
    assert tok.text.convert_ids_to_tokens(int(tok.link_ids[3])) == "<rh_ffdistal>"
    # special tokens are single ids inside text
    ids = tok.text("x<rh_palm><pos_bin_7>", add_special_tokens=False)["input_ids"]
    assert ids[-2:] == [tok.link_ids[0], tok.pos_ids[7]]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_round_trip_within_half_a_bin(tok, seed):
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, GRASP_DIM)
    grasp = tok.q_low + u * (tok.q_high - tok.q_low)  # inside the quantile range
    links = rng.choice(LINK_NAMES, size=4, replace=False)
    lo, hi = POINTS.min(0), POINTS.max(0)
    contacts = {str(k): rng.uniform(lo, hi, size=(1, 3)) for k in links}
    ans = tok.decode_answer(tok.encode_answer(contacts, grasp))
    assert np.all(np.abs(ans.grasp - grasp) <= tok.action_bin_width / 2 + 1e-12)
    assert set(ans.contacts) == set(contacts)
    for k, v in contacts.items():
        assert np.all(np.abs(ans.contacts[k] - v) <= tok.pos_bin_width / 2 + 1e-12)
    assert ans.contact_links == [k for k in LINK_NAMES if k in contacts]  # hand order


def test_out_of_range_values_clip_to_edge_bins(tok):
    bins = tok.grasp_to_bins(tok.q_high + 10.0)
    assert np.all(bins == 255)
    assert np.all(tok.positions_to_bins(np.full(3, -5.0)) == 0)


def test_bounds_have_margin(tok):
    assert np.all(tok.pos_low < POINTS.min(0)) and np.all(tok.pos_high > POINTS.max(0))


@pytest.mark.parametrize("bins", [128, 512])
def test_configurable_bin_counts(bins):
    t = DexterTokenizer.offline(n_pos_bins=bins, n_action_bins=bins).fit(GRASPS, POINTS)
    g = GRASPS[0].clip(t.q_low, t.q_high)
    out = t.decode_answer(t.encode_answer({"rh_palm": POINTS[:1]}, g)).grasp
    assert np.all(np.abs(out - g) <= t.action_bin_width / 2 + 1e-12)
    assert len(t.action_ids) == bins


def test_dropped_positions_keep_links(tok):
    contacts = {"rh_thdistal": POINTS[:2], "rh_ffdistal": POINTS[2:3]}
    ids = tok.encode_answer(contacts, GRASPS[0], drop_positions=True)
    assert not set(ids) & set(tok.pos_ids.tolist())
    ans = tok.decode_answer(ids)
    assert ans.contact_links == ["rh_ffdistal", "rh_thdistal"]
    assert all(v.shape == (0, 3) for v in ans.contacts.values())


def test_action_only_answer(tok):
    ids = tok.encode_answer({"rh_palm": POINTS[:1]}, GRASPS[1], action_only=True)
    assert tok.contact_start_id not in ids and len(ids) == GRASP_DIM + 3
    assert tok.decode_answer(ids).contacts == {}


def test_save_load_round_trip(tok, tmp_path):
    tok.save_pretrained(tmp_path)
    back = DexterTokenizer.from_pretrained(tmp_path)
    np.testing.assert_array_equal(back.q_low, tok.q_low)
    np.testing.assert_array_equal(back.pos_high, tok.pos_high)
    ids = tok.encode_answer({"rh_mfmiddle": POINTS[:1]}, GRASPS[2])
    assert back.encode_answer({"rh_mfmiddle": POINTS[:1]}, GRASPS[2]) == ids
    assert back.link_ids.tolist() == tok.link_ids.tolist()


def test_prompt_has_point_placeholders(tok):
    ids = tok.encode_prompt("hold the mug by its handle", 16)
    assert sum(i == tok.vision_pad_id for i in ids) == 16
    assert ids[0] == tok.im_start_id
    assert tok.text.decode(ids).endswith("<|im_start|>assistant\n")
    with pytest.raises(ValueError, match="instruction"):
        tok.encode_prompt("  ", 4)


def test_decode_errors_are_clear(tok):
    good = tok.encode_answer({"rh_palm": POINTS[:1]}, GRASPS[0])
    with pytest.raises(DecodeError, match="action_end"):
        tok.decode_answer(good[:-2])  # truncated before <|action_end|>
    with pytest.raises(DecodeError, match="three position tokens"):
        tok.decode_answer(good[:3] + good[4:])  # a position token missing
    with pytest.raises(DecodeError, match="contact_end"):
        tok.decode_answer(good[:2])
    with pytest.raises(DecodeError, match="action token 5"):
        bad = list(good)
        bad[good.index(tok.action_start_id) + 5] = tok.link_ids[0]
        tok.decode_answer(bad)
    with pytest.raises(DecodeError, match="action_start"):
        tok.decode_answer([tok.im_end_id])


def test_bad_inputs(tok):
    with pytest.raises(ValueError, match="unknown hand link"):
        tok.encode_answer({"rh_wrist": POINTS[:1]}, GRASPS[0])
    with pytest.raises(ValueError, match="shape"):
        tok.encode_answer({}, GRASPS[0][:5])
    with pytest.raises(RuntimeError, match="fit"):
        DexterTokenizer(tok.text).grasp_to_bins(GRASPS[0])
    with pytest.raises(ValueError, match="n_pos_bins"):
        DexterTokenizer(tok.text, n_pos_bins=0)
    with pytest.raises(ValueError, match="grasps"):
        DexterTokenizer(tok.text).fit(GRASPS[:, :5], POINTS)


def test_many_contacts_per_link_keeps_nearest_to_mean():
    t = DexterTokenizer.offline(max_contacts_per_link=2).fit(GRASPS, POINTS)
    pts = np.array([[0.0, 0, 0], [0.09, 0.09, 0.09], [0.01, 0, 0], [-0.01, 0, 0]])
    blocks = t.contact_blocks({"rh_palm": pts})
    assert len(blocks) == 2 and all(np.abs(b[1]).max() < 0.02 for b in blocks)


def test_default_ranges_cover_every_training_grasp():
    """Min/max ranges (the default): no training grasp is clipped, so a round trip moves each
    dimension by at most half a bin; 1st/99th percentiles clip the extremes."""
    t = DexterTokenizer.offline().fit(GRASPS, POINTS)
    back = t.bins_to_grasp(t.grasp_to_bins(GRASPS))
    half_bin = (t.q_high - t.q_low) / t.n_action_bins / 2
    assert np.all(np.abs(back - GRASPS) <= half_bin + 1e-9)
    q = DexterTokenizer.offline().fit(GRASPS, POINTS, quantiles=(0.01, 0.99))
    back_q = q.bins_to_grasp(q.grasp_to_bins(GRASPS))
    assert np.abs(back_q - GRASPS).max() > (q.q_high - q.q_low).max() / q.n_action_bins
    wide = DexterTokenizer.offline().fit(GRASPS, POINTS, grasp_margin=0.1)
    np.testing.assert_allclose(wide.q_high - wide.q_low, 1.2 * (t.q_high - t.q_low))
    with pytest.raises(ValueError, match="quantiles"):
        DexterTokenizer.offline().fit(GRASPS, POINTS, quantiles=(0.5, 0.5))
