"""Vision-language model clients shared by the planner and the grasp-language annotator.

``VLMClient.chat(messages, max_tokens=, temperature=) -> str`` is the one interface.
Backends: :class:`OpenAICompatibleClient` (any chat-completions endpoint) and
:class:`QwenVLLocalClient` (``transformers`` Qwen2.5-VL). Heavy dependencies load lazily.
"""

from __future__ import annotations

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
from dexgrasp.vlm.types import Message, VLMClient, check_image

__all__ = [
    "Message",
    "OpenAIClientConfig",
    "OpenAICompatibleClient",
    "QwenVLLocalClient",
    "VLMClient",
    "VLMConfigError",
    "VLMConnectionError",
    "VLMError",
    "VLMHTTPError",
    "VLMRateLimitError",
    "VLMResponseError",
    "VLMTimeoutError",
    "check_image",
]


def __getattr__(name: str) -> Any:
    if name in ("OpenAICompatibleClient", "OpenAIClientConfig"):
        from dexgrasp.vlm import openai_client

        return getattr(openai_client, name)
    if name == "QwenVLLocalClient":
        from dexgrasp.vlm.qwen_local import QwenVLLocalClient

        return QwenVLLocalClient
    raise AttributeError(f"module 'dexgrasp.vlm' has no attribute {name!r}")
