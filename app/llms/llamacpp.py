"""GGUF models through llama.cpp (the `llamacpp` extra)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from app.llms.base import LLMError


class LlamaCpp:
    def __init__(self, model_path: str, n_ctx: int = 4096, max_new_tokens: int = 512, n_threads: int | None = None):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError("the llamacpp backend needs llama-cpp-python: pip install -e '.[llamacpp]'") from exc
        if not model_path or not Path(model_path).expanduser().is_file():
            raise LLMError(f"GGUF model file not found: {model_path!r} (set llms.llamacpp.model_path)")
        self.name = f"llamacpp:{Path(model_path).name}"
        self.max_new_tokens = max_new_tokens
        self._llm = Llama(model_path=str(Path(model_path).expanduser()), n_ctx=n_ctx, n_threads=n_threads,
                          verbose=False)

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        try:
            for event in self._llm.create_chat_completion(messages=messages, stream=True, temperature=0.1,
                                                          max_tokens=int(params.get("max_new_tokens",
                                                                                    self.max_new_tokens))):
                piece = event["choices"][0].get("delta", {}).get("content")
                if piece:
                    yield piece
        except Exception as exc:
            raise LLMError(f"llama.cpp generation failed: {exc}") from exc
