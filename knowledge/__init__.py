"""Knowledge bases on disk: kb.sqlite as the source of truth, FAISS/BM25 caches,
incremental sync, per-KB writer lock. Built on `ingest` and `retrieval`; knows
nothing of the app or its config files.
"""
from knowledge.base import KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.errors import (DocumentNotFound, InvalidName, KBBusy, KBDamaged, KBError, KBExists, KBNotFound,
                              SchemaError, SettingsMismatch)
from knowledge.settings import IndexSettings, IngestSettings, QuerySettings, StoreSettings
from knowledge.types import FileResult, RetrievedChunk, SyncReport

__all__ = ["Catalog", "DocumentNotFound", "FileResult", "IndexSettings", "IngestSettings", "InvalidName", "KBBusy",
           "KBDamaged", "KBError", "KBExists", "KBNotFound", "KnowledgeBase", "QuerySettings", "RetrievedChunk",
           "SchemaError", "SettingsMismatch", "StoreSettings", "SyncReport"]
