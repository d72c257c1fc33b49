"""Importers for public dexterous-grasp datasets into dexgrasp's 28-D OpenAI-hand convention.

* :func:`read_dexgys` -- DexGYS language-guided grasps (same hand; copied as they are);
* :func:`read_dexonomy` -- Dexonomy / DexGraspBench grasps (MuJoCo Menagerie Shadow Hand,
  29-D; converted by :func:`~dexgrasp.grasps.importers.hands.menagerie_to_openai`, source
  vector and hand tag kept on each record).

Both return :class:`ImportedGrasp` records and raise :class:`ImportFormatError` naming the
file and field of anything malformed.
"""

from dexgrasp.grasps.importers.dexgys import read_dexgys
from dexgrasp.grasps.importers.dexonomy import read_dexonomy
from dexgrasp.grasps.importers.hands import (
    HAND_MENAGERIE,
    HAND_OPENAI,
    menagerie_to_openai,
    openai_to_menagerie,
)
from dexgrasp.grasps.importers.records import ImportedGrasp, ImportFormatError

READERS = {"dexgys": read_dexgys, "dexonomy": read_dexonomy}

__all__ = [
    "HAND_MENAGERIE",
    "HAND_OPENAI",
    "READERS",
    "ImportFormatError",
    "ImportedGrasp",
    "menagerie_to_openai",
    "openai_to_menagerie",
    "read_dexgys",
    "read_dexonomy",
]
