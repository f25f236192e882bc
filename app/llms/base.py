"""The LLM seam: a backend streams text for a list of chat messages."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol, runtime_checkable


@runtime_checkable
class LLM(Protocol):
    name: str

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        """Yield text pieces as they are generated."""
        ...


class TextStream:
    """Text pieces that also carry what the model reported about them once the stream ends.

    `usage` fills in at the end when the backend counts tokens ({"prompt_tokens", "completion_tokens"});
    it stays empty when the backend cannot say, and the answer step then estimates (and says so).
    `close()` closes the underlying generator (and its HTTP stream) at once.
    """

    def __init__(self, make: Callable[[dict[str, Any]], Iterator[str]]):
        self.usage: dict[str, Any] = {}
        self._pieces = make(self.usage)

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        return next(self._pieces)

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


class LLMError(RuntimeError):
    """A backend that failed (unreachable, timed out, died mid-answer); the message says which and why."""


class Extractive:
    """Marker for the no-LLM mode: answering picks and cites sentences itself.

    `fallback_reason`: set when this stands in for a language model that could not load (only when the
    user asked for that fallback); every answer then says so."""

    name = "extractive"

    def __init__(self, fallback_reason: str = ""):
        self.fallback_reason = fallback_reason

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        raise LLMError("the extractive mode does not generate text from messages")
