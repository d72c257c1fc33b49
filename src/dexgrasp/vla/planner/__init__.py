"""DexGraspVLA planner: prompts, robust answer parsing, VLM-backed and oracle planners.

>>> from dexgrasp.vla.planner import VLMPlanner, OraclePlanner, parse_bbox
"""

from dexgrasp.vla.planner.oracle import ObjectTruth, OracleConfig, OraclePlanner, SceneTruth
from dexgrasp.vla.planner.parsing import parse_bbox, parse_bool, parse_instruction
from dexgrasp.vla.planner.types import (
    BoundingBox,
    Planner,
    PlannerError,
    PlannerParseError,
    PlannerRecord,
    PlannerTargetError,
)
from dexgrasp.vla.planner.vlm_planner import PlannerConfig, VLMPlanner
from dexgrasp.vla.planner.workspace import WorkspaceRegion, crop_workspace

__all__ = [
    "BoundingBox",
    "ObjectTruth",
    "OracleConfig",
    "OraclePlanner",
    "Planner",
    "PlannerConfig",
    "PlannerError",
    "PlannerParseError",
    "PlannerRecord",
    "PlannerTargetError",
    "SceneTruth",
    "VLMPlanner",
    "WorkspaceRegion",
    "crop_workspace",
    "parse_bbox",
    "parse_bool",
    "parse_instruction",
]
