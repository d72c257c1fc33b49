"""What every importer returns: grasps in our 28-D convention plus where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM
from dexgrasp.grasps.importers.hands import HANDS


class ImportFormatError(ValueError):
    """A source file does not follow its documented layout; the message names file and field."""


@dataclass
class ImportedGrasp:
    """One grasp read from a public dataset.

    ``grasp`` is always our 28-D OpenAI-hand vector in the object frame; ``hand`` says which
    hand the source used and ``source_qpos`` keeps the source vector untouched, so nothing
    of the original is lost by the conversion.
    """

    object_id: str
    category: str
    grasp: np.ndarray  # (28,) float64
    hand: str
    source_qpos: np.ndarray  # (28,) DexGYS or (29,) Dexonomy, as stored in the source
    source: str  # file (and index) the grasp came from
    grasp_type: str | None = None
    instructions: dict[str, list[str]] = field(default_factory=dict)  # level -> sentences
    pregrasp: np.ndarray | None = None  # (28,) same convention as grasp
    squeeze: np.ndarray | None = None  # (28,)
    object_mesh: str | None = None  # path of the source mesh, when known
    object_scale: float = 1.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.grasp = np.asarray(self.grasp, dtype=np.float64)
        if self.grasp.shape != (GRASP_DIM,) or not np.isfinite(self.grasp).all():
            raise ImportFormatError(
                f"{self.source}: grasp must be {GRASP_DIM} finite numbers, got {self.grasp.shape}"
            )
        if self.hand not in HANDS:
            raise ImportFormatError(f"{self.source}: hand {self.hand!r} is not one of {HANDS}")
        if not self.object_id:
            raise ImportFormatError(f"{self.source}: empty object id")
        for level, texts in self.instructions.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ImportFormatError(f"{self.source}: instructions[{level!r}] must be strings")
