"""A knowledge base's documents, chunks, vectors and manifest in Milvus, so that
several Zhida processes (on several machines) pointed at one Milvus URI share it.

Two collections per KB (`<base>` from the KB name):
- `<base>_meta`: one row per document (key `doc:<path>`, the document row as
  JSON) and one `manifest` row. Milvus wants a vector field in every collection,
  so it carries a 2-dim placeholder.
- `<base>_chunks`: one row per chunk: text, heading path, page span, its article
  (`unit`, and `parent`: the whole article when the chunk is a piece; collections
  created before these fields are used without them), the dense
  vector (FLAT index, inner product = cosine on normalised vectors) and a BM25
  sparse vector that Milvus computes itself (full-text search, Milvus 2.5+) from
  `terms`: the chunk's tokens from Zhida's own tokenizer (jieba, Traditional
  folded to Simplified, stopwords), each written as a hex hash word. The server's
  analyzer then only splits on spaces, so tokenisation is identical on Milvus
  Lite and a Milvus server and needs no jieba on the server.
  On a Milvus server older than 2.5 (no BM25 function, no sparse vectors; found by
  its version when the collection is created, by its fields after) the chunks
  collection keeps `terms` as plain text and no sparse field: dense search stays in
  Milvus and Zhida computes the same BM25 (its own BM25Index over those hashed
  terms, rebuilt in each process when another write shows) -- a fallback that reads
  every chunk's terms once per change, fine for the KBs a 2.3/2.4 server holds.

Milvus has no transactions. A changed document is written as: insert its new
chunks under a fresh `version`, upsert its row naming that version, then delete
its chunks of any other version. A crash in between leaves both versions
searchable until the next ingest of that file removes the stale one; every
collection is created with Strong consistency so a write is visible to the
next read from any process.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np

from knowledge.db import DocumentRow
from knowledge.errors import KBError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
NATIVE_BM25_SINCE = (2, 5)  # the BM25 function and sparse vectors; older servers get Zhida's own BM25
MAX_VARCHAR = 65535
_PLACEHOLDER = [0.0, 0.0]
_CHUNK_FIELDS = ["chunk_id", "path", "text", "page", "page_end", "heading"]
# The article a chunk belongs to (ingest.Chunk.unit / parent_text). Only collections created since
# carry these fields; an older collection is read and written without them (no parent text).
_PARENT_FIELDS = ["unit", "parent"]


class MilvusUnavailable(KBError):
    pass


def require_pymilvus():
    try:
        import pymilvus
    except ImportError as exc:
        raise MilvusUnavailable("the milvus store needs pymilvus (and milvus-lite for a local .db file): "
                                "pip install -e .[milvus]") from exc
    return pymilvus


def collection_base(kb_name: str, prefix: str = "zhida_") -> str:
    """A Milvus-legal collection name (letters, digits, _) for a KB name that may hold Chinese or '-'."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", kb_name)[:80]
    if clean != kb_name:
        clean += "_" + hashlib.blake2b(kb_name.encode("utf-8"), digest_size=4).hexdigest()
    return prefix + clean


def normalise_uri(uri: str) -> str:
    """http(s)://host:port (a server) stays; anything else is a local Milvus Lite file, which must end in .db."""
    if re.match(r"^(https?|tcp|unix)://", uri):
        return uri
    path = Path(uri.removeprefix("file://")).expanduser().resolve()
    if path.suffix != ".db":
        raise KBError(f"a local Milvus Lite URI must be a file ending in .db (got {uri!r}); use "
                      "http://host:19530 for a Milvus server")
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def term_word(token: str) -> str:
    """A token as one ASCII word that every Milvus analyzer keeps whole (48-bit hash)."""
    return "t" + hashlib.blake2b(token.encode("utf-8"), digest_size=6).hexdigest()


def terms_text(tokens: Sequence[str]) -> str:
    return " ".join(term_word(t) for t in tokens)


def doc_key(path: str) -> str:
    return hashlib.blake2b(path.encode("utf-8"), digest_size=10).hexdigest()


def doc_id(path: str) -> int:
    """A document id that every process derives alike from the path (what `kb show` lists)."""
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8"), digest_size=6).digest(), "big")


def _clip(text: str, limit: int = MAX_VARCHAR) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def _row_to_doc(value: str) -> DocumentRow:
    d = json.loads(value)
    return DocumentRow(id=doc_id(d["path"]), path=d["path"], name=d["name"], root=d.get("root"),
                       sha256=d.get("sha256"), size=d.get("size"), mtime=d.get("mtime"), status=d["status"],
                       error_kind=d.get("error_kind"), error=d.get("error"), warnings=d.get("warnings") or [],
                       format=d.get("format"), pages=d.get("pages"), chunks=int(d.get("chunks") or 0),
                       added_at=float(d.get("added_at") or 0), updated_at=float(d.get("updated_at") or 0),
                       parsers=d.get("parsers"))


class MilvusStore:
    """The Milvus side of one KB; implements knowledge.syncing.DocStore."""

    def __init__(self, uri: str, kb_name: str, *, token: str | None = None, collection: str | None = None,
                 tokenizer=None):
        pymilvus = require_pymilvus()
        self.tokenizer = tokenizer  # text -> tokens for BM25; set by the knowledge base before writing
        self.uri = normalise_uri(uri)
        self.base = collection or collection_base(kb_name)
        self.meta = f"{self.base}_meta"
        self.chunks = f"{self.base}_chunks"
        for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.orm.iterator"):
            logging.getLogger(name).setLevel(logging.ERROR)  # query_iterator warns on every Lite call
        if not self.uri.startswith(("http://", "https://", "tcp://", "unix://")):
            # Milvus Lite's in-process gRPC server lacks AllocTimestamp, which query_iterator asks for
            # first (it falls back to a client-side timestamp); grpc logs that as an error each time
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            self.client = pymilvus.MilvusClient(uri=self.uri, token=token or "")
        except Exception as exc:
            hint = ""
            if not self.uri.startswith(("http://", "https://", "tcp://", "unix://")):
                hint = ("; Milvus Lite lets one process at a time open a file (is `zhida serve` or an ingest using "
                        f"it?). To share it, run `python -m milvus_lite server --data-dir {self.uri}` or a Milvus "
                        "server and use its http:// URI")
            raise KBError(f"cannot open Milvus at {uri}: {type(exc).__name__}: {str(exc)[:200]}{hint}") from exc
        self._dim: int | None = None
        self._parent: bool | None = None  # does the chunks collection have _PARENT_FIELDS?
        self._native: bool | None = None  # does Milvus compute BM25 itself (2.5+), or Zhida (below)?
        self._bm25 = None  # (chunk count, newest pk, BM25Index over the pks) when Zhida computes BM25

    # --- what the server can do
    def server_version(self) -> tuple[int, ...] | None:
        """The server's (major, minor, patch), or None when it does not say (Milvus Lite files)."""
        try:
            found = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(self.client.get_server_version()))
        except Exception:
            return None
        return tuple(int(g or 0) for g in found.groups()) if found else None

    def native_bm25(self) -> bool:
        """Whether Milvus runs BM25 itself (the BM25 function and sparse vectors came in Milvus 2.5). An
        existing chunks collection says by its fields; otherwise the server version does."""
        if self._native is None:
            if self.client.has_collection(self.chunks):
                fields = self.client.describe_collection(self.chunks).get("fields", [])
                self._native = any(f.get("name") == "sparse" for f in fields)
            else:
                version = self.server_version()
                self._native = version is None or version >= NATIVE_BM25_SINCE
                if not self._native:
                    log.info("Milvus %s at %s has no BM25 function (2.5+): Zhida computes BM25 over the chunks' "
                             "terms itself", ".".join(map(str, version)), self.uri)
        return self._native

    # --- collections
    def exists(self) -> bool:
        return bool(self.client.has_collection(self.meta))

    def ensure_loaded(self) -> None:
        """Load the KB's collections if the server holds them released: a restarted Milvus 2.3 server comes
        back with every collection unloaded, and each query then fails with "collection not loaded"."""
        for name in (self.meta, self.chunks):
            if not self.client.has_collection(name):
                continue
            try:
                state = str(self.client.get_load_state(name).get("state", ""))
            except Exception:  # a server that cannot say: queries will tell
                continue
            if state.split(".")[-1] != "Loaded":  # NotLoad, or still Loading: load_collection waits for it
                log.info("Milvus collection %s at %s was not loaded (server restarted?); loading it", name, self.uri)
                self.client.load_collection(name)

    def create(self, manifest: dict) -> dict:
        """Create the KB's collections with this manifest, or attach to the ones already there (their manifest wins)."""
        from pymilvus import DataType

        if self.exists():
            self.ensure_loaded()
            return self.read_manifest()
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=8192)
        schema.add_field("kind", DataType.VARCHAR, max_length=16)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
        index = self.client.prepare_index_params()
        index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.meta, schema=schema, index_params=index, consistency_level="Strong")
        full = {"schema_version": SCHEMA_VERSION, "generation": 0, "created_at": time.time(), **manifest}
        self.set_manifest(full)
        return full

    def ensure_chunks(self, dim: int) -> None:
        """The chunks collection, created once the dimension is known (the first embedding)."""
        from pymilvus import DataType, Function, FunctionType

        if self._dim == dim or self.client.has_collection(self.chunks):
            self._dim = dim
            return
        schema = self.client.create_schema(auto_id=True, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("chunk_id", DataType.VARCHAR, max_length=128)
        schema.add_field("doc", DataType.VARCHAR, max_length=32)  # doc_key(path): filters stay ASCII
        schema.add_field("version", DataType.VARCHAR, max_length=32)
        schema.add_field("path", DataType.VARCHAR, max_length=8192)
        schema.add_field("position", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("heading", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("page", DataType.INT64)  # -1 = none
        schema.add_field("page_end", DataType.INT64)
        schema.add_field("span", DataType.VARCHAR, max_length=1024)  # section, char start/end, kind as JSON
        schema.add_field("unit", DataType.VARCHAR, max_length=256)  # "" for prose
        schema.add_field("parent", DataType.VARCHAR, max_length=MAX_VARCHAR)  # the whole article of a piece, or ""
        native = self.native_bm25()
        if native:
            schema.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
                             analyzer_params={"tokenizer": "standard"})
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        else:  # Milvus < 2.5: the terms are stored, and Zhida's BM25 runs over them (search_sparse)
            schema.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=int(dim))
        if native:
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                         output_field_names=["sparse"]))
        index = self.client.prepare_index_params()
        index.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
        if native:  # the k1/b of Zhida's own BM25 (retrieval.sparse.K1/B), so both stores rank alike
            from retrieval.sparse import B as BM25_B
            from retrieval.sparse import K1 as BM25_K1

            index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                            params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
        try:
            self.client.create_collection(self.chunks, schema=schema, index_params=index, consistency_level="Strong")
        except Exception as exc:
            if self.client.has_collection(self.chunks):  # another process created it first
                self._dim = dim
                return
            if "bm25" in str(exc).lower() or "function" in str(exc).lower():
                raise KBError(f"the Milvus server at {self.uri} cannot run BM25 full-text search ({exc}); "
                              "Zhida's milvus store needs Milvus 2.5 or newer") from exc
            raise
        self._dim = dim

    def flush(self) -> None:
        """Seal what was just written: Milvus Lite otherwise re-indexes unsealed rows on every search."""
        for name in (self.meta, self.chunks):
            if self.client.has_collection(name):
                self.client.flush(name)

    def drop(self) -> None:
        self._dim = None
        self._parent = None
        self._native = None
        self._bm25 = None
        for name in (self.chunks, self.meta):
            if self.client.has_collection(name):
                self.client.drop_collection(name)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass

    # --- manifest
    def read_manifest(self) -> dict:
        rows = self.client.get(self.meta, ids=["manifest"], output_fields=["value"])
        if not rows:
            raise KBError(f"Milvus collection {self.meta} at {self.uri} holds no Zhida manifest")
        return json.loads(rows[0]["value"])

    def set_manifest(self, manifest: dict) -> None:
        self.client.upsert(self.meta, [{"key": "manifest", "kind": "manifest", "placeholder": _PLACEHOLDER,
                                        "value": json.dumps(manifest, ensure_ascii=False)}])

    # --- documents (knowledge.syncing.DocStore)
    def _all(self, collection: str, filter_: str, fields: list[str]) -> list[dict]:
        it = self.client.query_iterator(collection, batch_size=1000, filter=filter_, output_fields=fields)
        out: list[dict] = []
        try:
            while True:
                batch = it.next()
                if not batch:
                    break
                out.extend(batch)
        finally:
            it.close()
        return out

    def documents(self) -> list[DocumentRow]:
        rows = self._all(self.meta, 'kind == "doc"', ["value"])
        return sorted((_row_to_doc(r["value"]) for r in rows), key=lambda d: d.path)

    def document_by_path(self, path: str) -> DocumentRow | None:
        rows = self.client.get(self.meta, ids=[f"doc:{path}"], output_fields=["value"])
        return _row_to_doc(rows[0]["value"]) if rows else None

    def document_by_id(self, id_: int) -> DocumentRow | None:
        return next((d for d in self.documents() if d.id == id_), None)

    def _put_doc(self, values: dict) -> None:
        old = self.client.get(self.meta, ids=[f"doc:{values['path']}"], output_fields=["value"])
        now = time.time()
        values = {"added_at": json.loads(old[0]["value"]).get("added_at", now) if old else now, "updated_at": now,
                  **values}
        self.client.upsert(self.meta, [{"key": f"doc:{values['path']}", "kind": "doc", "placeholder": _PLACEHOLDER,
                                        "value": _clip(json.dumps(values, ensure_ascii=False))}])

    def touch(self, doc: DocumentRow, size: int, mtime: float) -> None:
        rows = self.client.get(self.meta, ids=[f"doc:{doc.path}"], output_fields=["value"])
        if rows:
            values = json.loads(rows[0]["value"]) | {"size": size, "mtime": mtime}
            self.client.upsert(self.meta, [{"key": f"doc:{doc.path}", "kind": "doc", "placeholder": _PLACEHOLDER,
                                            "value": json.dumps(values, ensure_ascii=False)}])

    def stored_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not chunk_ids or not self.client.has_collection(self.chunks):
            return {}
        out: dict[str, np.ndarray] = {}
        ids = list(dict.fromkeys(chunk_ids))
        for start in range(0, len(ids), 200):
            part = ids[start:start + 200]
            rows = self.client.query(self.chunks, filter=f"chunk_id in {json.dumps(part)}",
                                     output_fields=["chunk_id", "dense"], limit=len(part) * 4)
            for r in rows:
                out[r["chunk_id"]] = np.asarray(r["dense"], dtype=np.float32)
        return out

    def _delete_chunks(self, path: str, keep_version: str | None = None) -> None:
        if not self.client.has_collection(self.chunks):
            return
        f = f'doc == "{doc_key(path)}"' + (f' and version != "{keep_version}"' if keep_version else "")
        self.client.delete(self.chunks, filter=f)

    def write_failed(self, *, path, name, root, sha256, size, mtime, error_kind, error, parsers) -> None:
        self._delete_chunks(path)
        self._put_doc({"path": path, "name": name, "root": root, "sha256": sha256, "size": size, "mtime": mtime,
                       "status": "failed", "error_kind": error_kind, "error": error, "warnings": [], "chunks": 0,
                       "parsers": parsers})

    def write_document(self, *, path, name, root, sha256, size, mtime, warnings, fmt, pages, chunks,
                       vectors) -> None:
        version = uuid.uuid4().hex
        if len(chunks):
            self.ensure_chunks(int(vectors.shape[1]))
            key = doc_key(path)
            rows = [{"chunk_id": c.id, "doc": key, "version": version, "path": _clip(path, 8192),
                     "position": int(c.position), "text": _clip(c.text),
                     "heading": _clip(json.dumps(list(c.heading_path), ensure_ascii=False)),
                     "page": -1 if c.page is None else int(c.page),
                     "page_end": -1 if c.page_end is None else int(c.page_end),
                     "span": json.dumps([c.section_index, c.char_start, c.char_end, c.kind,
                                         c.parent_start, c.parent_end]),
                     **({"unit": _clip(c.unit, 256), "parent": _clip(c.parent_text)} if self.has_parent_fields()
                        else {}),
                     "terms": _clip(self.terms_for(c.text, c.heading_path)),
                     "dense": np.asarray(vectors[i], dtype=np.float32).tolist()} for i, c in enumerate(chunks)]
            for start in range(0, len(rows), 500):
                self.client.insert(self.chunks, rows[start:start + 500])
        self._put_doc({"path": path, "name": name, "root": root, "sha256": sha256, "size": size, "mtime": mtime,
                       "status": "ok", "warnings": list(warnings), "format": fmt, "pages": pages,
                       "chunks": len(chunks), "version": version})
        self._delete_chunks(path, keep_version=version)

    def terms_for(self, text: str, heading_path: Sequence[str]) -> str:
        """What BM25 indexes, as for the local store: heading path + text, through Zhida's tokenizer."""
        heading = " ".join(heading_path)
        return terms_text(self.tokenizer(f"{heading}\n{text}" if heading else text))

    def delete_document(self, doc: DocumentRow) -> None:
        self._delete_chunks(doc.path)
        self.client.delete(self.meta, ids=[f"doc:{doc.path}"])

    def has_parent_fields(self) -> bool:
        if self._parent is None:
            if not self.client.has_collection(self.chunks):
                return True  # ensure_chunks will create them
            fields = self.client.describe_collection(self.chunks).get("fields", [])
            self._parent = all(any(f.get("name") == name for f in fields) for name in _PARENT_FIELDS)
        return self._parent

    def _chunk_fields(self) -> list[str]:
        return _CHUNK_FIELDS + (_PARENT_FIELDS if self.has_parent_fields() else [])

    # --- reading
    def count_chunks(self) -> int:
        if not self.client.has_collection(self.chunks):
            return 0
        rows = self.client.query(self.chunks, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def search_dense(self, vector: np.ndarray, k: int) -> list[tuple[int, float, dict]]:
        if not self.client.has_collection(self.chunks):
            return []
        res = self.client.search(self.chunks, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                 anns_field="dense", limit=k, search_params={"metric_type": "IP"},
                                 output_fields=self._chunk_fields())
        return [(_pk(h), float(h["distance"]), h["entity"]) for h in res[0]]

    def search_sparse(self, terms: str, k: int) -> list[tuple[int, float, dict]]:
        if not terms or not self.client.has_collection(self.chunks):
            return []
        if not self.native_bm25():
            return self._search_sparse_here(terms, k)
        res = self.client.search(self.chunks, data=[terms], anns_field="sparse", limit=k,
                                 search_params={"metric_type": "BM25"}, output_fields=self._chunk_fields())
        # Milvus servers report the BM25 score as the distance; Milvus Lite 3.x reports minus the score
        hits = [(_pk(h), abs(float(h["distance"])), h["entity"]) for h in res[0]]
        hits.sort(key=lambda x: (-x[1], x[0]))
        return hits


    def _local_bm25(self):
        """Zhida's BM25Index over every chunk's stored terms (Milvus < 2.5), rebuilt when another write
        shows: a changed chunk count, or a chunk newer than the newest indexed (every write inserts new
        chunks, auto ids grow). Two small queries per search; the rebuild reads only pk and terms."""
        count = self.count_chunks()
        cached = self._bm25
        if cached is not None and cached[0] == count and not self.client.query(
                self.chunks, filter=f"pk > {cached[1]}", output_fields=["pk"], limit=1):
            return cached[2]
        from retrieval.sparse import BM25Index

        rows = sorted(self._all(self.chunks, "pk >= 0", ["pk", "terms"]), key=lambda r: int(r["pk"]))
        pks = np.fromiter((int(r["pk"]) for r in rows), dtype=np.int64, count=len(rows))
        index = BM25Index.build(pks, [r["terms"].split() for r in rows])
        self._bm25 = (len(rows), int(pks[-1]) if len(pks) else -1, index)
        return index

    def _search_sparse_here(self, terms: str, k: int) -> list[tuple[int, float, dict]]:
        """BM25 as Milvus 2.5 would give it, computed by Zhida: the same hashed terms, k1 and b."""
        ranked = self._local_bm25().search_tokens(terms.split(), k)
        if not ranked:
            return []
        rows = self.client.get(self.chunks, ids=[pk for pk, _ in ranked], output_fields=self._chunk_fields())
        by_pk = {_pk(r): r for r in rows}
        return [(pk, score, by_pk[pk]) for pk, score in ranked if pk in by_pk]


def _pk(hit: dict) -> int:
    return int(hit["pk"] if "pk" in hit else hit["id"])
