"""Evaluate DextER on a grasp dataset split with the project's grasp metrics (paper Tables 1-4).

For every test record (object + instruction + ground-truth grasp and contacts) the model samples
``n`` grasps; each prediction is scored against that record's ground truth (Chamfer distance on
hand surface points, contact maps, contact-link scores) and in simulation (MuJoCo disturbance and
gravity tests), with Q1, penetration and diversity, by :mod:`dexgrasp.grasps.metrics.evaluate`.

    metrics = evaluate("runs/dexter", "data/grasps", "unseen", EvalConfig(n_per_record=4))
    rows = steering_table("runs/dexter", "data/grasps", links=(0, 1, 2, 3))
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.constants import DEXTER_FIT_CONTACTS, DEXTER_RANKS
from dexgrasp.grasps.conventions import LINK_NAMES

DEFAULT_METRICS = ("sim", "q1", "pen", "cd", "con", "div", "contact")
TABLE_KEYS = (
    ("decode_rate", "decode", 100, ".1f"),
    ("sim_force_all6", "sim force all6 %", 100, ".1f"),
    ("sim_gravity_any6", "sim gravity any6 %", 100, ".1f"),
    ("cd_cm", "CD cm", 1, ".2f"),
    ("con", "Con.", 1, ".4f"),
    ("q1", "Q1", 1, ".3f"),
    ("pen_cm", "Pen. cm", 1, ".2f"),
    ("delta_t", "δt cm", 1, ".2f"),
    ("contact_f1", "link F1", 1, ".2f"),
    ("contact_pos_acc", "pos acc", 1, ".2f"),
)


@dataclass
class EvalConfig:
    """Evaluation settings.

    Attributes:
        n_per_record: grasps sampled per test record.
        max_records: use at most this many records (evenly spaced); None = all.
        steer_links: give the model the first K ground-truth contacts (hand order).
        metrics: metric names of :mod:`dexgrasp.grasps.metrics.evaluate`.
        temperature, top_p: sampling.
        contact_temperature: the contact block's temperature (None: ``temperature``).
        constrained: grammar-constrained decoding.
        require_positions: the grammar makes every contact block carry a position.
        surface_tol: metres; contact positions must lie on the object's points to within
            this per axis (None: free). See ``GraspGrammar``.
        fit_contacts: "given" / "all": fit each grasp to the steering / all contact
            positions after decoding (``generate_grasps``); None: score the grasp as written.
        candidates, rank: sample ``candidates`` answers per grasp and keep the one the model
            scores best by ``rank`` ("mean", "sum", "grasp", "contacts", "touch" or
            "consistent"; see ``generate_grasps``).
        seed: sampling seed.
    """

    n_per_record: int = 4
    max_records: int | None = None
    steer_links: int = 0
    metrics: tuple[str, ...] = DEFAULT_METRICS
    temperature: float = 1.0
    top_p: float = 0.9
    constrained: bool = True
    require_positions: bool = False
    surface_tol: float | None = None
    fit_contacts: str | None = None
    candidates: int = 1
    rank: str = "mean"
    contact_temperature: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_per_record < 1:
            raise ValueError("EvalConfig.n_per_record must be >= 1")
        if self.max_records is not None and self.max_records < 1:
            raise ValueError("EvalConfig.max_records must be >= 1 or None")
        if not 0 <= self.steer_links <= len(LINK_NAMES):
            raise ValueError(f"EvalConfig.steer_links must be in [0, {len(LINK_NAMES)}]")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("EvalConfig.temperature must be >= 0 and top_p in (0, 1]")
        if self.contact_temperature is not None and self.contact_temperature < 0:
            raise ValueError("EvalConfig.contact_temperature must be >= 0 or None")
        if self.surface_tol is not None and not self.surface_tol >= 0:
            raise ValueError("EvalConfig.surface_tol must be >= 0 metres or None")
        if self.fit_contacts not in (None, *DEXTER_FIT_CONTACTS):
            raise ValueError(
                f"EvalConfig.fit_contacts must be None or one of {DEXTER_FIT_CONTACTS}"
            )
        if self.candidates < 1 or self.rank not in DEXTER_RANKS:
            raise ValueError(f"EvalConfig.candidates must be >= 1 and rank one of {DEXTER_RANKS}")
        if not self.metrics:
            raise ValueError("EvalConfig.metrics must name at least one metric")
        self.metrics = tuple(self.metrics)


def _instruction(record: Any) -> str:
    texts = [i for i in record.instructions if isinstance(i, Mapping) and i.get("text")]
    physical = [i["text"] for i in texts if i.get("level") == "physical"]
    if physical or texts:
        return (physical or [texts[0]["text"]])[0]
    raise ValueError(f"test record of {record.object_id} has no instruction")


def steering_contacts(
    contacts: Mapping[str, np.ndarray], k: int, tokenizer: Any
) -> list[tuple[str, np.ndarray]]:
    """The first ``k`` ground-truth contacts in hand-link order, one position per link: the
    one training answers carry (``DexterTokenizer.contact_blocks``, nearest the link's mean)."""
    blocks = tokenizer.contact_blocks({name: v for name, v in contacts.items() if len(v)})
    return [(link, pos) for link, pos in blocks if pos is not None][:k]


def _load_model(model: Any, device: str):
    from dexgrasp.dexter.model import DexterModel

    if isinstance(model, DexterModel):
        return model.to(device), "<in memory>"
    return DexterModel.from_pretrained(model, device=device), str(model)


def _train_steps(model_dir: str) -> int | None:
    f = Path(model_dir) / "train_state" / "step.json"
    return int(json.loads(f.read_text())["step"]) if f.is_file() else None


def evaluate(
    model: Any,
    data: str | Path,
    split: str = "unseen",
    config: EvalConfig | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Sample grasps for the split's records and score them; returns a flat metrics dict.

    Args:
        model: a DexterModel or a checkpoint directory.
        data: grasp dataset directory (``dexgrasp.grasps.dataset`` layout).
        split: dataset split (``unseen`` holds the test objects).
        config: evaluation settings.
    """
    from tqdm.auto import tqdm

    from dexgrasp.dexter.generate import generate_grasps
    from dexgrasp.grasps.dataset import GraspDataset
    from dexgrasp.grasps.importers.bridge import read_reference
    from dexgrasp.grasps.metrics.evaluate import GraspSet
    from dexgrasp.grasps.metrics.evaluate import evaluate as score

    cfg = config or EvalConfig()
    net, source = _load_model(model, device)
    records = GraspDataset.open(data).records(split)
    if not records:
        raise ValueError(f"{data}: no grasp records in split {split!r}")
    if cfg.max_records and cfg.max_records < len(records):
        idx = np.linspace(0, len(records) - 1, cfg.max_records).round().astype(int)
        records = [records[i] for i in idx]
    _, objects, points = read_reference(Path(data), split)
    ref = GraspSet(
        [r.object_id for r in records],
        np.stack([r.grasp for r in records]),
        [dict(r.contacts) for r in records],
    )
    ids, grasps, contacts, ref_index, token_logp = [], [], [], [], []
    n_total = 0
    t0 = time.perf_counter()
    for j, rec in enumerate(tqdm(records, desc="generate", disable=not progress)):
        given = steering_contacts(rec.contacts, cfg.steer_links, net.tokenizer)
        outs = generate_grasps(
            net,
            points[rec.object_id],
            _instruction(rec),
            n=cfg.n_per_record,
            contacts=given or None,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            constrained=cfg.constrained,
            require_positions=cfg.require_positions,
            surface_tol=cfg.surface_tol,
            fit_contacts=cfg.fit_contacts,
            candidates=cfg.candidates,
            rank=cfg.rank,
            contact_temperature=cfg.contact_temperature,
            seed=cfg.seed + j,
        )
        n_total += len(outs)
        for o in outs:
            if o.ok:
                ids.append(rec.object_id)
                grasps.append(o.grasp)
                contacts.append(dict(o.contacts))  # link-only blocks count for link scores
                ref_index.append(j)
                token_logp.append(o.score("mean"))
    gen_s = time.perf_counter() - t0
    summary: dict[str, Any] = {
        "model": source,
        "train_steps": _train_steps(source) if source != "<in memory>" else None,
        "split": split,
        "n_records": len(records),
        "n_samples": n_total,
        "n_decoded": len(grasps),
        "decode_rate": len(grasps) / max(n_total, 1),
        "contact_blocks_per_grasp": float(np.mean([len(c) for c in contacts])) if contacts else 0.0,
        "contact_blocks_with_position": _with_position(contacts),
        "generate_s": gen_s,
        "logprob_per_token": float(np.mean(token_logp)) if token_logp else None,
        **{f"cfg_{k}": v for k, v in asdict(cfg).items() if k != "metrics"},
    }
    if grasps:
        pred = GraspSet(ids, np.stack(grasps), contacts)
        metrics = [m for m in cfg.metrics if m != "contact" or not net.config.action_only]
        res = score(
            pred,
            objects,
            metrics,
            ref=ref,
            ref_index=np.asarray(ref_index),
            object_points=points,
            progress=progress,
        )
        summary.update(res.summary)
        summary["metric_s"] = dict(res.seconds)
    return summary


def _with_position(contacts: Sequence[Mapping[str, np.ndarray]]) -> float:
    """Fraction of predicted contact blocks that carry a position (vs link only)."""
    sizes = [len(v) for c in contacts for v in c.values()]
    return float(np.mean([k > 0 for k in sizes])) if sizes else 0.0


def steering_table(
    model: Any,
    data: str | Path,
    links: Sequence[int] = (0, 1, 2, 3, 4, 5),
    split: str = "unseen",
    config: EvalConfig | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Table 3 (lower): the same records with 0..K ground-truth contacts given."""
    base = config or EvalConfig()
    net, _ = _load_model(model, device)
    rows = []
    for k in links:
        cfg = EvalConfig(**{**asdict(base), "steer_links": int(k)})
        row = evaluate(net, data, split, cfg, device)
        row["model"] = str(model) if not hasattr(model, "config") else "<in memory>"
        rows.append({"row": f"{k} link(s)", **row})
    return rows


def compare_models(
    models: Mapping[str, Any],
    data: str | Path,
    split: str = "unseen",
    config: EvalConfig | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Tables 1-2: one row per named model (e.g. full vs action-only, bins, dropout)."""
    return [{"row": name, **evaluate(m, data, split, config, device)} for name, m in models.items()]


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of the headline metrics (rates in %), with sample counts."""
    keys = [k for k in TABLE_KEYS if any(k[0] in r for r in rows)]
    head = ["row", "samples", *[k[1] for k in keys]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r.get("row", "")), f"{r.get('n_decoded', 0)}/{r.get('n_samples', 0)}"]
        for key, _, scale, fmt in keys:
            v = r.get(key)
            cells.append("-" if v is None else format(float(v) * scale, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def answer_losses(
    model: Any, objects: Mapping[str, np.ndarray], samples: Sequence[Any], batch: int = 32
) -> dict[str, dict[str, float] | None]:
    """Teacher-forced cross-entropy and accuracy of ``samples`` (first instruction, no position
    dropout), split into the contact block (delimiters, links, positions) and the grasp's action
    tokens. ``contacts`` is None for an action-only model."""
    import torch

    from dexgrasp.dexter.data import DexterDataset, collate
    from dexgrasp.dexter.model import IGNORE_INDEX

    tok = model.tokenizer
    ds = DexterDataset(
        objects,
        samples,
        tok,
        model.num_point_tokens,
        action_only=model.config.action_only,
        train=False,
    )
    action_ids = torch.as_tensor(tok.action_ids)
    sums = {"contacts": [0.0, 0, 0], "actions": [0.0, 0, 0]}  # loss sum, correct, count
    model.eval()
    for lo in range(0, len(ds), batch):
        b = collate([ds[i] for i in range(lo, min(lo + batch, len(ds)))], tok.pad_id)
        with torch.no_grad():
            hidden, _ = model.hidden_states(b["input_ids"], b["attention_mask"], b["points"])
            logits = model.llm.lm_head(hidden[:, :-1]).float()
        target = b["labels"][:, 1:]
        answer = target != IGNORE_INDEX
        before = torch.cumsum(target == tok.action_start_id, 1) == 0  # the contact block
        parts = {"contacts": answer & before, "actions": answer & torch.isin(target, action_ids)}
        nll = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), target.clamp(min=0), reduction="none"
        )
        hit = logits.argmax(-1) == target
        for name, sel in parts.items():
            sums[name][0] += float(nll[sel].sum())
            sums[name][1] += int(hit[sel].sum())
            sums[name][2] += int(sel.sum())
    return {
        k: {"loss": v[0] / v[2], "acc": v[1] / v[2], "tokens": v[2]} if v[2] else None
        for k, v in sums.items()
    }
