"""Settings the knowledge layer takes as plain frozen values (only the app reads config files)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ingest.chunking import CHUNKER_VERSION
from ingest.types import ChunkSettings


@dataclass(frozen=True)
class IndexSettings:
    """Index-level: baked into a KB's manifest; changing them needs --rebuild."""

    embedding_model: str = "e5-small"
    chunk: ChunkSettings = field(default_factory=ChunkSettings)

    def as_manifest(self) -> dict:
        # "chunker" says which chunking rules (ingest.chunking.CHUNKER_VERSION) made the KB's chunks.
        # It is a record, never a check: a KB from an older chunker opens and ingests as before, its
        # new and changed files get the current rules (a KB without the key predates version 2).
        return {"embedding_model": self.embedding_model, "chunking": asdict(self.chunk), "chunker": CHUNKER_VERSION}

    def new_kb_manifest(self) -> dict:
        """The manifest a new (or rebuilt) KB starts with: the settings plus how its text is tokenised.

        A KB without the `tokenizer` fact predates English stemming and keeps tokenising without it, so
        the BM25 terms a Milvus KB stored at ingest still meet its queries."""
        return self.as_manifest() | {"tokenizer": dict(NEW_KB_TOKENIZER)}


# Tokenizer facts baked into KBs created from now on (read back by KnowledgeBaseCore.tokenizer).
NEW_KB_TOKENIZER = {"stem_english": True}


@dataclass(frozen=True)
class QuerySettings:
    """Query-level: change freely."""

    k: int = 5
    mode: str = "hybrid"
    candidates: int = 50
    fusion: str = "adaptive"
    rrf_k: int = 60
    dense_weight: float = 0.1
    rerank: bool = False
    reranker: str = "BAAI/bge-reranker-base"
    rerank_top_n: int = 20
    hnsw_threshold: int = 200_000
    jieba_user_dict: str | None = None
    # (embedding model id, dense confidence at which BM25 takes over in adaptive fusion); a model not
    # named gets retrieval.fusion.ShareGate's own (fitted with e5-small). See configs/default.yaml.
    fusion_confidence_mid: tuple[tuple[str, float], ...] = ()
    # pseudo-relevance feedback of the dense query (retrieval.retriever.feedback_query): how many first
    # dense hits the query vector moves towards (0 = off) and how far
    feedback_docs: int = 0
    feedback_weight: float = 0.5
    # BM25 query terms weighted by their idf in Chinese at large (retrieval.term_weights); local stores only
    weigh_query_terms: bool = True

    def confidence_mid_for(self, model_id: str) -> float | None:
        return dict(self.fusion_confidence_mid).get(model_id)


@dataclass(frozen=True)
class IngestSettings:
    max_file_bytes: int = 200 * 1024 * 1024
    ocr: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = (".*", "~$*", "*.tmp")
    lock_timeout_s: float = 10.0
    # read symbolic links whose target lies outside the folders being ingested (off: skipped with a reason)
    follow_links: bool = False
    # parsers run in a worker process with these limits (ingest.isolated); off = in-process, for debugging
    isolate_parsers: bool = True
    parser_timeout_s: float = 300.0
    parser_memory_mb: int = 2048


@dataclass(frozen=True)
class StoreSettings:
    """Where a new KB keeps its data: "local" (kb.sqlite + FAISS/BM25) or "milvus" at `uri`
    (a local Milvus Lite file ending in .db, or http://host:19530). The token is never written to disk."""

    backend: str = "local"
    uri: str | None = None
    token: str | None = None
