"""Chat messages for vision-language models, shared by every backend.

A message is a role plus an ordered list of parts; each part is either text or an RGB image
given as a numpy array of shape (H, W, 3), dtype uint8. Backends encode images themselves
(base64 PNG data URLs for HTTP endpoints, pixel patches for local models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Role = Literal["system", "user", "assistant"]
Part = str | np.ndarray
ROLES = ("system", "user", "assistant")


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate an RGB image: (H, W, 3) uint8 with H, W >= 1. Returns it unchanged."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    return image


@dataclass(frozen=True)
class Message:
    """One chat turn. ``parts`` keeps text and images in the order the model should see them."""

    role: Role
    parts: tuple[Part, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Message.role must be one of {ROLES}, got {self.role!r}")
        object.__setattr__(self, "parts", tuple(self.parts))
        for i, part in enumerate(self.parts):
            if isinstance(part, np.ndarray):
                check_image(part, f"Message.parts[{i}]")
            elif not isinstance(part, str):
                raise TypeError(
                    f"Message.parts[{i}] must be str or an (H, W, 3) uint8 array, "
                    f"got {type(part).__name__}"
                )

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", (text,))

    @classmethod
    def user(cls, *parts: Part) -> Message:
        return cls("user", tuple(parts))

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls("assistant", (text,))

    @property
    def text(self) -> str:
        """All text parts joined (images left out)."""
        return "".join(p for p in self.parts if isinstance(p, str))

    @property
    def images(self) -> list[np.ndarray]:
        return [p for p in self.parts if isinstance(p, np.ndarray)]


@runtime_checkable
class VLMClient(Protocol):
    """Anything that answers a multimodal chat with text."""

    def chat(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> str:
        """Return the assistant's reply to ``messages``. Raises :class:`VLMError` subclasses."""
        ...


def check_generation_args(max_tokens: int, temperature: float) -> None:
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
    if not (0.0 <= float(temperature) <= 2.0):
        raise ValueError(f"temperature must be in [0, 2], got {temperature!r}")


def check_messages(messages: Sequence[Message]) -> list[Message]:
    messages = list(messages)
    if not messages:
        raise ValueError("messages must not be empty")
    for i, m in enumerate(messages):
        if not isinstance(m, Message):
            raise TypeError(f"messages[{i}] must be a Message, got {type(m).__name__}")
    return messages
