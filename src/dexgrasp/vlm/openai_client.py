"""Client for any OpenAI-compatible chat-completions endpoint (vLLM, DashScope, Ollama, OpenAI).

Images travel as base64 PNG data URLs. Time-outs, HTTP 429 and 5xx answers and connection
failures are retried with exponential back-off; everything else fails at once with a typed
error from :mod:`dexgrasp.vlm.errors`.

Example (a local vLLM server)::

    client = OpenAICompatibleClient(OpenAIClientConfig(
        base_url="http://localhost:8000/v1", model="Qwen/Qwen2.5-VL-72B-Instruct"))
    reply = client.chat([Message.user("What is on the table?", image)])
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dexgrasp.vlm.errors import (
    VLMConfigError,
    VLMConnectionError,
    VLMError,
    VLMHTTPError,
    VLMRateLimitError,
    VLMResponseError,
    VLMTimeoutError,
)
from dexgrasp.vlm.images import png_data_url
from dexgrasp.vlm.types import Message, check_generation_args, check_messages


@dataclass
class OpenAIClientConfig:
    """Connection settings. The key is read from the environment variable ``api_key_env``;
    local servers that need no key accept the value ``EMPTY`` (used when the variable is unset
    and ``allow_missing_key`` is true)."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o"
    api_key_env: str = "OPENAI_API_KEY"
    allow_missing_key: bool = False
    timeout_s: float = 60.0  # per request
    max_retries: int = 3  # extra attempts after the first
    backoff_s: float = 1.0  # first back-off; doubles each retry
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model must be a non-empty model name")
        if not self.api_key_env:
            raise ValueError("api_key_env must name an environment variable")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff_s and backoff_max_s must be >= 0")


def to_openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Convert :class:`Message` objects into chat-completions JSON (images as data URLs)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role != "user" or not m.images:
            out.append({"role": m.role, "content": m.text})
            continue
        content = []
        for part in m.parts:
            if isinstance(part, str):
                content.append({"type": "text", "text": part})
            else:
                content.append({"type": "image_url", "image_url": {"url": png_data_url(part)}})
        out.append({"role": m.role, "content": content})
    return out


class OpenAICompatibleClient:
    """:class:`~dexgrasp.vlm.types.VLMClient` over the ``openai`` package."""

    def __init__(
        self,
        config: OpenAIClientConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or OpenAIClientConfig()
        self._sleep = sleep
        try:
            import openai
        except ImportError as err:
            raise ImportError(
                "OpenAICompatibleClient needs the openai package: pip install 'dexgrasp[openai]'"
            ) from err
        self._openai = openai
        key = os.environ.get(self.config.api_key_env)
        if not key:
            if not self.config.allow_missing_key:
                raise VLMConfigError(
                    f"environment variable {self.config.api_key_env} is not set; export your API "
                    f"key there (or set it to EMPTY for a local server that needs none)"
                )
            key = "EMPTY"
        # Retries are ours (typed errors, visible back-off), so the SDK's own are off.
        self._client = openai.OpenAI(
            base_url=self.config.base_url,
            api_key=key,
            timeout=self.config.timeout_s,
            max_retries=0,
        )
        self.n_requests = 0  # HTTP requests sent, retries included

    def chat(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> str:
        messages = check_messages(messages)
        check_generation_args(max_tokens, temperature)
        payload = to_openai_messages(messages)
        cfg = self.config
        delay = cfg.backoff_s
        for attempt in range(cfg.max_retries + 1):
            try:
                return self._request(payload, max_tokens, temperature)
            except (VLMTimeoutError, VLMConnectionError) as err:
                last: VLMError = err
            except VLMHTTPError as err:
                if not err.retryable:
                    raise
                last = err
            if attempt < cfg.max_retries:
                self._sleep(min(delay, cfg.backoff_max_s))
                delay *= 2
        raise last

    def _request(self, payload: list[dict[str, Any]], max_tokens: int, temperature: float) -> str:
        oa = self._openai
        self.n_requests += 1
        try:
            resp = self._client.chat.completions.create(
                model=self.config.model,
                messages=payload,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except oa.APITimeoutError as err:
            raise VLMTimeoutError(
                f"{self.config.base_url}: no answer within {self.config.timeout_s} s"
            ) from err
        except oa.APIConnectionError as err:
            raise VLMConnectionError(f"{self.config.base_url}: connection failed: {err}") from err
        except oa.APIStatusError as err:
            body = _safe_text(err.response)
            cls = VLMRateLimitError if err.status_code == 429 else VLMHTTPError
            raise cls(
                f"{self.config.base_url}: HTTP {err.status_code}: {body[:300]}",
                status=err.status_code,
                body=body,
            ) from err
        except oa.APIResponseValidationError as err:
            raise VLMResponseError(f"malformed chat-completions answer: {err}") from err
        except (ValueError, TypeError, KeyError) as err:  # undecodable JSON body
            raise VLMResponseError(f"malformed chat-completions answer: {err}") from err
        try:
            content = resp.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as err:
            raise VLMResponseError(f"answer has no choices[0].message: {resp!r}"[:500]) from err
        if not isinstance(content, str) or not content.strip():
            raise VLMResponseError("answer has an empty message content", raw=repr(content))
        return content


def _safe_text(response: Any) -> str:
    try:
        return str(response.text)
    except Exception:  # noqa: BLE001 - best effort for an error message only
        return ""
