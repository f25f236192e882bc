"""Is a model name a Hugging Face hub id that cannot load here? Answered in well under two seconds.

Offline, loading a hub id through sentence-transformers or transformers retries the network for
50 s and more, then fails with a raw hub error (the embedding box, the rerank box and the
transformers LLM all did). Before any such load, `check_hub_model` says at once that the hub cannot be
reached (HF_HUB_OFFLINE is set, or huggingface.co, through the environment's proxy, did not answer
within a second and a half), names the local-folder way and the models that work offline. A hub id already in the local
Hugging Face cache loads offline and passes.
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = {"1", "true", "yes", "on"}
_reach: dict[str, tuple[float, str]] = {}  # endpoint URL -> (checked at, "" when reachable else why not)
_lock = threading.Lock()
RECHECK_S = 60.0
CONNECT_TIMEOUT_S = 1.5

OFFLINE_EMBEDDINGS = ("e5-small, use-multilingual, m3e-small, minilm-packaged or hashing (packaged, no download), "
                      "openai:<model> for an embedding server")
OFFLINE_RERANKERS = "none is packaged: turn reranking off (--no-rerank, or untick the rerank box)"
OFFLINE_LLMS = ("extractive (no model), llamacpp with a local .gguf file (llms.llamacpp.model_path), or openai "
                "with a model server on this machine (Ollama, vLLM, Xinference, LM Studio)")


def is_hub_id(name: str) -> bool:
    """`owner/name` that is not a folder on this machine (and not a URL or an `openai:` name)."""
    name = (name or "").strip()
    return bool(_HUB_ID.match(name)) and ":" not in name and not Path(name).expanduser().exists()


def offline_flag() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_unreachable() -> str:
    """Why the hub cannot be reached ("" when it can); the network answer is remembered for a minute."""
    if offline_flag():
        return "HF_HUB_OFFLINE is set"
    import httpx

    url = _endpoint()
    with _lock:
        seen = _reach.get(url)
        if seen and time.monotonic() - seen[0] < RECHECK_S:
            return seen[1]
    try:  # through the proxy the environment names, like the hub client itself; any HTTP answer will do
        httpx.head(url, timeout=httpx.Timeout(CONNECT_TIMEOUT_S + 1.0, connect=CONNECT_TIMEOUT_S))
        why = ""
    except httpx.HTTPError as exc:
        why = f"{url} cannot be reached ({type(exc).__name__}: {str(exc)[:120] or 'no answer'})"
    with _lock:
        _reach[url] = (time.monotonic(), why)
    return why


def in_local_cache(repo_id: str) -> bool:
    """Whether the Hugging Face cache already holds this model (then it loads offline)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for filename in ("config.json", "modules.json", "config_sentence_transformers.json"):
        try:
            if isinstance(try_to_load_from_cache(repo_id, filename), str):
                return True
        except Exception:  # a malformed id or cache: not cached
            continue
    return False


def hub_problem(name: str, kind: str, offline_choices: str) -> str:
    """Why `name` cannot load here ("" when it can, or is not a hub id): a hub id that is not cached
    while the hub cannot be reached. `kind` is what the model is for ("embedding model", "reranker",
    "chat model"); the caller raises its own error type (ModelLoadError, LLMError) with this message."""
    if not is_hub_id(name) or in_local_cache(name):
        return ""
    why = hub_unreachable()
    if not why:
        return ""
    return (f"cannot load {kind} '{name}': it is a Hugging Face hub id and the hub cannot be reached ({why}). "
            f"Download it where the hub is reachable (huggingface-cli download {name} --local-dir DIR), copy the "
            f"folder here and give its path instead of the id; or use what works offline: {offline_choices}")
