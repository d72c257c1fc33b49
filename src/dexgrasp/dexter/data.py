"""Training samples for DextER: grasp records -> (prompt + answer) token sequences with labels.

A record is anything with ``object_id``, ``grasp`` (28,), ``contacts`` (link -> (k, 3) metres)
and ``instructions`` (list of strings), as attributes or dict keys; objects map ``object_id`` to
(N, 3) surface points. :func:`load_grasp_data` reads the project's grasp dataset
(``dexgrasp.grasps.dataset.GraspDataset``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dexgrasp.dexter import prompts
from dexgrasp.dexter.model import IGNORE_INDEX
from dexgrasp.dexter.tokenizer import DexterTokenizer
from dexgrasp.grasps.conventions import ROTATION_SLICE, TRANSLATION_SLICE


@dataclass
class GraspSample:
    """One record in the form DextER trains on."""

    object_id: str
    grasp: np.ndarray  # (28,)
    contacts: dict[str, np.ndarray]  # link -> (k, 3) metres, object frame
    instructions: list[str]


def _field(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        if name not in record:
            raise KeyError(f"grasp record lacks field {name!r}")
        return record[name]
    if not hasattr(record, name):
        raise KeyError(f"grasp record lacks field {name!r}")
    return getattr(record, name)


def as_sample(record: Any) -> GraspSample:
    """Normalise a record (object or dict) to a :class:`GraspSample`, validating it."""
    instr = _field(record, "instructions")
    if isinstance(instr, str):
        instr = [instr]
    # the grasp dataset stores {"level": "physical"|"functional", "text": ...} entries
    instr = [s.get("text", "") if isinstance(s, Mapping) else s for s in instr]
    instr = [s for s in instr if isinstance(s, str) and s.strip()]
    if not instr:
        raise ValueError(
            f"grasp record of object {_field(record, 'object_id')!r} has no instruction"
        )
    contacts = {
        str(k): np.asarray(v, dtype=np.float64).reshape(-1, 3)
        for k, v in dict(_field(record, "contacts") or {}).items()
    }
    return GraspSample(
        object_id=str(_field(record, "object_id")),
        grasp=np.asarray(_field(record, "grasp"), dtype=np.float64),
        contacts=contacts,
        instructions=list(instr),
    )


def turn_about_z(angle: float, grasps: np.ndarray, *xyz: np.ndarray) -> list[np.ndarray]:
    """Grasps (..., 28) and each point array (..., 3) turned by ``angle`` (radians) about the
    object's vertical axis (palm translation and rotation turn, joints stay), in that order."""
    from scipy.spatial.transform import Rotation

    rz = Rotation.from_rotvec([0.0, 0.0, float(angle)])
    m = rz.as_matrix()
    g = np.array(grasps, dtype=np.float64)
    flat = g.reshape(-1, g.shape[-1])
    flat[:, TRANSLATION_SLICE] = flat[:, TRANSLATION_SLICE] @ m.T
    flat[:, ROTATION_SLICE] = (rz * Rotation.from_rotvec(flat[:, ROTATION_SLICE])).as_rotvec()
    arrays = [np.asarray(p) for p in xyz]
    return [flat.reshape(g.shape)] + [p @ m.T.astype(p.dtype) for p in arrays]


def rotate_about_z(
    angle: float, points: np.ndarray, sample: GraspSample
) -> tuple[np.ndarray, GraspSample]:
    """The object rotated by ``angle`` (radians) about its vertical axis, with the grasp's
    translation and palm rotation and every contact rotated alike (a grasp of the rotated
    object, same joints). Returns (points (N, 3), sample)."""
    links = list(sample.contacts)
    grasp, points, *turned = turn_about_z(
        angle, sample.grasp, points, *(sample.contacts[k] for k in links)
    )
    contacts = dict(zip(links, turned, strict=True))
    return points, GraspSample(sample.object_id, grasp, contacts, sample.instructions)


def shift_sample(
    offset: np.ndarray, points: np.ndarray, sample: GraspSample
) -> tuple[np.ndarray, GraspSample]:
    """The object moved by ``offset`` (3,) metres, with the grasp's translation and every
    contact moved alike (the same grasp of the moved object). Returns (points (N, 3), sample)."""
    offset = np.asarray(offset, dtype=np.float64).reshape(3)
    grasp = np.array(sample.grasp, dtype=np.float64)
    grasp[TRANSLATION_SLICE] += offset
    contacts = {k: v + offset for k, v in sample.contacts.items()}
    moved = np.asarray(points) + offset.astype(np.asarray(points).dtype)
    return moved, GraspSample(sample.object_id, grasp, contacts, sample.instructions)


def contact_points(samples: Sequence[GraspSample]) -> np.ndarray:
    """(K, 3) every contact position of the samples (for fitting position bounds)."""
    pts = [v for s in samples for v in s.contacts.values() if len(v)]
    return np.concatenate(pts) if pts else np.zeros((0, 3))


def fit_tokenizer(
    tokenizer: DexterTokenizer, samples: Sequence[GraspSample], config: Any = None
) -> None:
    """Fit grasp ranges and contact bounds on training samples (ranges as ``config`` says:
    ``DexterConfig.grasp_quantiles`` / ``grasp_margin``; the tokenizer's defaults without).
    With ``config.augment_rotation`` the ranges cover the samples turned about the vertical
    axis in steps of 15 degrees (what training with that augmentation shows the model); with
    ``config.augment_shift`` they widen by that offset on every axis."""
    kw = {}
    if config is not None:
        kw = {"quantiles": config.grasp_quantiles, "grasp_margin": config.grasp_margin}
    grasps, points = np.stack([s.grasp for s in samples]), contact_points(samples)
    if config is not None and getattr(config, "augment_rotation", False):
        turned = [turn_about_z(a, grasps, points) for a in np.arange(24) * (np.pi / 12)]
        grasps = np.concatenate([g for g, _ in turned])
        points = np.concatenate([p for _, p in turned])
    shift = float(getattr(config, "augment_shift", 0.0) or 0.0)
    if shift > 0:  # the extreme offsets on every axis at once cover each axis' range
        up, down = grasps.copy(), grasps.copy()
        up[:, TRANSLATION_SLICE] += shift
        down[:, TRANSLATION_SLICE] -= shift
        grasps = np.concatenate([grasps, up, down])
        # contact bounds use only the extremes, so the two moved corners suffice
        points = np.concatenate([points, points.min(0)[None] - shift, points.max(0)[None] + shift])
    tokenizer.fit(grasps, points, **kw)


def load_grasp_data(
    path: str | Path,
    split: str | None = "train",
    max_per_object: int | None = None,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], list[GraspSample]]:
    """Objects (id -> (N, 3) points) and samples of one split of a GraspDataset directory.

    ``max_per_object`` keeps at most that many grasps of each object, drawn at random with
    ``seed`` (kept in dataset order): every object stays, so a fixed step budget sees each
    grasp more often without losing object variety."""
    try:
        from dexgrasp.grasps.dataset import GraspDataset
    except ImportError as err:
        raise ImportError(
            "dexgrasp.grasps.dataset is not available in this installation; build the grasp "
            "dataset with `dexgrasp grasps synth` first"
        ) from err
    ds = GraspDataset.open(path)
    records = ds.records(split)
    if not records:
        raise ValueError(f"grasp dataset {path} has no records in split {split!r}")
    samples = [as_sample(r) for r in records]
    if max_per_object is not None:
        samples = limit_per_object(samples, max_per_object, seed)
    objects = {
        oid: np.asarray(ds.objects[oid].points, dtype=np.float32)
        for oid in sorted({s.object_id for s in samples})
    }
    return objects, samples


def limit_per_object(samples: Sequence[GraspSample], k: int, seed: int = 0) -> list[GraspSample]:
    """At most ``k`` samples of each object, a seeded random choice kept in input order."""
    if k < 1:
        raise ValueError(f"max grasps per object must be at least 1, got {k}")
    by_object: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_object.setdefault(s.object_id, []).append(i)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for idx in by_object.values():
        keep.extend(idx if len(idx) <= k else rng.choice(idx, size=k, replace=False).tolist())
    return [samples[i] for i in sorted(keep)]


class DexterDataset(torch.utils.data.Dataset):
    """Token sequences for training (random instruction, meta-prompt and contact dropout).

    Args:
        objects: object id -> (N, 3) points (all objects must have the same N).
        samples: grasp samples.
        tokenizer: fitted tokenizer.
        n_point_tokens: M, placeholders in the prompt.
        steer_prob: probability of moving 1-5 random contact blocks to the front of the
            answer (the shape of a steered answer, whose given contacts are a forced prefix
            in hand order); 0 keeps every answer in hand order.
        contact_dropout: probability of dropping every contact position of a sample
            (link tokens stay).
        action_only: no contact block in the answer.
        train: random instruction/meta-prompt/dropout; otherwise the first instruction and
            meta-prompt and no dropout.
        augment_rotation: in training, turn each sample's object, contacts and grasp by a
            random angle about the vertical axis (the tokenizer must be fitted with the same
            flag, see :func:`fit_tokenizer`).
        augment_shift: in training, move each sample's object, contacts and grasp by a random
            offset of up to this many metres per axis (fit the tokenizer with the same value).
        seed: base seed; item ``i`` at epoch ``e`` uses ``seed + e * len + i``.
    """

    def __init__(
        self,
        objects: Mapping[str, np.ndarray],
        samples: Sequence[GraspSample],
        tokenizer: DexterTokenizer,
        n_point_tokens: int,
        contact_dropout: float = 0.5,
        action_only: bool = False,
        train: bool = True,
        seed: int = 0,
        steer_prob: float = 0.0,
        augment_rotation: bool = False,
        augment_shift: float = 0.0,
    ) -> None:
        if not 0.0 <= contact_dropout <= 1.0:
            raise ValueError(f"contact_dropout must be in [0, 1], got {contact_dropout}")
        if not 0.0 <= steer_prob <= 1.0:
            raise ValueError(f"steer_prob must be in [0, 1], got {steer_prob}")
        missing = sorted({s.object_id for s in samples} - set(objects))
        if missing:
            raise KeyError(f"samples refer to unknown objects {missing[:5]}")
        self.objects = {
            k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in objects.items()
        }
        self.samples = list(samples)
        self.tokenizer = tokenizer
        self.n_point_tokens = n_point_tokens
        self.contact_dropout = contact_dropout
        self.steer_prob = steer_prob
        self.augment_rotation = augment_rotation
        self.augment_shift = augment_shift
        self.action_only = action_only
        self.train = train
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = self.samples[i]
        rng = random.Random(self.seed + self.epoch * len(self) + i) if self.train else None
        points = self.objects[s.object_id]
        if rng and self.augment_rotation:
            rotated, s = rotate_about_z(rng.uniform(0.0, 2 * np.pi), points.numpy(), s)
            points = torch.from_numpy(rotated)
        if rng and self.augment_shift > 0:
            offset = np.array(
                [rng.uniform(-self.augment_shift, self.augment_shift) for _ in range(3)]
            )
            moved, s = shift_sample(offset, points.numpy(), s)
            points = torch.from_numpy(moved)
        instruction = rng.choice(s.instructions) if rng else s.instructions[0]
        meta = prompts.pick_meta_prompt(self.action_only, rng)
        drop = bool(rng and rng.random() < self.contact_dropout)
        prompt = self.tokenizer.encode_prompt(instruction, self.n_point_tokens, meta)
        front: list[str] = []
        links = [k for k, v in s.contacts.items() if len(v)]
        if rng and links and not self.action_only and rng.random() < self.steer_prob:
            front = rng.sample(links, rng.randint(1, min(5, len(links))))
        answer = self.tokenizer.encode_answer(s.contacts, s.grasp, drop, self.action_only, front)
        return {
            "input_ids": torch.tensor(prompt + answer),
            "labels": torch.tensor([IGNORE_INDEX] * len(prompt) + answer),
            "points": points,
        }


def collate(items: Sequence[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of samples into ``input_ids``/``labels``/``attention_mask`` (B, L), ``points``."""
    n = max(len(x["input_ids"]) for x in items)
    ids = torch.full((len(items), n), pad_id, dtype=torch.long)
    labels = torch.full((len(items), n), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros(len(items), n, dtype=torch.long)
    for b, x in enumerate(items):
        k = len(x["input_ids"])
        ids[b, :k], labels[b, :k], mask[b, :k] = x["input_ids"], x["labels"], 1
    points = torch.stack([x["points"] for x in items])
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "points": points}
