"""Grasp generation: grammar-constrained sampling, shared-prefix KV cache, contact steering.

Example::

    from dexgrasp.dexter import DexterModel, generate_grasps

    model = DexterModel.from_pretrained("runs/dexter")
    out = generate_grasps(model, points, "hold the mug by the handle", n=8,
                          contacts=[("rh_thdistal", (0.01, -0.03, 0.05))])
    out[0].grasp          # (28,) grasp vector
    out[0].contacts       # {"rh_thdistal": (1, 3), "rh_ffdistal": (1, 3), ...}

The prompt (point tokens, instruction and any steering contacts) is encoded once; its key/value
cache is then repeated across the ``n`` samples, which decode together as one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from dexgrasp.constants import DEXTER_FIT_CONTACTS as FIT_CONTACTS
from dexgrasp.constants import DEXTER_RANKS as RANKS
from dexgrasp.dexter import fast_decode, prompts
from dexgrasp.dexter.grammar import GraspGrammar
from dexgrasp.dexter.model import DexterModel
from dexgrasp.dexter.tokenizer import DecodeError

BATCHING = ("shared", "sequential")
# rank "touch": mean log-probability per token + this x the fraction of hand links touching
# (picked on training objects, docs/dexter.md "Which score picks good candidates")
TOUCH_WEIGHT = 0.5
# rank "consistent": "touch" + this x the F1 between the contact links the answer wrote and the
# links its hand brings to the object (picked on training objects, docs/dexter.md, session 24)
LINKS_WEIGHT = 1.0
ContactSpec = tuple[str, Sequence[float] | np.ndarray | None]
GEOMETRIC_RANKS = ("contacts", "touch", "consistent")  # ranks that place the hand (``_agreement``)


@dataclass
class GeneratedGrasp:
    """One sample. ``ok`` is False (and ``error`` says why) when the answer did not decode."""

    grasp: np.ndarray | None  # (28,)
    contacts: dict[str, np.ndarray] = field(default_factory=dict)  # link -> (k, 3) metres
    contact_links: list[str] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)  # the full answer, steering prefix included
    ok: bool = True
    error: str | None = None
    model_grasp: np.ndarray | None = None  # the grasp as written, when ``grasp`` was fitted
    # the model's log-probability of what it wrote (T = 1, grammar-masked; no steering prefix)
    logprob: float = 0.0
    grasp_logprob: float = 0.0  # the part of ``logprob`` from the action tokens
    num_tokens: int = 0  # tokens ``logprob`` sums over
    # contact links against the hand (``contact_agreement``), set by ``rank="contacts"``
    agreement: float | None = None
    # fraction of the hand's links that touch the object, set by ``rank="touch"|"consistent"``
    touch: float | None = None
    # F1 between the written contact links and the links that touch, set by ``rank="consistent"``
    links_f1: float | None = None

    def score(self, rank: str) -> float:
        """Ranking score (higher is better): "mean" log-probability per written token, "sum"
        over the answer, "grasp", the action tokens' sum, "contacts", the agreement of the
        written contact links with the hand placed by the grasp, "touch", "mean" plus
        ``TOUCH_WEIGHT`` x the fraction of hand links touching the object, or "consistent",
        "touch" plus ``LINKS_WEIGHT`` x the F1 between the written contact links and the
        touching links."""
        if rank == "contacts":
            if self.agreement is None:
                raise ValueError("no contact agreement computed for this grasp")
            return self.agreement
        if rank == "touch":
            if self.touch is None:
                raise ValueError("no touching links computed for this grasp")
            return self.score("mean") + TOUCH_WEIGHT * self.touch
        if rank == "consistent":
            if self.links_f1 is None:
                raise ValueError("no contact-link F1 computed for this grasp")
            return self.score("touch") + LINKS_WEIGHT * self.links_f1
        if rank == "mean":
            return self.logprob / max(self.num_tokens, 1)
        if rank == "sum":
            return self.logprob
        if rank == "grasp":
            return self.grasp_logprob
        raise ValueError(f"rank must be one of {RANKS}, got {rank!r}")

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "error": self.error,
            "grasp": None if self.grasp is None else [float(v) for v in self.grasp],
            "contacts": {k: np.asarray(v).tolist() for k, v in self.contacts.items()},
            "contact_links": list(self.contact_links),
            "model_grasp": None
            if self.model_grasp is None
            else [float(v) for v in self.model_grasp],
            "logprob": self.logprob,
            "grasp_logprob": self.grasp_logprob,
            "num_tokens": self.num_tokens,
            "agreement": self.agreement,
            "touch": self.touch,
            "links_f1": self.links_f1,
        }


def recommended_rank(contacts: Sequence[ContactSpec] | None) -> str:
    """The rank of the recommended decoding (``constants.DEXTER_RECOMMENDED_*``): ``touch``
    for free grasps; ``contacts`` when the user gave contacts.

    ``touch`` keeps hands that hold, but with given contacts it drifts from them (docs/dexter.md,
    steering table); ``contacts`` keeps the answer whose hand puts its links where they were
    written, the given ones included.
    """
    return "contacts" if contacts else "touch"


def parse_contact_arg(text: str) -> ContactSpec:
    """``LINK@x,y,z`` (metres) or ``LINK`` (link only) -> (link, xyz | None)."""
    link, _, pos = text.partition("@")
    if not link:
        raise ValueError(f"bad contact {text!r}: expected LINK@x,y,z or LINK")
    if not pos:
        return link, None
    try:
        xyz = [float(v) for v in pos.split(",")]
    except ValueError as err:
        raise ValueError(f"bad contact position in {text!r}: expected three numbers x,y,z") from err
    if len(xyz) != 3:
        raise ValueError(f"bad contact position in {text!r}: expected three numbers x,y,z")
    return link, xyz


def sample_tokens(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    top_p: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids; ``temperature`` is one number or one per row (B,),
    0 is greedy; top-p keeps the nucleus."""
    per_row = isinstance(temperature, torch.Tensor)
    if not per_row and temperature <= 0:
        return logits.argmax(-1)
    temp = temperature[:, None].clamp_min(1e-6) if per_row else temperature
    probs = torch.softmax(logits.float() / temp, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > top_p  # keep at least the top token
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    drawn = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return torch.where(temperature > 0, drawn, logits.argmax(-1)) if per_row else drawn


def _steering_ids(model: DexterModel, contacts: Sequence[ContactSpec] | None) -> list[int]:
    """Token ids of the given contacts (hand order), starting with ``<|contact_start|>``."""
    tok = model.tokenizer
    if not contacts:
        return []
    if model.config.action_only:
        raise ValueError("an action-only model cannot be steered with contacts")
    blocks = []
    for link, xyz in contacts:
        if link not in tok.link_names:
            raise ValueError(f"unknown hand link {link!r}; expected one of {tok.link_names}")
        blocks.append((link, None if xyz is None else np.asarray(xyz, dtype=np.float64)))
    blocks.sort(key=lambda b: tok.link_names.index(b[0]))
    return tok.encode_contacts(blocks)


@torch.no_grad()
def _decode_batch(
    model: DexterModel,
    grammar: GraspGrammar,
    prompt_ids: list[int],
    forced: list[int],
    points: torch.Tensor,
    n: int,
    constrained: bool,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
    fast: bool = True,
    contact_temperature: float | None = None,
) -> list[tuple[list[int], float, float, int]]:
    """Prefill once (batch 1), repeat the cache ``n`` times and sample ``n`` answers together;
    ``fast``: decode steps through :mod:`dexgrasp.dexter.fast_decode` where the LLM allows;
    ``contact_temperature``: the temperature of every token before ``<|action_start|>``
    (``temperature`` after it); None: ``temperature`` throughout.

    Returns per answer ``(ids, logprob, grasp_logprob, num_tokens)``: the ids start with the
    forced prefix; the log-probabilities are the model's own (temperature 1, grammar-masked
    when ``constrained``) summed over the sampled tokens (the stop token included), and over
    the action tokens among them."""
    dev = model.device
    ids = torch.tensor([prompt_ids + forced], device=dev)
    hidden, cache = model.hidden_states(ids, torch.ones_like(ids), points, use_cache=True)
    logits = model.llm.lm_head(hidden[:, -1]).float().expand(n, -1)
    pos = ids.shape[1]
    max_steps = grammar.max_answer_tokens - len(forced)
    decoder = None
    if fast and fast_decode.supports(model.llm):
        decoder = fast_decode.static_decoder(model.llm, n, pos + max_steps)
        decoder.load_prompt(cache, pos)
    else:
        cache.batch_repeat_interleave(n)
    st = grammar.init_state(n)
    if forced:
        for t in forced:  # the steering prefix must itself be grammatical
            st = grammar.step(st, torch.full((n,), t, device=dev))
    out = torch.empty(n, 0, dtype=torch.long, device=dev)
    finished = torch.zeros(n, dtype=torch.bool, device=dev)
    emb = model.llm.get_input_embeddings()
    stop = torch.tensor([model.tokenizer.im_end_id, model.tokenizer.pad_id], device=dev)
    action_ids = torch.as_tensor(model.tokenizer.action_ids, device=dev)
    logp = torch.zeros(n, dtype=torch.float64, device=dev)
    logp_grasp = torch.zeros_like(logp)
    count = torch.zeros(n, dtype=torch.long, device=dev)
    temp: float | torch.Tensor = temperature
    if contact_temperature is not None:  # one per row: the contact block's until <|action_start|>
        phase_temps = torch.tensor([contact_temperature, temperature], device=dev)
        in_grasp = torch.zeros(n, dtype=torch.long, device=dev)
    for _ in range(max_steps):
        if constrained:
            logits = logits.masked_fill(~grammar.allowed(st), float("-inf"))
        if contact_temperature is not None:
            temp = phase_temps[in_grasp]
        nxt = sample_tokens(logits, temp, top_p, generator)
        if contact_temperature is not None:
            in_grasp |= (nxt == model.tokenizer.action_start_id).long()
        nxt = torch.where(finished, torch.full_like(nxt, model.tokenizer.pad_id), nxt)
        lp = torch.log_softmax(logits.float(), -1).gather(1, nxt[:, None]).squeeze(1).double()
        lp = torch.where(finished, torch.zeros_like(lp), lp)
        logp += lp
        logp_grasp += torch.where(torch.isin(nxt, action_ids), lp, torch.zeros_like(lp))
        count += (~finished).long()
        if constrained:
            st = grammar.step(st, nxt)
        out = torch.cat([out, nxt[:, None]], 1)
        finished |= torch.isin(nxt, stop)
        if bool(finished.all()):
            break
        if decoder is not None:
            logits = decoder.step(nxt, pos)
        else:
            h, cache = model.body(
                cache,
                inputs_embeds=emb(nxt[:, None]),
                position_ids=torch.full((n, 1), pos, device=dev),
                use_cache=True,
            )
            logits = model.llm.lm_head(h[:, -1]).float()
        pos += 1
    return [
        (forced + row, float(a), float(b), int(c))
        for row, a, b, c in zip(out.tolist(), logp.tolist(), logp_grasp.tolist(), count.tolist())
    ]


@torch.no_grad()
def generate_grasps(
    model: DexterModel,
    points: np.ndarray | torch.Tensor,
    instruction: str,
    n: int = 8,
    contacts: Sequence[ContactSpec] | None = None,
    temperature: float = 1.0,
    top_p: float = 0.9,
    constrained: bool = True,
    batching: str = "shared",
    meta_prompt: str | None = None,
    seed: int | None = None,
    require_positions: bool = False,
    fast: bool = True,
    surface_tol: float | None = None,
    fit_contacts: str | None = None,
    candidates: int = 1,
    rank: str = "mean",
    contact_temperature: float | None = None,
) -> list[GeneratedGrasp]:
    """Sample ``n`` grasps for one object.

    Args:
        model: a DextER model (eval mode is set here).
        points: (N, 3) object points, metres, object frame.
        instruction: the grasp instruction.
        n: number of samples.
        contacts: steering prefix, ``[(link, (x, y, z) or None), ...]``; every answer starts
            with these contacts (in hand-link order) and the model completes the rest.
        temperature, top_p: sampling; temperature 0 is greedy.
        contact_temperature: sample the contact block (every token before the grasp's
            ``<|action_start|>``) at this temperature and the grasp at ``temperature``;
            None: ``temperature`` throughout. 0 writes the most likely contacts.
        constrained: mask logits with the answer grammar (always decodable).
        batching: "shared" (one prefill, cache repeated over the batch) or "sequential"
            (prefill and decode each sample alone; the baseline for the speed-up).
        meta_prompt: override the meta-prompt (default: the first of the pool).
        seed: seeds the sampler.
        require_positions: every contact block the model writes carries a position
            (``GraspGrammar``); steering contacts must then all have positions.
        fast: decode over a preallocated key/value cache (``fast_decode``; a CUDA graph per
            step on GPUs); False uses the ``transformers`` decode loop. Same logits up to float
            rounding.
        surface_tol: metres; when set, contact positions the model writes must name a point
            of ``points`` to within this distance per axis (``GraspGrammar``'s surface
            constraint); steering contacts are kept as given. None: positions are free.
        fit_contacts: after decoding, move each grasp so its links touch contact positions
            (:func:`dexgrasp.grasps.contacts.fit_grasp_to_contacts`): "given" fits the
            steering contacts that have a position, "all" every position in the answer;
            hand points are kept out of the object by ``point_cloud_sdf(points)``. The
            written grasp is kept in ``model_grasp``. None: the grasp as written.
        candidates: sample this many answers for each of the ``n`` grasps (all ``n *
            candidates`` in one batch over the shared prompt cache) and keep the one the
            model itself scores best by ``rank``; 1 keeps every sample as drawn. Fitting,
            when asked for, runs on the kept grasps only.
        rank: the score that picks among candidates (``GeneratedGrasp.score``): "mean"
            log-probability per written token, "sum" over the answer, "grasp", the sum
            over the 28 action tokens, or "contacts": F1 between the contact links written
            and the links the grasp's hand brings to the object, less the written positions'
            distance from their links (:func:`dexgrasp.grasps.contacts.contact_agreement`,
            from ``points`` and the hand model; 0 for an action-only model), ties broken by
            "mean", or "touch": "mean" plus ``TOUCH_WEIGHT`` x the fraction of the hand's
            links within 5 mm of ``points`` (:func:`dexgrasp.grasps.contacts.touching_links`;
            any model), or "consistent": "touch" plus ``LINKS_WEIGHT`` x the F1 between the
            contact links the answer wrote and the links its hand touches the object with
            (the model's contacts checked against its own grasp; the same as "touch" for an
            action-only model, which writes no contacts). Answers that do not decode are
            never kept unless every candidate failed, and an answer whose hand another grasp
            already kept (the same grasp, whatever contacts it wrote) is skipped where its
            group has a different one, so the ``n`` grasps stay distinct where the samples
            allow.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    if rank not in RANKS:
        raise ValueError(f"rank must be one of {RANKS}, got {rank!r}")
    if batching not in BATCHING:
        raise ValueError(f"batching must be one of {BATCHING}, got {batching!r}")
    if temperature < 0 or (contact_temperature is not None and contact_temperature < 0):
        raise ValueError(
            f"temperature and contact_temperature must be >= 0, got {temperature} and "
            f"{contact_temperature}"
        )
    model.eval()
    tok = model.tokenizer
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float32, device=model.device)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {tuple(pts.shape)}")
    meta = meta_prompt or prompts.pick_meta_prompt(model.config.action_only)
    prompt_ids = tok.encode_prompt(instruction, model.num_point_tokens, meta)
    if fit_contacts not in (None, *FIT_CONTACTS):
        raise ValueError(
            f"fit_contacts must be None or one of {FIT_CONTACTS}, got {fit_contacts!r}"
        )
    if require_positions and any(c[1] is None for c in contacts or ()):
        raise ValueError("require_positions=True: every steering contact needs a position")
    forced = _steering_ids(model, contacts)
    grammar = GraspGrammar(
        tok, model.llm.get_input_embeddings().num_embeddings, model.config.action_only,
        model.device, require_positions=require_positions,
        surface_points=None if surface_tol is None else pts, surface_tol=surface_tol or 0.0,
    )  # fmt: skip
    gen = None
    if seed is not None:
        gen = torch.Generator(device=model.device).manual_seed(seed)
    args = (model, grammar, prompt_ids, forced, pts[None])
    total = n * candidates
    sampling = (constrained, temperature, top_p, gen, fast, contact_temperature)
    if batching == "shared":
        answers = _decode_batch(*args, total, *sampling)
    else:
        answers = [_decode_batch(*args, 1, *sampling)[0] for _ in range(total)]
    drawn = []
    for ids, logp, logp_grasp, count in answers:
        scores = {"logprob": logp, "grasp_logprob": logp_grasp, "num_tokens": count}
        try:
            d = tok.decode_answer(ids)
            drawn.append(GeneratedGrasp(d.grasp, d.contacts, d.contact_links, ids, **scores))
        except DecodeError as err:
            drawn.append(GeneratedGrasp(None, token_ids=ids, ok=False, error=str(err), **scores))
    cloud = pts.cpu().numpy()
    sdf = None  # the object's point-cloud SDF, built once for ranking and fitting
    if rank in GEOMETRIC_RANKS or fit_contacts is not None:
        from dexgrasp.grasps.metrics.penetration import point_cloud_sdf

        sdf = point_cloud_sdf(cloud)
    if rank in GEOMETRIC_RANKS:
        _agreement(drawn, cloud, sdf, rank)
    results = _keep_best(drawn, candidates, rank)
    if fit_contacts is not None:
        given = (contacts or []) if fit_contacts == "given" else None
        _fit(results, given, sdf)
    return results


def _keep_best(drawn: list[GeneratedGrasp], k: int, rank: str) -> list[GeneratedGrasp]:
    """The best-scored answer of each consecutive group of ``k``, skipping answers whose hand
    an earlier group already kept where the group has another one (so the ``n`` grasps stay
    distinct: two answers that differ only in the contacts they wrote place the same hand)."""

    def hand(g: GeneratedGrasp):
        return g.grasp.tobytes() if g.ok and g.grasp is not None else tuple(g.token_ids)

    kept, seen = [], set()
    for i in range(0, len(drawn), k):
        group = sorted(
            drawn[i : i + k],
            key=lambda g: (g.ok, g.ok and g.score(rank), g.score("mean")),
            reverse=True,
        )
        pick = next((g for g in group if hand(g) not in seen), group[0])
        seen.add(hand(pick))
        kept.append(pick)
    return kept


def _agreement(drawn: list[GeneratedGrasp], points: np.ndarray, sdf, rank: str) -> None:
    """Set ``agreement`` (rank "contacts"), ``touch`` (rank "touch") or ``touch`` and
    ``links_f1`` (rank "consistent") on every decoded answer, one batched call."""
    from dexgrasp.grasps.contacts import contact_agreement, link_f1, touching_links
    from dexgrasp.grasps.hand import shadow_hand

    ok = [g for g in drawn if g.ok]
    if not ok:
        return
    grasps = np.stack([g.grasp for g in ok])
    if rank == "contacts":
        scores = contact_agreement(grasps, [g.contacts for g in ok], points, sdf=sdf)
        for g, v in zip(ok, scores):
            g.agreement = float(v)
    else:
        hand = shadow_hand()
        touching = touching_links(grasps, points, hand, sdf)[0]
        can_touch = np.isin(np.arange(touching.shape[1]), hand.surface_point_links)
        n_links = int(can_touch.sum())  # links that can touch
        for g, row in zip(ok, touching):
            g.touch = float(row.sum()) / n_links
            if rank == "consistent":
                g.links_f1 = link_f1(g.contacts, row, can_touch)


def _fit(results: list[GeneratedGrasp], given: Sequence[ContactSpec] | None, sdf) -> None:
    """Fit each decoded grasp to the given contacts (exact positions; an empty list fits
    nothing), or to its own contacts when ``given`` is None, kept out of the object by its
    point-cloud ``sdf`` (see ``generate_grasps(fit_contacts=...)``)."""
    from dexgrasp.grasps.contacts import fit_grasp_to_contacts
    from dexgrasp.grasps.hand import shadow_hand

    if given is not None and not any(xyz is not None for _, xyz in given):
        return  # nothing given with a position: the grasps stay as written
    hand = shadow_hand()
    fixed = {}
    for link, xyz in given or ():
        if xyz is not None:
            fixed.setdefault(link, []).append(np.asarray(xyz, dtype=np.float64))
    for r in results:
        if not r.ok:
            continue
        targets = fixed if given is not None else r.contacts
        if not any(len(v) for v in targets.values()):
            continue
        r.model_grasp = r.grasp
        targets = {k: np.asarray(v) for k, v in targets.items()}
        r.grasp = fit_grasp_to_contacts(r.grasp, targets, hand, sdf=sdf)
