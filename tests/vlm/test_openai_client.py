"""OpenAICompatibleClient against a scripted chat-completions server on loopback."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from dexgrasp.vlm import Message, VLMConfigError, VLMHTTPError, VLMResponseError, VLMTimeoutError
from dexgrasp.vlm.errors import VLMConnectionError, VLMRateLimitError
from dexgrasp.vlm.images import decode_png
from dexgrasp.vlm.loopback import LoopbackChatServer, Reply
from dexgrasp.vlm.openai_client import OpenAIClientConfig, OpenAICompatibleClient


def make_client(url: str, monkeypatch, **kw) -> tuple[OpenAICompatibleClient, list[float]]:
    monkeypatch.setenv("TEST_VLM_KEY", "sk-test")
    sleeps: list[float] = []
    cfg = OpenAIClientConfig(base_url=url, model="qwen-test", api_key_env="TEST_VLM_KEY", **kw)
    return OpenAICompatibleClient(cfg, sleep=sleeps.append), sleeps


def test_happy_path_sends_images_as_png(monkeypatch):
    image = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    with LoopbackChatServer([Reply(text="Grasp the red cube.")]) as server:
        client, sleeps = make_client(server.base_url, monkeypatch)
        reply = client.chat(
            [Message.system("be brief"), Message.user("what next?", image)], max_tokens=7
        )
    assert reply == "Grasp the red cube."
    assert sleeps == []
    req = server.requests[0]
    assert req["_path"] == "/v1/chat/completions"
    assert req["_auth"] == "Bearer sk-test"
    assert req["model"] == "qwen-test" and req["max_tokens"] == 7
    assert req["messages"][0] == {"role": "system", "content": "be brief"}
    parts = req["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "what next?"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    np.testing.assert_array_equal(decode_png(base64.b64decode(url.split(",", 1)[1])), image)


def test_retries_5xx_and_429_with_exponential_backoff(monkeypatch):
    script = [Reply(status=503), Reply(status=429), Reply(status=500), Reply(text="done")]
    with LoopbackChatServer(script) as server:
        client, sleeps = make_client(server.base_url, monkeypatch, max_retries=3, backoff_s=0.5)
        assert client.chat([Message.user("hi")]) == "done"
    assert len(server.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_gives_up_after_retry_budget_with_typed_error(monkeypatch):
    with LoopbackChatServer([Reply(status=429)]) as server:
        client, sleeps = make_client(server.base_url, monkeypatch, max_retries=2, backoff_s=0.1)
        with pytest.raises(VLMRateLimitError) as info:
            client.chat([Message.user("hi")])
    assert info.value.status == 429
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_client_errors_are_not_retried(monkeypatch):
    with LoopbackChatServer([Reply(status=400)]) as server:
        client, sleeps = make_client(server.base_url, monkeypatch, max_retries=3)
        with pytest.raises(VLMHTTPError) as info:
            client.chat([Message.user("hi")])
    assert info.value.status == 400 and not info.value.retryable
    assert len(server.requests) == 1 and sleeps == []


def test_timeout_is_retried_then_raised(monkeypatch):
    with LoopbackChatServer([Reply(text="late", delay_s=1.0)]) as server:
        client, sleeps = make_client(server.base_url, monkeypatch, timeout_s=0.2, max_retries=1)
        with pytest.raises(VLMTimeoutError):
            client.chat([Message.user("hi")])
    assert len(sleeps) == 1


def test_timeout_then_success(monkeypatch):
    with LoopbackChatServer([Reply(text="late", delay_s=1.0), Reply(text="fast")]) as server:
        client, _ = make_client(server.base_url, monkeypatch, timeout_s=0.3, max_retries=1)
        assert client.chat([Message.user("hi")]) == "fast"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw=b"this is not json"),
        Reply(raw=b'{"choices": []}'),
        Reply(text=None),
        Reply(text="   "),
    ],
)
def test_malformed_answers_raise_response_error(monkeypatch, reply):
    with LoopbackChatServer([reply]) as server:
        client, _ = make_client(server.base_url, monkeypatch)
        with pytest.raises(VLMResponseError):
            client.chat([Message.user("hi")])


def test_connection_refused_is_typed(monkeypatch):
    client, sleeps = make_client("http://127.0.0.1:9/v1", monkeypatch, max_retries=1)
    with pytest.raises(VLMConnectionError):
        client.chat([Message.user("hi")])
    assert len(sleeps) == 1


def test_missing_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    cfg = OpenAIClientConfig(base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(VLMConfigError, match="NO_SUCH_KEY_VAR"):
        OpenAICompatibleClient(cfg)
    cfg.allow_missing_key = True
    OpenAICompatibleClient(cfg)  # local servers: key "EMPTY"


@pytest.mark.parametrize(
    ("field", "value"),
    [("base_url", "localhost:8000"), ("timeout_s", 0), ("max_retries", -1), ("model", "")],
)
def test_config_validation_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        OpenAIClientConfig(**{field: value})


def test_bad_messages_rejected():
    with pytest.raises(ValueError, match="shape"):
        Message.user(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        Message.user(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="role"):
        Message("robot", ("hi",))  # type: ignore[arg-type]
