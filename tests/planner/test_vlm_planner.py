"""VLMPlanner over scripted clients and over the OpenAI backend on a loopback server."""

from __future__ import annotations

import numpy as np
import pytest

from dexgrasp.vla.planner.types import Planner, PlannerParseError
from dexgrasp.vla.planner.vlm_planner import PlannerConfig, VLMPlanner
from dexgrasp.vla.planner.workspace import WorkspaceRegion, crop_workspace
from dexgrasp.vlm import Message, VLMHTTPError
from dexgrasp.vlm.loopback import LoopbackChatServer, Reply
from dexgrasp.vlm.openai_client import OpenAIClientConfig, OpenAICompatibleClient

rng = np.random.default_rng(0)
HEAD = rng.integers(0, 200, (48, 64, 3), dtype=np.uint8)
WRIST = rng.integers(0, 200, (48, 64, 3), dtype=np.uint8)


class ScriptedClient:
    def __init__(self, replies):
        self.replies = list(replies)
        self.calls: list[tuple[list[Message], int, float]] = []

    def chat(self, messages, *, max_tokens=512, temperature=0.0):
        self.calls.append((list(messages), max_tokens, temperature))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_four_subtasks_and_logging():
    client = ScriptedClient(
        [
            "Grasp the red can on the right side of the table.",
            '```json\n{"bbox_2d": [10, 5, 40, 30], "label": "red can", "description": "d"}\n```',
            "The can is in the hand.\nOutput: True",
            "A bottle is still there. Output: False",
        ]
    )
    records = []
    planner = VLMPlanner(client, on_record=records.append)
    assert isinstance(planner, Planner)
    instr = planner.propose_instruction("clear the table", HEAD, HEAD)
    assert instr == "Grasp the red can on the right side of the table."
    box = planner.predict_box(instr, HEAD)
    assert box.xyxy == (10, 5, 40, 30) and box.label == "red can"
    assert planner.verify_grasp(instr, HEAD, WRIST) is True
    assert planner.check_completion("clear the table", HEAD, HEAD) is False
    assert [r.subtask for r in records] == [
        "propose_instruction",
        "predict_box",
        "verify_grasp",
        "check_completion",
    ]
    assert "clear the table" in records[0].prompt and records[0].answer == instr
    assert records[1].parsed == box
    # propose: two images (initial, current); verify: head and wrist.
    assert len(client.calls[0][0][1].images) == 2
    np.testing.assert_array_equal(client.calls[2][0][1].images[1], WRIST)
    assert '"bbox_2d"' in client.calls[1][0][1].text


def test_retry_then_typed_error_with_raw_answers():
    client = ScriptedClient(["I think it is the cup", "[1, 2]", "no idea"])
    records = []
    planner = VLMPlanner(client, PlannerConfig(max_attempts=3), on_record=records.append)
    with pytest.raises(PlannerParseError) as info:
        planner.predict_box("grasp the cup", HEAD)
    assert info.value.answers == ["I think it is the cup", "[1, 2]", "no idea"]
    assert info.value.raw == "no idea"
    assert len(records) == 3 and all(r.error for r in records)
    # Retries carry a hint and a non-zero temperature.
    assert "could not be used" in client.calls[1][0][1].text
    assert client.calls[0][2] == 0.0 and client.calls[1][2] > 0


def test_retry_recovers():
    client = ScriptedClient(["hmm", "Output: **True**"])
    assert VLMPlanner(client).verify_grasp("grasp the cup", HEAD, WRIST) is True


def test_box_never_leaves_the_image():
    client = ScriptedClient(['{"bbox_2d": [-50, -50, 5000, 30]}'])
    box = VLMPlanner(client, PlannerConfig(coords="pixel")).predict_box("x", HEAD)
    assert box.xyxy == (0, 0, 64, 30)


def test_backend_errors_propagate_and_are_logged():
    records = []
    client = ScriptedClient([VLMHTTPError("boom", status=500)])
    with pytest.raises(VLMHTTPError):
        VLMPlanner(client, on_record=records.append).check_completion("p", HEAD, HEAD)
    assert "VLMHTTPError" in records[0].error


def test_workspace_is_whitened_in_planner_views():
    region = WorkspaceRegion.rect(0.25, 0.5, 0.75, 1.0)
    client = ScriptedClient(['{"bbox_2d": [20, 30, 40, 45]}'])
    VLMPlanner(client, PlannerConfig(workspace=region)).predict_box("x", HEAD)
    seen = client.calls[0][0][1].images[0]
    assert (seen[:24] == 255).all() and (seen[:, :16] == 255).all()
    np.testing.assert_array_equal(seen[24:, 16:48], HEAD[24:, 16:48])


def test_crop_polygon_and_validation():
    img = np.zeros((10, 10, 3), np.uint8)
    tri = WorkspaceRegion(((0, 0), (1, 0), (0, 1)))
    out = crop_workspace(img, tri)
    assert out[0, 0].tolist() == [0, 0, 0] and out[9, 9].tolist() == [255, 255, 255]
    assert (img == 0).all()  # input untouched
    with pytest.raises(ValueError, match="polygon"):
        WorkspaceRegion(((0, 0), (1, 1)))
    with pytest.raises(ValueError, match="max_attempts"):
        PlannerConfig(max_attempts=0)


def test_openai_backend_end_to_end(monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "k")
    script = [
        Reply(status=503),
        Reply(text="Sure, the target is here: bbox [[0.5, 0.5, 0.75, 1.0]]"),
        Reply(text="garbage"),
        Reply(text="```\nOutput: False\n```"),
    ]
    with LoopbackChatServer(script) as server:
        cfg = OpenAIClientConfig(base_url=server.base_url, model="m", api_key_env="LOOPBACK_KEY")
        client = OpenAICompatibleClient(cfg, sleep=lambda s: None)
        planner = VLMPlanner(client)
        box = planner.predict_box("grasp the cup", HEAD)
        assert box.xyxy == (32, 24, 48, 48)
        assert planner.check_completion("clear the table", HEAD, HEAD) is False
    assert len(server.requests) == 4
    content = server.requests[1]["messages"][1]["content"]
    assert [c["type"] for c in content] == ["text", "image_url", "text"]
