"""Zhida retrieval as a LangChain `BaseRetriever`, so a knowledge base drops into a LangChain chain.

    from knowledge.langchain_retriever import ZhidaRetriever
    retriever = ZhidaRetriever(kb=catalog.open("policies"), k=5)
    docs = retriever.invoke("年假有几天？")
"""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class ZhidaRetriever(BaseRetriever):
    """Hybrid (or dense/sparse) search over a Zhida KnowledgeBase; metadata carries the citation fields."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: Any
    k: int = 5
    mode: str = "hybrid"
    rerank: bool = False

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        results = self.kb.search(query, k=self.k, mode=self.mode, rerank=self.rerank)
        return [Document(page_content=r.text, id=r.chunk_id,
                         metadata={"source": r.source, "page": r.page, "heading": r.heading, "score": r.score,
                                   "chunk_id": r.chunk_id,
                                   "found_by": list(r.hit.found_by) if r.hit else []})
                for r in results]
