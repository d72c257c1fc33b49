"""Token-level state machine for DextER answers: logits masks that make every sample decodable.

Grammar (one state per sample, vectorised over the batch)::

    answer   := [contacts] <|action_start|> action{28} <|action_end|> <|im_end|>
    contacts := <|contact_start|> (link [pos pos pos])* <|contact_end|>

Each link may appear at most ``max_contacts_per_link`` times, so answers have bounded length.
``contacts`` is required unless the tokenizer's model is action-only (then it is absent).

With ``surface_points`` the three position tokens of a contact must also name a point of the
object: x must lie within ``surface_tol`` of some point's x, y within it of a point that
matches x, and z of a point that matches x and y (per axis, in position bins). Training
contacts lie on the object (median 0.8 mm), so this only removes positions in empty space.
"""

from __future__ import annotations

import numpy as np
import torch

from dexgrasp.dexter.tokenizer import DexterTokenizer
from dexgrasp.grasps.conventions import GRASP_DIM

START, LINK, AFTER_LINK, POS_Y, POS_Z, ACT_START, ACT, ACT_END, IM_END, DONE = range(10)
N_STATES = 10


class GraspGrammar:
    """Allowed-token masks and transitions for a batch of answers being generated.

    Args:
        tokenizer: supplies the special token ids.
        vocab_size: width of the logits (may exceed the tokenizer's size).
        action_only: answers have no contact block.
        device: where masks live.
        require_positions: every link token must be followed by a position (no link-only
            blocks). Models trained with position dropout put little probability on any one
            position bin, so below temperature 1 they otherwise write link-only blocks.
    """

    def __init__(
        self,
        tokenizer: DexterTokenizer,
        vocab_size: int,
        action_only: bool = False,
        device: torch.device | str = "cpu",
        require_positions: bool = False,
        surface_points: np.ndarray | torch.Tensor | None = None,
        surface_tol: float = 0.005,
    ) -> None:
        t = tokenizer
        self.tokenizer, self.action_only = t, action_only
        self.max_per_link = t.max_contacts_per_link
        self.link_ids = torch.as_tensor(t.link_ids, device=device)
        table = torch.zeros(N_STATES, vocab_size, dtype=torch.bool, device=device)
        pos = torch.as_tensor(t.pos_ids, device=device)
        act = torch.as_tensor(t.action_ids, device=device)
        table[START, t.action_start_id if action_only else t.contact_start_id] = True
        for s in (LINK, AFTER_LINK):
            table[s, self.link_ids] = True
            table[s, t.contact_end_id] = True
        if require_positions:
            table[AFTER_LINK] = False
        table[AFTER_LINK, pos] = True
        table[POS_Y, pos] = table[POS_Z, pos] = True
        table[ACT_START, t.action_start_id] = True
        table[ACT, act] = True
        table[ACT_END, t.action_end_id] = True
        table[IM_END, t.im_end_id] = True
        table[DONE, t.pad_id] = True
        self.table = table
        # id -> class lookups
        self.link_of = torch.full((vocab_size,), -1, dtype=torch.long, device=device)
        self.link_of[self.link_ids] = torch.arange(len(self.link_ids), device=device)
        self.is_pos = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        self.is_pos[pos] = True
        self.pos_ids = pos
        self.pos_bin_of = torch.zeros(vocab_size, dtype=torch.long, device=device)
        self.pos_bin_of[pos] = torch.arange(len(pos), device=device)
        self.device = torch.device(device)
        self.surface = None
        if surface_points is not None:
            self.surface = _SurfaceBins(t, surface_points, surface_tol, self.device)

    @property
    def max_answer_tokens(self) -> int:
        """Longest possible answer (including ``<|im_end|>``)."""
        contacts = 0 if self.action_only else 2 + 4 * len(self.link_ids) * self.max_per_link
        return contacts + GRASP_DIM + 3

    def init_state(self, batch: int) -> dict[str, torch.Tensor]:
        """Fresh state for ``batch`` answers: (B,) state ids, (B, n_links) link counts, (B,) actions."""
        return {
            "state": torch.full((batch,), START, dtype=torch.long, device=self.device),
            "counts": torch.zeros(batch, len(self.link_ids), dtype=torch.long, device=self.device),
            "n_act": torch.zeros(batch, dtype=torch.long, device=self.device),
            "xy": torch.zeros(batch, 2, dtype=torch.long, device=self.device),  # contact x, y bins
        }

    def _grammar_allowed(self, st: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = self.table[st["state"]]
        full = st["counts"] >= self.max_per_link  # (B, n_links)
        mask[:, self.link_ids] &= ~full
        return mask

    def allowed(self, st: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, V) bool mask of tokens allowed next (the surface constraint included)."""
        mask = self._grammar_allowed(st)
        if self.surface is not None:
            s = st["state"]
            for axis, state in enumerate((AFTER_LINK, POS_Y, POS_Z)):
                rows = (s == state).nonzero().squeeze(1)
                if len(rows):
                    ok = self.surface.allowed_bins(axis, st["xy"][rows])
                    mask[rows[:, None], self.pos_ids[None]] &= ok
        return mask

    def step(self, st: dict[str, torch.Tensor], tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Advance every sample by its (B,) next token; raises if a token breaks the grammar."""
        ok = self._grammar_allowed(st).gather(1, tokens[:, None]).squeeze(1)
        if not torch.all(ok):
            bad = int((~ok).nonzero()[0])
            tok = self.tokenizer.text.convert_ids_to_tokens(int(tokens[bad]))
            raise ValueError(f"token {tok!r} is not allowed in state {int(st['state'][bad])}")
        s, t = st["state"], self.tokenizer
        link = self.link_of[tokens]
        is_link, is_pos = link >= 0, self.is_pos[tokens]
        counts = st["counts"].clone()
        rows = is_link.nonzero().squeeze(1)
        counts[rows, link[rows]] += 1
        n_act = st["n_act"] + (s == ACT).long()
        xy = st["xy"].clone()
        bin_of = self.pos_bin_of[tokens]
        xy[:, 0] = torch.where((s == AFTER_LINK) & is_pos, bin_of, xy[:, 0])
        xy[:, 1] = torch.where(s == POS_Y, bin_of, xy[:, 1])
        new = s.clone()
        new[s == START] = ACT if self.action_only else LINK
        new[((s == LINK) | (s == AFTER_LINK)) & is_link] = AFTER_LINK
        new[((s == LINK) | (s == AFTER_LINK)) & (tokens == t.contact_end_id)] = ACT_START
        new[(s == AFTER_LINK) & is_pos] = POS_Y
        new[s == POS_Y] = POS_Z
        new[s == POS_Z] = LINK
        new[s == ACT_START] = ACT
        new[(s == ACT) & (n_act >= GRASP_DIM)] = ACT_END
        new[s == ACT_END] = IM_END
        new[(s == IM_END) | (s == DONE)] = DONE
        return {"state": new, "counts": counts, "n_act": n_act, "xy": xy}

    def done(self, st: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) bool: answer complete."""
        return st["state"] == DONE


class _SurfaceBins:
    """Which position bins of one axis name a point of the object, given the bins chosen on
    the axes before it (x, then y given x, then z given x and y)."""

    def __init__(
        self,
        tokenizer: DexterTokenizer,
        points: np.ndarray | torch.Tensor,
        tol: float,
        device: torch.device,
    ) -> None:
        pts = np.asarray(points.detach().cpu() if torch.is_tensor(points) else points, np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.all(np.isfinite(pts)):
            raise ValueError(
                f"surface_points must be a non-empty finite (N, 3) array, got shape {pts.shape}"
            )
        if not tol >= 0:
            raise ValueError(f"surface_tol must be >= 0 metres, got {tol}")
        self.n = tokenizer.n_pos_bins
        self.bins = torch.as_tensor(tokenizer.positions_to_bins(pts), device=device)  # (N, 3)
        width = tokenizer.pos_bin_width
        self.radius = [max(1, int(np.ceil(tol / w))) for w in width]  # bins per axis

    def allowed_bins(self, axis: int, xy: torch.Tensor) -> torch.Tensor:
        """(R, n_bins) bool for R samples choosing ``axis``; ``xy`` (R, 2) holds their x, y bins."""
        near = torch.ones(len(xy), len(self.bins), dtype=torch.bool, device=self.bins.device)
        for a in range(axis):
            near &= (self.bins[None, :, a] - xy[:, a : a + 1]).abs() <= self.radius[a]
        hits = torch.zeros(len(xy), self.n, device=self.bins.device)
        hits.scatter_add_(1, self.bins[:, axis].expand(len(xy), -1), near.float())
        r = self.radius[axis]
        hits = torch.nn.functional.max_pool1d(hits[:, None], 2 * r + 1, stride=1, padding=r)
        return hits[:, 0] > 0
