"""LLM backends behind one protocol; `load_llm` picks one from settings.

A backend that cannot load is an error naming it and the reason (LLMError). Only when the user asked
for it (`answer.fallback_to_extractive: true`) does it fall back to the extractive mode, and the
answers then say so (Extractive.fallback_reason).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from app.llms.base import LLM, Extractive, LLMError
from retrieval.threads import cpu_threads

log = logging.getLogger(__name__)

BACKENDS = ("extractive", "openai", "transformers", "llamacpp")


def load_llm(settings: dict[str, Any], name: str | None = None, *, fallback: bool | None = None):
    """The named backend (default: answer.llm). `fallback` (default: answer.fallback_to_extractive, off):
    a backend that cannot load gives the extractive mode, marked with the reason, instead of LLMError."""
    if fallback is None:
        fallback = bool((settings.get("answer") or {}).get("fallback_to_extractive", False))
    name = name or settings.get("answer", {}).get("llm", "extractive") or "extractive"
    cfg = settings.get("llms", {})
    try:
        if name == "extractive":
            return Extractive()
        if name == "openai":
            from app.llms.openai_compat import OpenAICompatible

            c = cfg.get("openai", {})
            # a key saved from the UI's settings panel (config.yaml) first, else the named environment variable
            key = c.get("api_key") or os.environ.get(c.get("api_key_env") or "OPENAI_API_KEY") or None
            return OpenAICompatible(c.get("base_url", "http://127.0.0.1:8000/v1"), c.get("model", "default"),
                                    api_key=key, timeout_s=float(c.get("timeout_s", 60)))
        if name == "transformers":
            from app.llms.hf import TransformersChat

            from app.hub import OFFLINE_LLMS, hub_problem

            c = cfg.get("transformers", {})
            problem = hub_problem(str(c.get("model") or ""), "chat model", OFFLINE_LLMS)
            if problem:  # at once, not after transformers' 50 s of retries
                raise LLMError(problem)
            return TransformersChat(c["model"], trust_remote_code=bool(c.get("trust_remote_code", False)),
                                    device=c.get("device", "auto"), dtype=c.get("dtype", "auto"),
                                    max_new_tokens=int(c.get("max_new_tokens", 512)))
        if name == "llamacpp":
            from app.llms.llamacpp import LlamaCpp

            c = cfg.get("llamacpp", {})
            return LlamaCpp(c.get("model_path") or "", n_ctx=int(c.get("n_ctx", 4096)),
                            max_new_tokens=int(c.get("max_new_tokens", 512)),
                            n_threads=int(c["n_threads"]) if c.get("n_threads") else cpu_threads(),
                            temperature=float(c.get("temperature", 0.1)))
        raise LLMError(f"unknown LLM backend {name!r}; choose one of {', '.join(BACKENDS)}")
    except LLMError as exc:
        if not fallback:
            raise
        log.warning("%s; answering in extractive mode instead (answer.fallback_to_extractive)", exc)
        return Extractive(fallback_reason=str(exc))


__all__ = ["BACKENDS", "Extractive", "LLM", "LLMError", "load_llm"]
