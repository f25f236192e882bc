"""Citations keep file, page, page range and heading path in REST chat and /v1; /v1 answers end with the
sources as footnotes in the message content (streaming too); `usage` is the model's count or a named estimate.

Real knowledge bases (hashing embedder) behind the real server; the LLM side is a real HTTP model server
on 127.0.0.1 (tests/fake_openai.py)."""
from __future__ import annotations

import pytest

from app.citations import Citation, citation_dict, footnotes, page_label, where
from tests.app.test_api import client_with_kb, make_docx, make_pdf, sse_events
from tests.fake_openai import COMPLETION_TOKENS, PROMPT_TOKENS, fake_openai

QUESTION = "住宿标准是多少？"


def _client(monkeypatch, tmp_path, llm_url: str | None = None):
    return client_with_kb(monkeypatch, "hr", [("报销.docx", make_docx(tmp_path / "报销.docx").read_bytes()),
                                              ("年会.pdf", make_pdf(tmp_path / "年会.pdf").read_bytes())], llm_url)


@pytest.fixture(scope="module")
def extractive(tmp_path_factory):
    """One server and KB for the module's extractive-mode tests (each ingest costs seconds)."""
    tmp = tmp_path_factory.mktemp("chat_sources")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZHIDA_HOME", str(tmp / "home"))
        c = _client(mp, tmp)
        yield c
        c.__exit__(None, None, None)


def _v1(c, question: str, stream: bool = False):
    body = {"model": "zhida:hr", "messages": [{"role": "user", "content": question}], "stream": stream}
    if not stream:
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        return r.json()
    with c.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        return [d for _, d in sse_events("".join(r.iter_text()))]


def test_labels_carry_page_range_and_heading_path():
    c = citation_dict(Citation(n=2, chunk_id="x", source="/d/规章.pdf", page=3, page_end=5, text="…", score=0.5,
                               heading_path=("第一章", "第二节")))
    assert c["name"] == "规章.pdf" and c["heading"] == "第一章 > 第二节" and c["heading_path"] == ["第一章", "第二节"]
    assert where(c, "zh") == "规章.pdf · 第 3–5 页 · 第一章 > 第二节"
    assert where(c, "en", full_path=True) == "/d/规章.pdf · pages 3–5 · 第一章 > 第二节"
    assert page_label(4, 4) == "page 4" and page_label(None, None) == ""
    notes = footnotes([c], "zh")
    assert notes.startswith("\n\n---\n来源：") and notes.endswith("[2] 规章.pdf，第 3–5 页，第一章 > 第二节")
    assert "Closest passages" in footnotes([c], "en", refused=True) and footnotes([], "en") == ""


def test_rest_chat_citations_keep_heading_path_and_page(extractive):
    r = extractive.post("/api/kbs/hr/chat", json={"question": QUESTION})
    assert r.status_code == 200, r.text
    cite = r.json()["citations"][0]
    assert cite["name"] == "报销.docx" and cite["heading_path"] == ["报销制度"] and cite["heading"] == "报销制度"
    r = extractive.post("/api/kbs/hr/chat", json={"question": "年会在哪里举行？"})
    pdf = next(c for c in r.json()["citations"] if c["name"] == "年会.pdf")
    assert pdf["page"] == 1 and "page_end" in pdf


def test_v1_answer_ends_with_footnotes_and_estimates_usage(extractive):
    body = _v1(extractive, QUESTION)
    content = body["choices"][0]["message"]["content"]
    answer, _, notes = content.partition("\n\n---\n")
    assert "五百元" in answer and "[1]" in answer
    assert notes.startswith("来源：") and "[1] 报销.docx，报销制度" in notes
    assert body["citations"][0]["heading_path"] == ["报销制度"]  # the structured field stays
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5 and usage["completion_tokens"] > 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["zhida"]["usage_counted_by"].startswith("estimate")
    chunks = _v1(extractive, QUESTION, stream=True)
    assert chunks[-1] == "[DONE]"
    streamed = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks[:-1])
    assert streamed == content  # the same footnotes reach a streaming client
    final = chunks[-2]
    assert final["choices"][0]["finish_reason"] == "stop" and final["usage"] == usage


def test_v1_refusal_lists_the_closest_passages_as_such(extractive):
    content = _v1(extractive, "火星上的重力加速度是多少？")["choices"][0]["message"]["content"]
    assert "知识库中没有找到" in content and "最接近的段落：" in content and "来源：" not in content


def test_v1_usage_is_the_model_servers_count_when_it_sends_one(monkeypatch, tmp_path):
    with fake_openai(lambda messages: "住宿标准为每晚不超过五百元[1]。") as srv:
        c = _client(monkeypatch, tmp_path, srv["url"])
        try:
            body = _v1(c, QUESTION)
        finally:
            c.__exit__(None, None, None)
    assert body["zhida"]["mode"] == "openai:qwen2.5:7b"
    assert body["usage"] == {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                             "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
    assert body["zhida"]["usage_counted_by"] == "model"
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("住宿标准为每晚不超过五百元[1]。") and "[1] 报销.docx，报销制度" in content
    chat = [b for p, b in srv["requests"] if p == "/v1/chat/completions"]
    assert chat[-1]["stream_options"] == {"include_usage": True}


def test_a_server_that_refuses_stream_options_is_asked_again_without_them():
    from app.answering import answer
    from app.llms.openai_compat import OpenAICompatible
    from knowledge.types import RetrievedChunk

    chunks = [RetrievedChunk("c1", "住宿标准为每晚不超过五百元。", "/kb/报销.docx", 0.9, heading_path=("报销制度",))]
    with fake_openai(lambda messages: "每晚不超过五百元[1]。", old_server=True) as srv:
        a = answer(QUESTION, chunks, llm=OpenAICompatible(srv["url"], "qwen2.5:7b", timeout_s=5))
    assert a.text == "每晚不超过五百元[1]。" and a.citations[0].heading_path == ("报销制度",)
    assert a.usage["counted_by"].startswith("estimate") and a.usage["completion_tokens"] > 0
    bodies = [b for p, b in srv["requests"] if p == "/v1/chat/completions"]
    assert ["stream_options" in b for b in bodies] == [True, False]
