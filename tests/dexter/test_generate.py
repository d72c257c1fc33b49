"""Generation: grammar-constrained decoding, steering, shared-prefix KV cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.constants import DEXTER_RANKS
from dexgrasp.dexter.data import fit_tokenizer
from dexgrasp.dexter.generate import (
    LINKS_WEIGHT,
    TOUCH_WEIGHT,
    generate_grasps,
    parse_contact_arg,
)
from dexgrasp.dexter.grammar import GraspGrammar
from dexgrasp.dexter.model import DexterModel


def test_constrained_decoding_on_random_model_always_decodes(model, data):
    pts = data[0]["obj0"]
    out = generate_grasps(model, pts, "grasp object 0", n=48, temperature=1.5, top_p=1.0, seed=0)
    assert len(out) == 48 and all(o.ok for o in out)
    assert all(o.grasp.shape == (28,) for o in out)
    free = generate_grasps(model, pts, "grasp object 0", n=48, constrained=False, seed=0)
    assert sum(o.ok for o in free) < 48  # an untrained model rarely writes a valid answer
    assert all(o.error for o in free if not o.ok)


def test_steering_keeps_given_contacts(model, data):
    tok = model.tokenizer
    given = [
        ("rh_thdistal", (0.01, -0.02, 0.03)),
        ("rh_ffdistal", None),
        ("rh_mfdistal", (0, 0, 0.02)),
    ]
    out = generate_grasps(model, data[0]["obj1"], "hold it", n=16, contacts=given, seed=1)
    for o in out:
        assert o.ok
        assert o.contact_links[:3] == ["rh_ffdistal", "rh_mfdistal", "rh_thdistal"]  # hand order
        assert np.all(
            np.abs(o.contacts["rh_thdistal"][0] - given[0][1]) <= tok.pos_bin_width / 2 + 1e-9
        )
        assert np.all(
            np.abs(o.contacts["rh_mfdistal"][0] - given[2][1]) <= tok.pos_bin_width / 2 + 1e-9
        )
        assert o.contacts["rh_ffdistal"].shape == (0, 3)
        assert len(set(o.contact_links)) == len(o.contact_links)  # max one block per link
    with pytest.raises(ValueError, match="unknown hand link"):
        generate_grasps(model, data[0]["obj1"], "x", n=1, contacts=[("rh_wrist", None)])


def test_shared_prefix_matches_one_by_one(model, data):
    """Greedy decoding with a repeated KV cache equals decoding each sample on its own."""
    pts = data[0]["obj2"]
    shared = generate_grasps(model, pts, "hold it", n=3, temperature=0.0, batching="shared")
    alone = generate_grasps(model, pts, "hold it", n=1, temperature=0.0, batching="sequential")
    assert shared[0].token_ids == shared[2].token_ids == alone[0].token_ids


def test_greedy_matches_full_forward(model, data):
    """Incremental decoding with the cache agrees with a full forward pass over the answer."""
    pts = data[0]["obj0"]
    out = generate_grasps(model, pts, "hold it", n=1, temperature=0.0, constrained=False)[0]
    tok = model.tokenizer
    prompt = tok.encode_prompt("hold it", model.num_point_tokens, None)
    ans = out.token_ids[:10]
    ids = torch.tensor([prompt + ans])
    with torch.no_grad():
        h, _ = model.hidden_states(ids, torch.ones_like(ids), torch.as_tensor(pts)[None])
        pred = model.llm.lm_head(h[0, len(prompt) - 1 : -1]).argmax(-1).tolist()
    assert pred == ans


def test_action_only_model_generates(data, micro_config):
    torch.manual_seed(0)
    m = DexterModel.build(micro_config(action_only=True))
    fit_tokenizer(m.tokenizer, data[1])
    out = generate_grasps(m, data[0]["obj0"], "hold it", n=8, seed=0)
    assert all(o.ok and o.contacts == {} for o in out)
    with pytest.raises(ValueError, match="action-only"):
        generate_grasps(m, data[0]["obj0"], "x", n=1, contacts=[("rh_palm", None)])


def test_grammar_rejects_bad_tokens(model):
    tok = model.tokenizer
    g = GraspGrammar(tok, len(tok))
    st = g.init_state(1)
    with pytest.raises(ValueError, match="not allowed"):
        g.step(st, torch.tensor([tok.action_start_id]))
    st = g.step(st, torch.tensor([tok.contact_start_id]))
    st = g.step(st, torch.tensor([int(tok.link_ids[0])]))
    assert not g.allowed(st)[0, tok.link_ids[0]]  # the same link cannot repeat
    assert g.allowed(st)[0, tok.pos_ids[0]] and g.allowed(st)[0, tok.contact_end_id]


def test_parse_contact_arg():
    assert parse_contact_arg("rh_thdistal@0.01,0,-0.02") == ("rh_thdistal", [0.01, 0.0, -0.02])
    assert parse_contact_arg("rh_palm") == ("rh_palm", None)
    with pytest.raises(ValueError, match="three numbers"):
        parse_contact_arg("rh_palm@1,2")


def test_require_positions_gives_every_contact_a_position(model, data):
    pts = data[0]["obj0"]
    out = generate_grasps(
        model, pts, "grasp object 0", n=24, temperature=1.5, top_p=1.0, seed=3,
        require_positions=True,
    )  # fmt: skip
    assert all(o.ok for o in out)
    links = sum(len(o.contact_links) for o in out)
    with_pos = sum(len(v) for o in out for v in o.contacts.values())
    assert links > 0 and with_pos == links  # no link-only block
    free = generate_grasps(model, pts, "grasp object 0", n=24, temperature=1.5, top_p=1.0, seed=3)
    assert sum(len(v) for o in free for v in o.contacts.values()) < sum(
        len(o.contact_links) for o in free
    )  # without the switch a random model writes link-only blocks too
    with pytest.raises(ValueError, match="require_positions"):
        generate_grasps(
            model, pts, "x", n=1, contacts=[("rh_ffdistal", None)], require_positions=True
        )


def _nearest_bin_gap(tok, pts, contacts) -> np.ndarray:
    """(K,) for each contact: min over points of the largest per-axis bin gap, minus the radius."""
    pb = tok.positions_to_bins(pts)
    radius = np.maximum(1, np.ceil(0.005 / tok.pos_bin_width)).astype(int)
    gaps = []
    for xyz in contacts:
        d = np.abs(pb - tok.positions_to_bins(xyz)) - radius  # (N, 3), <= 0 where allowed
        gaps.append(d.max(1).min())
    return np.asarray(gaps)


def test_surface_constraint_puts_contacts_on_the_points(model, data):
    """Every written position names one point (per-axis bin gap <= the radius on x, y and z);
    without the constraint a random model writes positions in empty space."""
    tok, pts = model.tokenizer, data[0]["obj0"]
    kw = dict(n=24, temperature=1.5, top_p=1.0, seed=4, require_positions=True)
    out = generate_grasps(model, pts, "grasp object 0", surface_tol=0.005, **kw)
    assert all(o.ok for o in out)
    written = [c for o in out for v in o.contacts.values() for c in v]
    assert len(written) > 20
    assert np.all(_nearest_bin_gap(tok, pts, written) <= 0)
    free = generate_grasps(model, pts, "grasp object 0", **kw)
    free_pos = [c for o in free for v in o.contacts.values() for c in v]
    assert np.mean(_nearest_bin_gap(tok, pts, free_pos) > 0) > 0.5
    # a steering contact off the surface is kept as given; the model's own ones are on it
    far = ("rh_thdistal", tuple(np.asarray(tok.pos_high) - 1e-4))
    out = generate_grasps(model, pts, "x", contacts=[far], surface_tol=0.005, **kw)
    for o in out:
        assert np.all(np.abs(o.contacts["rh_thdistal"][0] - far[1]) <= tok.pos_bin_width / 2 + 1e-9)
        own = [c for k, v in o.contacts.items() if k != "rh_thdistal" for c in v]
        assert np.all(_nearest_bin_gap(tok, pts, own) <= 0)
    with pytest.raises(ValueError, match="surface_tol"):
        generate_grasps(model, pts, "x", n=1, surface_tol=-1.0)


def test_fit_contacts_moves_the_grasp_onto_the_given_contacts(model, data):
    from dexgrasp.grasps.conventions import LINK_NAMES
    from dexgrasp.grasps.hand import shadow_hand

    hand, pts = shadow_hand(), data[0]["obj0"]
    far = np.argmin(np.abs(np.linalg.norm(pts - pts[0], axis=1) - 0.05))  # a pinch 5 cm wide
    given = [("rh_thdistal", tuple(pts[0])), ("rh_ffdistal", tuple(pts[far]))]
    kw = dict(n=3, contacts=given, temperature=1.0, seed=5)
    raw = generate_grasps(model, pts, "grasp object 0", **kw)
    fit = generate_grasps(model, pts, "grasp object 0", fit_contacts="given", **kw)

    def gap(grasp):  # mean distance from a given contact to its link's surface
        p = hand.surface_points(np.asarray(grasp)[None])[0]
        ids = hand.surface_point_links
        return np.mean([np.linalg.norm(p[ids == LINK_NAMES.index(k)] - c, axis=1).min()
                        for k, c in given])  # fmt: skip

    for r, f in zip(raw, fit):
        assert np.array_equal(f.model_grasp, r.grasp)  # the written grasp is kept
        assert gap(f.grasp) < 0.5 * gap(r.grasp)  # (from a random model's pose, kept outside)
    assert raw[0].model_grasp is None
    # "given" with nothing given fits nothing (it must not fall back to the model's contacts)
    kw.update(contacts=None, require_positions=True)
    raw = generate_grasps(model, pts, "grasp object 0", **kw)
    same = generate_grasps(model, pts, "grasp object 0", fit_contacts="given", **kw)
    own = generate_grasps(model, pts, "grasp object 0", fit_contacts="all", **kw)
    for r, s in zip(raw, same):
        assert s.model_grasp is None and np.array_equal(s.grasp, r.grasp)
    fitted = [(r, o) for r, o in zip(raw, own) if o.model_grasp is not None]
    assert fitted  # a random model may write no contact position in some sample
    assert all(np.array_equal(o.model_grasp, r.grasp) and not np.array_equal(o.grasp, r.grasp)
               for r, o in fitted)  # fmt: skip
    with pytest.raises(ValueError, match="fit_contacts"):
        generate_grasps(model, pts, "x", n=1, fit_contacts="some")


def test_logprob_is_the_models_own_likelihood_of_the_answer(model, data):
    """The recorded log-probability equals a full forward pass scored on the sampled answer."""
    pts = data[0]["obj0"]
    outs = generate_grasps(model, pts, "hold it", n=2, constrained=False, temperature=1.0, seed=3)
    tok = model.tokenizer
    prompt = tok.encode_prompt("hold it", model.num_point_tokens, None)
    stop = {tok.im_end_id, tok.pad_id}
    for o in outs:
        ans = o.token_ids
        end = next((i + 1 for i, t in enumerate(ans) if t in stop), len(ans))
        ans = ans[:end]
        ids = torch.tensor([prompt + ans])
        with torch.no_grad():
            h, _ = model.hidden_states(ids, torch.ones_like(ids), torch.as_tensor(pts)[None])
            lp = torch.log_softmax(model.llm.lm_head(h[0, len(prompt) - 1 : -1]).float(), -1)
        per_tok = lp.gather(1, torch.tensor(ans)[:, None]).squeeze(1).double()
        is_action = torch.isin(torch.tensor(ans), torch.as_tensor(tok.action_ids))
        assert o.num_tokens == len(ans)
        assert o.logprob == pytest.approx(float(per_tok.sum()), abs=1e-3)
        assert o.grasp_logprob == pytest.approx(float(per_tok[is_action].sum()), abs=1e-3)
        assert o.score("mean") == pytest.approx(o.logprob / len(ans))


@pytest.mark.parametrize("rank", DEXTER_RANKS)
def test_candidates_keep_the_best_scored_sample_of_each_group(model, data, rank):
    pts, kw = data[0]["obj1"], {"temperature": 1.0, "seed": 5}
    drawn = generate_grasps(model, pts, "hold it", n=6, rank=rank, **kw)  # same draws, all kept
    kept = generate_grasps(model, pts, "hold it", n=2, candidates=3, rank=rank, **kw)
    assert len(kept) == 2
    seen = []
    for i, k in enumerate(kept):
        group = drawn[3 * i : 3 * i + 3]
        fresh = [g for g in group if g.token_ids not in seen] or group
        best = max(fresh, key=lambda g: (g.ok, g.score(rank), g.score("mean")))
        assert k.token_ids == best.token_ids
        assert all(k.score(rank) >= g.score(rank) for g in fresh if g.ok)
        seen.append(k.token_ids)
        if rank in ("touch", "consistent"):  # mean + weight x fraction of links touching
            assert 0.0 <= k.touch <= 1.0
            assert k.score("touch") == pytest.approx(k.score("mean") + TOUCH_WEIGHT * k.touch)
        if rank == "consistent":  # touch + weight x F1(written links, touching links)
            assert 0.0 <= k.links_f1 <= 1.0
            want = k.score("touch") + LINKS_WEIGHT * k.links_f1
            assert k.score("consistent") == pytest.approx(want)
            assert k.to_json()["links_f1"] == k.links_f1
    with pytest.raises(ValueError, match="candidates"):
        generate_grasps(model, pts, "x", n=1, candidates=0)
    with pytest.raises(ValueError, match="rank"):
        generate_grasps(model, pts, "x", n=1, rank="best")


def test_candidates_keep_distinct_answers_where_they_can(model, data):
    from dexgrasp.dexter.generate import GeneratedGrasp, _keep_best

    def answer(ids, logprob, hand=None):  # the grasp: one value per answer unless given
        grasp = np.full(28, float(ids[0] if hand is None else hand))
        return GeneratedGrasp(grasp, token_ids=ids, logprob=logprob, num_tokens=1)

    a, b, c, a2 = [1], [2], [3], [4]  # a2: other contacts written, the same hand as a
    drawn = [
        answer(a, -1),
        answer(b, -2),
        answer(a, -1),
        answer(c, -3),
        answer(a, -1),
        answer(a, -1),
        answer(a2, -1, hand=1),
        answer(b, -2),
    ]
    kept = _keep_best(drawn, 2, "mean")
    # group 2 skips a; group 3 has only a; group 4 skips a2, which places a's hand
    assert [k.token_ids for k in kept] == [a, c, a, b]
    greedy = generate_grasps(model, data[0]["obj1"], "hold it", n=3, candidates=2, temperature=0.0)
    assert greedy[0].token_ids == greedy[1].token_ids == greedy[2].token_ids  # nothing else


def test_contact_temperature_samples_the_contact_block_on_its_own(model, data):
    pts, start = data[0]["obj0"], model.tokenizer.action_start_id

    def gen(**kw):
        return generate_grasps(model, pts, "hold it", n=16, temperature=1.5, seed=3, **kw)

    greedy_contacts = gen(contact_temperature=0.0)
    plans = {tuple(o.token_ids[: o.token_ids.index(start)]) for o in greedy_contacts}
    assert len(plans) == 1  # the most likely contact block, every time
    assert len({tuple(o.token_ids) for o in greedy_contacts}) > 1  # grasps still sampled
    free = gen()
    assert len({tuple(o.token_ids[: o.token_ids.index(start)]) for o in free}) > 1
    same = gen(contact_temperature=1.5)  # one temperature per row: the same draws as one
    assert [o.token_ids for o in same] == [o.token_ids for o in free]
    with pytest.raises(ValueError, match="contact_temperature must be >= 0"):
        gen(contact_temperature=-1.0)
