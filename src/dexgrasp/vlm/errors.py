"""Typed errors raised by VLM clients. Callers catch :class:`VLMError` for all of them."""

from __future__ import annotations


class VLMError(RuntimeError):
    """Base class of every VLM client error."""


class VLMConfigError(VLMError):
    """The client is misconfigured (missing key, missing weights, bad option)."""


class VLMTimeoutError(VLMError):
    """The endpoint did not answer within the time-out, after all retries."""


class VLMConnectionError(VLMError):
    """The endpoint could not be reached, after all retries."""


class VLMHTTPError(VLMError):
    """The endpoint answered with an HTTP error status."""

    def __init__(self, message: str, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


class VLMRateLimitError(VLMHTTPError):
    """HTTP 429 after all retries."""


class VLMResponseError(VLMError):
    """The endpoint answered, but not with a usable chat completion."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw
