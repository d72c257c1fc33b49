"""DextER's tokenizer: the one place where numbers become tokens and tokens become numbers.

A grasp answer is written as::

    <|contact_start|> <rh_ffdistal><pos_bin_a><pos_bin_b><pos_bin_c> <rh_thdistal> ... <|contact_end|>
    <|action_start|> <action_bin_i> x 28 <|action_end|> <|im_end|>

A contact block is a link token followed by three position tokens (x, y, z) or, when positions
were dropped, the link token alone. Grasp dimensions are quantile-normalised (by default the
0th..100th percentile, i.e. the training range, -> [-1, 1], clipped) and cut into
``n_action_bins`` uniform bins; contact positions
(object frame, metres) are cut into ``n_pos_bins`` uniform bins per axis inside the training
set's bounding box widened by a margin.

Example::

    tok = DexterTokenizer.offline()          # or DexterTokenizer.from_pretrained("Qwen/Qwen2.5-0.5B")
    tok.fit(grasps, contact_points)          # (N, 28) and (K, 3) training arrays
    ids = tok.encode_answer(contacts, grasp) # list[int]
    answer = tok.decode_answer(ids)          # DecodedAnswer(contacts, grasp)
    tok.save_pretrained("ckpt/tokenizer")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.dexter import prompts
from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES

CONTACT_START = "<|contact_start|>"
CONTACT_END = "<|contact_end|>"
ACTION_START = "<|action_start|>"
ACTION_END = "<|action_end|>"
DELIMITERS = (CONTACT_START, CONTACT_END, ACTION_START, ACTION_END)
IM_START, IM_END, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
VISION_START, VISION_PAD, VISION_END = "<|vision_start|>", "<|vision_pad|>", "<|vision_end|>"
CHAT_TOKENS = (PAD, IM_START, IM_END, VISION_START, VISION_END, VISION_PAD)
STATS_FILE = "dexter_tokenizer.json"
_HF_HINT = "pip install 'dexgrasp[hf]'"

Contacts = dict[str, np.ndarray]  # link name -> (k, 3) positions, metres, object frame (k may be 0)


class DecodeError(ValueError):
    """A token sequence that is not a well-formed DextER answer."""


@dataclass
class DecodedAnswer:
    """A decoded answer: contacts (link -> (k, 3) metres; k = 0 for link-only blocks) and grasp (28,)."""

    contacts: Contacts
    grasp: np.ndarray
    contact_links: list[str] = field(default_factory=list)  # links in generation order


def _require_transformers():
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"DexterTokenizer needs transformers: {_HF_HINT}") from err
    return transformers


def build_offline_text_tokenizer(vocab_size: int = 1024):
    """A small byte-level BPE ChatML tokenizer trained on DextER's prompt text (no download).

    Byte-level BPE encodes any UTF-8 text (no unknown tokens); ``<|im_start|>``/``<|im_end|>``
    and the vision tokens are special tokens, as in Qwen2.5.
    """
    transformers = _require_transformers()
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(CHAT_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(prompts.tokenizer_corpus(), trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=IM_END, pad_token=PAD
    )
    fast.add_tokens([AddedToken(t, special=True, normalized=False) for t in CHAT_TOKENS], True)
    return fast


def _bins(x: np.ndarray, n: int) -> np.ndarray:
    """Values in [-1, 1] -> integer bins 0..n-1 (uniform, clipped)."""
    b = np.floor((np.clip(x, -1.0, 1.0) + 1.0) * 0.5 * n).astype(np.int64)
    return np.clip(b, 0, n - 1)


def _centres(b: np.ndarray, n: int) -> np.ndarray:
    """Integer bins -> bin centres in [-1, 1]."""
    return (np.asarray(b, dtype=np.float64) + 0.5) / n * 2.0 - 1.0


class DexterTokenizer:
    """Special tokens, grasp/contact (de)quantisation and answer encoding for DextER.

    Args:
        text_tokenizer: a Hugging Face tokenizer with ChatML tokens (Qwen2.5 or :func:`offline`).
        n_pos_bins: position bins per axis (paper: 256).
        n_action_bins: bins per grasp dimension (paper: 256).
        max_contacts_per_link: contact blocks a link may have in one answer.
    """

    def __init__(
        self,
        text_tokenizer: Any,
        n_pos_bins: int = 256,
        n_action_bins: int = 256,
        max_contacts_per_link: int = 1,
        link_names: tuple[str, ...] = LINK_NAMES,
    ) -> None:
        for name, value in (
            ("n_pos_bins", n_pos_bins),
            ("n_action_bins", n_action_bins),
            ("max_contacts_per_link", max_contacts_per_link),
        ):
            if int(value) < 1:
                raise ValueError(f"DexterTokenizer: {name} must be >= 1, got {value}")
        self.text = text_tokenizer
        self.n_pos_bins = int(n_pos_bins)
        self.n_action_bins = int(n_action_bins)
        self.max_contacts_per_link = int(max_contacts_per_link)
        self.link_names = tuple(link_names)
        self.link_tokens = tuple(f"<{name}>" for name in self.link_names)
        self.pos_tokens = tuple(f"<pos_bin_{i}>" for i in range(self.n_pos_bins))
        self.action_tokens = tuple(f"<action_bin_{i}>" for i in range(self.n_action_bins))
        self._add_special_tokens()
        # Quantile normalisation and position bounds: set by fit() or load.
        self.q_low: np.ndarray | None = None  # (28,)
        self.q_high: np.ndarray | None = None  # (28,)
        self.pos_low: np.ndarray | None = None  # (3,) metres
        self.pos_high: np.ndarray | None = None  # (3,) metres

    # ----------------------------------------------------------------- construction
    def _add_special_tokens(self) -> None:
        from tokenizers import AddedToken

        missing = [t for t in CHAT_TOKENS if t not in self.text.get_vocab()]
        if missing:
            raise ValueError(f"text tokenizer lacks the ChatML/vision tokens {missing}")
        new = [*DELIMITERS, *self.link_tokens, *self.pos_tokens, *self.action_tokens]
        self.text.add_tokens([AddedToken(t, special=True, normalized=False) for t in new], True)
        ids = self.text.convert_tokens_to_ids
        self.contact_start_id, self.contact_end_id = ids(CONTACT_START), ids(CONTACT_END)
        self.action_start_id, self.action_end_id = ids(ACTION_START), ids(ACTION_END)
        self.im_start_id, self.im_end_id, self.pad_id = ids(IM_START), ids(IM_END), ids(PAD)
        self.vision_pad_id = ids(VISION_PAD)
        self.link_ids = np.asarray(ids(list(self.link_tokens)), dtype=np.int64)
        self.pos_ids = np.asarray(ids(list(self.pos_tokens)), dtype=np.int64)
        self.action_ids = np.asarray(ids(list(self.action_tokens)), dtype=np.int64)
        self._id_to_link = {int(i): k for k, i in enumerate(self.link_ids)}
        self._id_to_pos = {int(i): k for k, i in enumerate(self.pos_ids)}
        self._id_to_action = {int(i): k for k, i in enumerate(self.action_ids)}

    @classmethod
    def offline(cls, vocab_size: int = 1024, **kwargs: Any) -> DexterTokenizer:
        """Tokenizer over a library-built byte-level BPE (no download)."""
        return cls(build_offline_text_tokenizer(vocab_size), **kwargs)

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, **kwargs: Any) -> DexterTokenizer:
        """Load a saved DexterTokenizer directory, or wrap a Qwen2.5 tokenizer (hub id or dir)."""
        transformers = _require_transformers()
        path = Path(name_or_dir)
        try:
            text = transformers.AutoTokenizer.from_pretrained(str(name_or_dir))
        except OSError as err:
            raise FileNotFoundError(
                f"could not load a tokenizer from {name_or_dir!r}: pass a local directory holding "
                "tokenizer.json (e.g. a downloaded Qwen2.5-0.5B) or a hub id with network access"
            ) from err
        stats_file = path / STATS_FILE
        if not stats_file.is_file():
            return cls(text, **kwargs)
        meta = json.loads(stats_file.read_text())
        tok = cls(
            text,
            n_pos_bins=meta["n_pos_bins"],
            n_action_bins=meta["n_action_bins"],
            max_contacts_per_link=meta["max_contacts_per_link"],
            link_names=tuple(meta["link_names"]),
        )
        if meta.get("q_low") is not None:
            tok.set_stats(meta["q_low"], meta["q_high"], meta["pos_low"], meta["pos_high"])
        return tok

    def save_pretrained(self, directory: str | Path) -> None:
        """Write the text tokenizer and ``dexter_tokenizer.json`` (bins + fitted statistics)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.text.save_pretrained(str(directory))
        meta = {
            "n_pos_bins": self.n_pos_bins,
            "n_action_bins": self.n_action_bins,
            "max_contacts_per_link": self.max_contacts_per_link,
            "link_names": list(self.link_names),
            "q_low": None if self.q_low is None else self.q_low.tolist(),
            "q_high": None if self.q_high is None else self.q_high.tolist(),
            "pos_low": None if self.pos_low is None else self.pos_low.tolist(),
            "pos_high": None if self.pos_high is None else self.pos_high.tolist(),
        }
        tmp = directory / (STATS_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=1))
        tmp.replace(directory / STATS_FILE)

    def __len__(self) -> int:
        return len(self.text)

    # ----------------------------------------------------------------- statistics
    @property
    def is_fitted(self) -> bool:
        return self.q_low is not None and self.pos_low is not None

    def set_stats(self, q_low: Any, q_high: Any, pos_low: Any, pos_high: Any) -> None:
        """Set normalisation statistics, checking shapes and ordering."""
        arrays = {}
        for name, value, dim in (
            ("q_low", q_low, GRASP_DIM),
            ("q_high", q_high, GRASP_DIM),
            ("pos_low", pos_low, 3),
            ("pos_high", pos_high, 3),
        ):
            a = np.asarray(value, dtype=np.float64)
            if a.shape != (dim,) or not np.all(np.isfinite(a)):
                raise ValueError(f"tokenizer statistic {name} must be finite with shape ({dim},)")
            arrays[name] = a
        if np.any(arrays["q_high"] <= arrays["q_low"]):
            raise ValueError("tokenizer statistic q_high must exceed q_low in every dimension")
        if np.any(arrays["pos_high"] <= arrays["pos_low"]):
            raise ValueError("tokenizer statistic pos_high must exceed pos_low on every axis")
        self.q_low, self.q_high = arrays["q_low"], arrays["q_high"]
        self.pos_low, self.pos_high = arrays["pos_low"], arrays["pos_high"]

    def fit(
        self,
        grasps: np.ndarray,
        contact_points: np.ndarray,
        quantiles: tuple[float, float] = (0.0, 1.0),
        margin: float = 0.05,
        min_width: float = 1e-4,
        grasp_margin: float = 0.0,
    ) -> DexterTokenizer:
        """Fit grasp quantiles and position bounds on training data.

        Args:
            grasps: (N, 28) training grasps.
            contact_points: (K, 3) every training contact position, metres, object frame.
            quantiles: quantiles of each grasp dimension mapped to -1 and +1. The default
                (0, 1) is the training min and max: with the 1st/99th percentiles common in
                VLA tokenizers, 18% of grasps had a clipped dimension (up to 6 cm of
                translation) and the tokenised ground truth passed the simulated force test
                only 81% of the time (88% with min/max; see docs/dexter.md).
            margin: contact bounding-box margin as a fraction of its extent on each side.
            grasp_margin: the same for the grasp ranges (unseen objects may exceed them).
            min_width: smallest allowed range (avoids division by zero on constant dimensions).
        """
        grasps = np.asarray(grasps, dtype=np.float64)
        points = np.asarray(contact_points, dtype=np.float64).reshape(-1, 3)
        if grasps.ndim != 2 or grasps.shape[1] != GRASP_DIM or len(grasps) == 0:
            raise ValueError(f"fit: grasps must have shape (N, {GRASP_DIM}), got {grasps.shape}")
        if len(points) == 0:
            raise ValueError("fit: contact_points is empty; need at least one training contact")
        if not (np.all(np.isfinite(grasps)) and np.all(np.isfinite(points))):
            raise ValueError("fit: grasps and contact_points must be finite")
        if not 0.0 <= quantiles[0] < quantiles[1] <= 1.0:
            raise ValueError(f"fit: quantiles must satisfy 0 <= low < high <= 1, got {quantiles}")
        if margin < 0 or grasp_margin < 0:
            raise ValueError("fit: margin and grasp_margin must be >= 0")
        lo, hi = np.quantile(grasps, quantiles, axis=0)
        mid = (lo + hi) / 2
        half = np.maximum((hi - lo) / 2 * (1 + 2 * grasp_margin), min_width / 2)
        p_lo, p_hi = points.min(0), points.max(0)
        extent = np.maximum(p_hi - p_lo, min_width)
        p_mid = (p_lo + p_hi) / 2
        p_half = extent / 2 + margin * extent
        self.set_stats(mid - half, mid + half, p_mid - p_half, p_mid + p_half)
        return self

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError(
                "DexterTokenizer has no normalisation statistics: call fit(grasps, contact_points) "
                "on training data or load a saved tokenizer directory (dexter_tokenizer.json)"
            )

    # ----------------------------------------------------------------- numbers <-> bins
    def grasp_to_bins(self, grasp: np.ndarray) -> np.ndarray:
        """(..., 28) grasp -> (..., 28) action bins."""
        self._check_fitted()
        grasp = np.asarray(grasp, dtype=np.float64)
        if grasp.shape[-1] != GRASP_DIM or not np.all(np.isfinite(grasp)):
            raise ValueError(f"grasp must be finite with last dimension {GRASP_DIM}")
        x = 2.0 * (grasp - self.q_low) / (self.q_high - self.q_low) - 1.0
        return _bins(x, self.n_action_bins)

    def bins_to_grasp(self, bins: np.ndarray) -> np.ndarray:
        """(..., 28) action bins -> (..., 28) grasp at the bin centres."""
        self._check_fitted()
        x = _centres(bins, self.n_action_bins)
        return self.q_low + (x + 1.0) * 0.5 * (self.q_high - self.q_low)

    def positions_to_bins(self, xyz: np.ndarray) -> np.ndarray:
        """(..., 3) positions in metres -> (..., 3) position bins (clipped to the bounds)."""
        self._check_fitted()
        xyz = np.asarray(xyz, dtype=np.float64)
        if xyz.shape[-1] != 3 or not np.all(np.isfinite(xyz)):
            raise ValueError("contact positions must be finite with last dimension 3")
        x = 2.0 * (xyz - self.pos_low) / (self.pos_high - self.pos_low) - 1.0
        return _bins(x, self.n_pos_bins)

    def bins_to_positions(self, bins: np.ndarray) -> np.ndarray:
        """(..., 3) position bins -> (..., 3) positions in metres (bin centres)."""
        self._check_fitted()
        x = _centres(bins, self.n_pos_bins)
        return self.pos_low + (x + 1.0) * 0.5 * (self.pos_high - self.pos_low)

    @property
    def action_bin_width(self) -> np.ndarray:
        """(28,) width of one action bin in grasp units."""
        self._check_fitted()
        return (self.q_high - self.q_low) / self.n_action_bins

    @property
    def pos_bin_width(self) -> np.ndarray:
        """(3,) width of one position bin, metres."""
        self._check_fitted()
        return (self.pos_high - self.pos_low) / self.n_pos_bins

    # ----------------------------------------------------------------- answers
    def contact_blocks(self, contacts: Contacts | None) -> list[tuple[str, np.ndarray | None]]:
        """Canonical contact list: links in hand order, at most ``max_contacts_per_link`` points each.

        When a link has more points than allowed, the ones nearest to its mean are kept.
        """
        blocks: list[tuple[str, np.ndarray | None]] = []
        contacts = contacts or {}
        unknown = sorted(set(contacts) - set(self.link_names))
        if unknown:
            raise ValueError(
                f"unknown hand link(s) {unknown}; expected names from {self.link_names}"
            )
        for link in self.link_names:
            if link not in contacts:
                continue
            pts = contacts[link]
            if pts is None:
                blocks.append((link, None))
                continue
            pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
            if len(pts) == 0:
                blocks.append((link, None))
                continue
            order = np.argsort(np.linalg.norm(pts - pts.mean(0), axis=1), kind="stable")
            blocks += [(link, pts[i]) for i in order[: self.max_contacts_per_link]]
        return blocks

    def encode_contacts(
        self, blocks: list[tuple[str, np.ndarray | None]], drop_positions: bool = False
    ) -> list[int]:
        """``<|contact_start|>`` and one block per (link, position-or-None); no end token."""
        ids = [self.contact_start_id]
        counts: dict[str, int] = {}
        for link, xyz in blocks:
            if link not in self.link_names:
                raise ValueError(f"unknown hand link {link!r}")
            counts[link] = counts.get(link, 0) + 1
            if counts[link] > self.max_contacts_per_link:
                raise ValueError(
                    f"link {link!r} has more than max_contacts_per_link="
                    f"{self.max_contacts_per_link} contacts"
                )
            ids.append(int(self.link_ids[self.link_names.index(link)]))
            if xyz is not None and not drop_positions:
                ids += [int(i) for i in self.pos_ids[self.positions_to_bins(xyz)]]
        return ids

    def encode_answer(
        self,
        contacts: Contacts | None,
        grasp: np.ndarray,
        drop_positions: bool = False,
        action_only: bool = False,
        front: Sequence[str] = (),
    ) -> list[int]:
        """Assistant answer token ids, ending with ``<|im_end|>``.

        Args:
            contacts: link -> (k, 3) contact positions (metres, object frame).
            grasp: (28,) grasp vector.
            drop_positions: keep link tokens, drop their position tokens (contact dropout).
            action_only: no contact block (the "without embodied reasoning" ablation).
            front: links whose blocks come first (hand order among themselves), then the
                rest in hand order: the shape of a steered answer, whose given contacts are
                a forced prefix.
        """
        grasp = np.asarray(grasp, dtype=np.float64)
        if grasp.shape != (GRASP_DIM,):
            raise ValueError(f"grasp must have shape ({GRASP_DIM},), got {grasp.shape}")
        ids: list[int] = []
        if not action_only:
            blocks = self.contact_blocks(contacts)
            if front:
                blocks = [b for b in blocks if b[0] in front] + [
                    b for b in blocks if b[0] not in front
                ]
            ids += self.encode_contacts(blocks, drop_positions)
            ids.append(self.contact_end_id)
        ids.append(self.action_start_id)
        ids += [int(i) for i in self.action_ids[self.grasp_to_bins(grasp)]]
        ids += [self.action_end_id, self.im_end_id]
        return ids

    def decode_answer(self, ids: list[int] | np.ndarray) -> DecodedAnswer:
        """Parse answer ids (as written by :meth:`encode_answer`) back to contacts and grasp.

        Trailing tokens after ``<|action_end|>`` are ignored. Raises :class:`DecodeError` naming
        the first token that breaks the grammar.
        """
        self._check_fitted()
        seq = [int(i) for i in np.asarray(ids).reshape(-1)]
        contacts: dict[str, list[np.ndarray]] = {}
        order: list[str] = []
        i = 0

        def fail(msg: str) -> DecodeError:
            tok = self.text.convert_ids_to_tokens(seq[i]) if i < len(seq) else "<end of sequence>"
            return DecodeError(f"undecodable answer at token {i} ({tok!r}): {msg}")

        if i < len(seq) and seq[i] == self.contact_start_id:
            i += 1
            while True:
                if i >= len(seq):
                    raise fail("contact block not closed by <|contact_end|>")
                if seq[i] == self.contact_end_id:
                    i += 1
                    break
                if seq[i] not in self._id_to_link:
                    raise fail("expected a link token or <|contact_end|>")
                link = self.link_names[self._id_to_link[seq[i]]]
                i += 1
                pos = seq[i : i + 3]
                if pos and pos[0] in self._id_to_pos:
                    if len(pos) < 3 or any(p not in self._id_to_pos for p in pos):
                        i += next((k for k, p in enumerate(pos) if p not in self._id_to_pos), 3)
                        raise fail("a contact position needs three position tokens")
                    xyz = self.bins_to_positions(np.array([self._id_to_pos[p] for p in pos]))
                    contacts.setdefault(link, []).append(xyz)
                    i += 3
                else:
                    contacts.setdefault(link, [])
                order.append(link)
        if i >= len(seq) or seq[i] != self.action_start_id:
            raise fail("expected <|action_start|>")
        i += 1
        acts = seq[i : i + GRASP_DIM]
        for k, a in enumerate(acts):
            if a not in self._id_to_action:
                i += k
                raise fail(f"expected action token {k + 1} of {GRASP_DIM}")
        if len(acts) < GRASP_DIM:
            i += len(acts)
            raise fail(f"only {len(acts)} of {GRASP_DIM} action tokens")
        i += GRASP_DIM
        if i >= len(seq) or seq[i] != self.action_end_id:
            raise fail("expected <|action_end|>")
        grasp = self.bins_to_grasp(np.array([self._id_to_action[a] for a in acts]))
        out = {k: np.asarray(v, dtype=np.float64).reshape(-1, 3) for k, v in contacts.items()}
        return DecodedAnswer(contacts=out, grasp=grasp, contact_links=order)

    # ----------------------------------------------------------------- prompts
    def encode_prompt(
        self, instruction: str, n_point_tokens: int, meta_prompt: str | None = None
    ) -> list[int]:
        """ChatML prompt ids up to and including ``<|im_start|>assistant\\n``.

        The point cloud occupies ``n_point_tokens`` ``<|vision_pad|>`` placeholders whose
        embeddings the model replaces with projected point features.
        """
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError("instruction must be a non-empty string")
        meta = meta_prompt if meta_prompt is not None else prompts.pick_meta_prompt(False)
        text = (
            f"{IM_START}system\n{prompts.SYSTEM_PROMPT}{IM_END}\n"
            f"{IM_START}user\n{VISION_START}{VISION_PAD * n_point_tokens}{VISION_END}"
            f"{prompts.user_text(meta, instruction)}{IM_END}\n{IM_START}assistant\n"
        )
        ids = self.text(text, add_special_tokens=False)["input_ids"]
        if sum(1 for t in ids if t == self.vision_pad_id) != n_point_tokens:
            raise ValueError("instruction must not contain the <|vision_pad|> token")
        return list(ids)
