"""GGUF models through llama.cpp (the `llamacpp` extra)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from app.llms.base import LLMError


class LlamaCpp:
    def __init__(self, model_path: str, n_ctx: int = 4096, max_new_tokens: int = 512, n_threads: int | None = None,
                 temperature: float = 0.1):
        # the file first: a wrong path is the commoner mistake, and checking it needs no import
        if not model_path or not Path(model_path).expanduser().is_file():
            raise LLMError(f"GGUF model file not found: {model_path!r} (set llms.llamacpp.model_path)")
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError("the llamacpp backend needs llama-cpp-python: pip install -e '.[llamacpp]'") from exc
        self.name = f"llamacpp:{Path(model_path).name}"
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        try:
            # llama-cpp-python's own default is half the cores, which leaves one of two idle
            self._llm = Llama(model_path=str(Path(model_path).expanduser()), n_ctx=n_ctx, n_threads=n_threads,
                              verbose=False)
        except (ValueError, RuntimeError) as exc:  # not a GGUF, truncated, unsupported architecture
            raise LLMError(f"llama.cpp could not load {model_path}: {exc}") from exc
        self._formatter = self._chat_formatter()

    def _chat_formatter(self):
        """The model's own chat template (GGUF metadata), to count prompt tokens as the model sees them;
        None when the file has no template (then counts cover the message texts only)."""
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def text(token_id: int) -> str:
            return self._llm.detokenize([token_id], special=True).decode("utf-8", "replace")

        return Jinja2ChatFormatter(template=template, eos_token=text(self._llm.token_eos()),
                                   bos_token=text(self._llm.token_bos()))

    def count_text_tokens(self, text: str) -> int:
        """Tokens of plain text in this model's vocabulary."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0

    def count_tokens(self, messages: list[dict]) -> int:
        """Prompt tokens of `messages` as the model receives them (chat template applied)."""
        if self._formatter is None:
            return sum(self.count_text_tokens(str(m.get("content", ""))) for m in messages)
        prompt = self._formatter(messages=messages).prompt
        return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        try:
            for event in self._llm.create_chat_completion(messages=messages, stream=True,
                                                          temperature=self.temperature,
                                                          max_tokens=int(params.get("max_new_tokens",
                                                                                    self.max_new_tokens))):
                piece = event["choices"][0].get("delta", {}).get("content")
                if piece:
                    yield piece
        except Exception as exc:
            raise LLMError(f"llama.cpp generation failed: {exc}") from exc
