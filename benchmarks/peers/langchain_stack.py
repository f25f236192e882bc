"""The peer: a local RAG retrieval stack built the way LangChain users build one.

PyMuPDFLoader / Docx2txtLoader / TextLoader -> RecursiveCharacterTextSplitter ->
HuggingFaceEmbeddings (the same model folder Zhida uses) -> FAISS.from_documents,
plus BM25Retriever (rank-bm25) and EnsembleRetriever (weighted RRF) for hybrid.

Defaults are the documented ones; the only knobs turned are the ones a user
comparing with Zhida would turn: the same chunk size/overlap (500/80 characters),
normalised embeddings, k, and optionally a jieba `preprocess_func` for BM25
(LangChain's default splits on whitespace, which finds no words in Chinese).

Benchmark-only: the app never imports this module.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*sunset.*")

CHUNK_SIZE = 500
CHUNK_OVERLAP = 80


def whitespace_tokens(text: str) -> list[str]:
    """LangChain's own default (`text.split()`)."""
    return text.split()


def jieba_tokens(text: str) -> list[str]:
    from benchmarks.corpus import jieba_tokens as jt

    return jt(text)


class LangChainStack:
    def __init__(self, model_path: str, *, chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP,
                 bm25_preprocess: Callable[[str], list[str]] | None = jieba_tokens, k: int = 5,
                 embeddings=None):
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.model_path = model_path
        self.embeddings = embeddings or HuggingFaceEmbeddings(
            model_name=model_path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True})
        self.splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        self.bm25_preprocess = bm25_preprocess or whitespace_tokens
        self.k = k
        self.vectorstore = None
        self.bm25 = None
        self.timings: dict[str, float] = {}

    # --- ingest ----------------------------------------------------------------------------------
    @staticmethod
    def load(path: str | Path):
        from langchain_community.document_loaders import Docx2txtLoader, PyMuPDFLoader, TextLoader

        path = str(path)
        suffix = Path(path).suffix.lower()
        if suffix == ".pdf":
            loader = PyMuPDFLoader(path)
        elif suffix == ".docx":
            loader = Docx2txtLoader(path)
        else:
            loader = TextLoader(path, encoding="utf-8")
        return loader.load()

    def ingest(self, paths: Iterable[str | Path]) -> list:
        """Load, split, embed and index; returns the chunks. Per-stage seconds land in self.timings."""
        t0 = time.perf_counter()
        docs, failed = [], []
        for p in paths:
            try:
                docs.extend(self.load(p))
            except Exception as exc:  # a user's loop would skip the file too
                failed.append((str(p), f"{type(exc).__name__}: {exc}"))
        t1 = time.perf_counter()
        chunks = [c for c in self.splitter.split_documents(docs) if c.page_content.strip()]
        t2 = time.perf_counter()
        self.build(chunks)
        self.timings.update({"load_s": t1 - t0, "split_s": t2 - t1, "total_s": time.perf_counter() - t0})
        self.failed = failed
        return chunks

    def build(self, chunks: Sequence) -> None:
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS

        t0 = time.perf_counter()
        self.vectorstore = FAISS.from_documents(list(chunks), self.embeddings)
        t1 = time.perf_counter()
        self.bm25 = BM25Retriever.from_documents(list(chunks), preprocess_func=self.bm25_preprocess, k=self.k)
        self.timings.update({"embed_index_s": t1 - t0, "bm25_s": time.perf_counter() - t1})

    def build_from_vectors(self, texts: Sequence[str], vectors: np.ndarray,
                           tokens: Sequence[list[str]] | None = None, metadatas: Sequence[dict] | None = None) -> None:
        """Index precomputed vectors (FAISS.from_embeddings) and, when given, pre-tokenised texts for BM25.

        Pre-tokenised BM25 is `BM25Retriever(vectorizer=BM25Okapi(tokens), ...)` with the same
        preprocess_func for queries: exactly what `from_texts` builds, without paying jieba twice.
        """
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document

        t0 = time.perf_counter()
        self.vectorstore = FAISS.from_embeddings(zip(texts, (v for v in vectors)), self.embeddings,
                                                 metadatas=list(metadatas) if metadatas else None)
        t1 = time.perf_counter()
        self.timings["faiss_build_s"] = t1 - t0
        if tokens is not None:
            from rank_bm25 import BM25Okapi

            docs = [Document(page_content=t, metadata=(metadatas[i] if metadatas else {})) for i, t in enumerate(texts)]
            self.bm25 = BM25Retriever(vectorizer=BM25Okapi(tokens), docs=docs, k=self.k,
                                      preprocess_func=self.bm25_preprocess)
            self.timings["bm25_build_s"] = time.perf_counter() - t1

    # --- retrieve --------------------------------------------------------------------------------
    def retriever(self, mode: str, k: int | None = None):
        k = k or self.k
        if mode == "dense":
            return self.vectorstore.as_retriever(search_kwargs={"k": k})
        if mode == "sparse":
            self.bm25.k = k
            return self.bm25
        if mode == "hybrid":
            from langchain_classic.retrievers import EnsembleRetriever

            self.bm25.k = k
            return EnsembleRetriever(retrievers=[self.bm25, self.vectorstore.as_retriever(search_kwargs={"k": k})],
                                     weights=[0.5, 0.5])
        raise ValueError(f"unknown mode {mode!r}")

    def search(self, query: str, mode: str = "hybrid", k: int | None = None) -> list:
        return self.retriever(mode, k).invoke(query)[: (k or self.k)]

    def vector_bytes(self) -> int:
        return int(self.vectorstore.index.ntotal * self.vectorstore.index.d * 4) if self.vectorstore else 0
