"""The dependency rules of docs/architecture.md, checked on the source text."""

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dexgrasp"

# area -> modules it must never import
FORBIDDEN = {
    "vla": ("dexgrasp.dexter",),
    "dexter": ("dexgrasp.vla",),
    "sim": ("dexgrasp.vla", "dexgrasp.dexter", "torch"),
    "data": ("dexgrasp.vla", "dexgrasp.dexter", "torch"),
    "grasps": ("dexgrasp.vla", "dexgrasp.dexter"),
    "vlm": ("dexgrasp.vla", "dexgrasp.dexter", "dexgrasp.grasps"),
}
IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.M)


def imports(path: Path) -> set[str]:
    return {a or b for a, b in IMPORT.findall(path.read_text())}


@pytest.mark.parametrize("area", sorted(FORBIDDEN))
def test_area_respects_layering(area: str) -> None:
    files = sorted((SRC / area).rglob("*.py"))
    assert files, f"no sources under {area}"
    bad = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[area])
    ]
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import os\nfrom dexgrasp.vla.planner import x\n    import torch.nn as nn\n")
    assert {"os", "dexgrasp.vla.planner", "torch.nn"} <= imports(f)
