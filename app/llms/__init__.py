"""LLM backends behind one protocol; `load_llm` picks one from settings.

A backend that cannot load falls back to the extractive mode with a warning,
so a question always gets an answer from the documents.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from app.llms.base import LLM, Extractive, LLMError

log = logging.getLogger(__name__)

BACKENDS = ("extractive", "openai", "transformers", "llamacpp")


def _cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_llm(settings: dict[str, Any], name: str | None = None, *, fallback: bool = True):
    name = name or settings.get("answer", {}).get("llm", "extractive") or "extractive"
    cfg = settings.get("llms", {})
    try:
        if name == "extractive":
            return Extractive()
        if name == "openai":
            from app.llms.openai_compat import OpenAICompatible

            c = cfg.get("openai", {})
            key = os.environ.get(c.get("api_key_env") or "OPENAI_API_KEY")
            return OpenAICompatible(c.get("base_url", "http://127.0.0.1:8000/v1"), c.get("model", "default"),
                                    api_key=key, timeout_s=float(c.get("timeout_s", 60)))
        if name == "transformers":
            from app.llms.hf import TransformersChat

            c = cfg.get("transformers", {})
            return TransformersChat(c["model"], trust_remote_code=bool(c.get("trust_remote_code", False)),
                                    device=c.get("device", "auto"), dtype=c.get("dtype", "auto"),
                                    max_new_tokens=int(c.get("max_new_tokens", 512)))
        if name == "llamacpp":
            from app.llms.llamacpp import LlamaCpp

            c = cfg.get("llamacpp", {})
            return LlamaCpp(c.get("model_path") or "", n_ctx=int(c.get("n_ctx", 4096)),
                            max_new_tokens=int(c.get("max_new_tokens", 512)),
                            n_threads=int(c["n_threads"]) if c.get("n_threads") else _cores(),
                            temperature=float(c.get("temperature", 0.1)))
        raise LLMError(f"unknown LLM backend {name!r}; choose one of {', '.join(BACKENDS)}")
    except LLMError as exc:
        if not fallback:
            raise
        log.warning("%s; answering in extractive mode instead", exc)
        return Extractive()


__all__ = ["BACKENDS", "Extractive", "LLM", "LLMError", "load_llm"]
