"""The LangChain adapter returns Documents with citation metadata and composes in a runnable chain."""
from __future__ import annotations

from langchain_core.runnables import RunnableLambda

from knowledge import Catalog, IndexSettings
from knowledge.langchain_retriever import ZhidaRetriever
from retrieval import HashingEmbedder


def test_retriever_returns_documents_with_citation_metadata_and_chains(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "制度.md").write_text("# 年假\n\n员工每年享有十五天带薪年假。\n\n# 报销\n\n报销需在三十天内提交。",
                                   encoding="utf-8")
    emb = HashingEmbedder()
    kb = Catalog(tmp_path / "home", embedder_loader=lambda name: emb, defaults=IndexSettings("hashing")).create("hr")
    kb.ingest([folder])
    retriever = ZhidaRetriever(kb=kb, k=1)
    docs = retriever.invoke("年假有几天")
    assert len(docs) == 1 and "十五天" in docs[0].page_content
    assert docs[0].metadata["source"].endswith("制度.md") and docs[0].metadata["heading"] == "年假"
    chain = retriever | RunnableLambda(lambda ds: "\n".join(d.page_content for d in ds))
    assert "十五天" in chain.invoke("年假有几天")
