"""The LLM seam: a backend streams text for a list of chat messages."""
from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable


@runtime_checkable
class LLM(Protocol):
    name: str

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        """Yield text pieces as they are generated."""
        ...


class LLMError(RuntimeError):
    """A backend that failed (unreachable, timed out, died mid-answer); the message says which and why."""


class Extractive:
    """Marker for the no-LLM mode: answering picks and cites sentences itself."""

    name = "extractive"

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        raise LLMError("the extractive mode does not generate text from messages")
