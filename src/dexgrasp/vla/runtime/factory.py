"""Builds the runtime's parts from names (what ``dexgrasp run`` and the bench use)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexgrasp.vla.planner.types import PlannerRecord

PLANNERS = ("oracle", "openai", "qwen-local")
SEGMENTERS = ("auto", "gt", "grabcut", "sam")
TRACKERS = ("auto", "gt", "flow", "sam2")
# The controller packaged with the library (`dexgrasp export controller` wrote it):
# `dexgrasp run --controller shipped`, `dexgrasp eval controller --ckpt shipped`.
SHIPPED_CONTROLLER = Path(__file__).resolve().parents[2] / "checkpoints" / "controller_small"
# What `dexgrasp run` uses without --controller. The scripted expert until the shipped
# controller grasps as reliably (docs/controller.md, Status: 49/100 against the expert's 88%).
DEFAULT_CONTROLLER = "expert"


@dataclass
class PlannerOptions:
    """Backend settings for VLM planners (ignored by the oracle)."""

    base_url: str = "http://localhost:8000/v1"
    model: str = "Qwen/Qwen2.5-VL-72B-Instruct"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 120.0
    qwen_model: str = "Qwen/Qwen2.5-VL-7B-Instruct"
    workspace_crop: bool = True


def make_planner(
    kind: str,
    robot: Any,
    options: PlannerOptions | None = None,
    on_record: Callable[[PlannerRecord], None] | None = None,
) -> Any:
    """ "oracle" (simulator ground truth), "openai" (chat-completions endpoint) or
    "qwen-local" (transformers Qwen2.5-VL)."""
    from dexgrasp.vla.planner import OracleConfig, OraclePlanner, PlannerConfig, VLMPlanner

    if kind not in PLANNERS:
        raise ValueError(f"planner must be one of {PLANNERS}, got {kind!r}")
    options = options or PlannerOptions()
    if kind == "oracle":
        if not hasattr(robot, "objects"):
            raise ValueError("the oracle planner needs a simulated robot (ground truth)")
        from dexgrasp.sim import layout

        x_range = None
        if hasattr(robot, "model"):
            from dexgrasp.vla.runtime.sim_robot import table_x_range

            x_range = table_x_range(robot)
        config = OracleConfig(lift_success_m=layout.SUCCESS_LIFT_M, workspace_x_px=x_range)
        return OraclePlanner(robot, config, on_record=on_record)
    if kind == "openai":
        from dexgrasp.vlm.openai_client import OpenAIClientConfig, OpenAICompatibleClient

        local = any(h in options.base_url for h in ("localhost", "127.0.0.1", "0.0.0.0"))
        client = OpenAICompatibleClient(
            OpenAIClientConfig(
                base_url=options.base_url,
                model=options.model,
                api_key_env=options.api_key_env,
                allow_missing_key=local,
                timeout_s=options.timeout_s,
            )
        )
    else:
        from dexgrasp.vlm.qwen_local import QwenVLLocalClient

        client = QwenVLLocalClient.from_pretrained(options.qwen_model)
    workspace = None
    if options.workspace_crop and hasattr(robot, "model"):
        from dexgrasp.vla.runtime.sim_robot import table_region

        workspace = table_region(robot)
    return VLMPlanner(client, PlannerConfig(workspace=workspace), on_record=on_record)


def make_perception(
    segmenter: str,
    tracker: str,
    robot: Any,
    planner_kind: str,
    sam: str | None = None,
    sam2: str | None = None,
) -> tuple[Any, Any]:
    """(segmenter, tracker). "auto": ground truth with the oracle planner in simulation (this
    measures the controller alone), otherwise SAM / SAM 2 when weights are given, else
    GrabCut and the optical-flow tracker (no weights)."""
    from dexgrasp.vla import perception as P

    if segmenter not in SEGMENTERS or tracker not in TRACKERS:
        raise ValueError(f"segmenter must be one of {SEGMENTERS} and tracker one of {TRACKERS}")
    sim = hasattr(robot, "object_masks")
    if segmenter == "auto":
        segmenter = "gt" if (sim and planner_kind == "oracle") else ("sam" if sam else "grabcut")
    if tracker == "auto":
        tracker = "gt" if (sim and planner_kind == "oracle") else ("sam2" if sam2 else "flow")
    if "gt" in (segmenter, tracker) and not sim:
        raise ValueError("ground-truth perception needs the simulator")
    seg = {
        "gt": lambda: P.GroundTruthSegmenter(robot.object_masks),
        "grabcut": lambda: P.GrabCutSegmenter(),
        "sam": lambda: P.SamSegmenter.from_pretrained(sam or "facebook/sam-vit-base"),
    }[segmenter]()
    trk = {
        "gt": lambda: P.GroundTruthTracker(robot.object_masks),
        "flow": lambda: P.FlowTracker(),
        "sam2": lambda: P.Sam2VideoTracker.from_pretrained(sam2 or "facebook/sam2.1-hiera-tiny"),
    }[tracker]()
    return seg, trk


def resolve_controller(spec: str | None) -> str:
    """The controller ``spec`` names: ``"expert"`` or a checkpoint directory. ``None`` is
    ``DEFAULT_CONTROLLER``; ``"shipped"`` is the checkpoint packaged with the library."""
    if spec is None:
        spec = DEFAULT_CONTROLLER
    if spec == "shipped":
        if not (SHIPPED_CONTROLLER / "config.json").is_file():
            raise FileNotFoundError(
                f"'shipped': this installation has no packaged checkpoint at "
                f"{SHIPPED_CONTROLLER}; pass a checkpoint directory or 'expert'"
            )
        return str(SHIPPED_CONTROLLER)
    return spec


def make_controller(spec: str | None, robot: Any) -> Any:
    """The controller ``spec`` names (see :func:`resolve_controller`): the scripted expert
    (simulation only) or a learned controller loaded from its checkpoint directory."""
    from dexgrasp.vla.runtime.controllers import ExpertController, LearnedController

    spec = resolve_controller(spec)
    if spec == "expert":
        if not hasattr(robot, "segmentation"):
            raise ValueError("the scripted expert controller runs only in simulation")
        return ExpertController(robot)
    path = Path(spec)
    if not path.is_dir():
        raise FileNotFoundError(
            f"--controller {spec!r}: not 'expert', 'shipped' or a checkpoint directory"
        )
    return LearnedController.from_pretrained(path)


def controller_image_size(controller: Any) -> tuple[int, int] | None:
    """(H, W) the robot's cameras should render for a learned controller."""
    from dexgrasp.vla.controller.configuration import camera_size

    size = getattr(controller, "image_size", None)
    return None if size is None else camera_size(size)
