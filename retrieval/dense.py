"""Dense index over FAISS: IndexIDMap2 over inner product, flat or HNSW by size.

Vectors are L2-normalised by the embedders, so inner product is cosine. Below the HNSW threshold the
index is flat float32 (exact); at and above it the HNSW graph stores its vectors as `hnsw_storage`:
fp16 by default, half of float32's memory. Recall@10 against exact float32 on 2,000 real MiniLM vectors
of the eval passages and 300 real questions (`python -m benchmarks.vector_storage`): flat fp16 0.999,
flat int8 0.994, HNSW float32 0.996, HNSW fp16 0.995, HNSW int8 0.991 -- int8 (a quarter of the
memory) sits at the 0.99 floor, so it is a setting, not the default; on 6,309 real e5-small vectors
(`--chunks 8000 --model e5-small`) HNSW fp16 keeps 0.997 and int8 falls to 0.986. A flat index of `flat_fp16_from`
(50k) vectors or more stores fp16 too: a flat search is a scan of every vector, so half the bytes made
one query at 100k take 2.9 ms instead of 7.1 (one thread); smaller KBs stay exact float32. Builds stream (DenseBuilder): vectors are added
batch by batch, never held twice. A single query searches with one OpenMP thread: at 100k vectors one
flat search took 5.4 ms on one thread and 14.3 ms on two (thread start-up beats the work it splits).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DenseSettings:
    hnsw_threshold: int = 200_000  # flat below, HNSW at or above this many vectors
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    use_gpu: bool | None = None  # None = when faiss-gpu and a CUDA device are present
    hnsw_storage: str = "fp16"  # how HNSW stores vectors: float32, fp16 or int8 (scalar quantiser)
    flat_fp16_from: int = 50_000  # a flat index of at least this many vectors stores fp16 (exact float32 below)


STORAGES = {"float32": None, "fp16": "QT_fp16", "int8": "QT_8bit"}
TRAIN_SAMPLE = 65_536  # vectors the int8 quantiser learns its per-dimension ranges from


def _threads_for(n_queries: int) -> int:
    """One thread for a single query; the process's cores for a batch (see the module docstring)."""
    from retrieval.threads import cpu_threads

    return 1 if n_queries <= 1 else cpu_threads()


def _new_inner(dim: int, count: int, settings: DenseSettings) -> faiss.Index:
    layout = planned_layout(count, settings)
    if layout == "flat-fp16":  # half the bytes to scan: 2.9 vs 7.1 ms a query at 100k, recall 0.999
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    if layout == "flat-float32":
        return faiss.IndexFlatIP(dim)
    kind = STORAGES.get(settings.hnsw_storage, "unknown")
    if kind == "unknown":
        raise ValueError(f"unknown HNSW vector storage {settings.hnsw_storage!r}; choose one of {', '.join(STORAGES)}")
    if kind is None:
        inner = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    else:
        inner = faiss.IndexHNSWSQ(dim, getattr(faiss.ScalarQuantizer, kind), settings.hnsw_m,
                                  faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = settings.ef_construction
    return inner


def planned_layout(count: int, settings: DenseSettings) -> str:
    """The vector layout `count` vectors get under `settings`, as layout_of names it: the one decision
    `_new_inner` builds from and caches.load checks a saved index against."""
    if count < settings.hnsw_threshold:
        return "flat-fp16" if count >= settings.flat_fp16_from else "flat-float32"
    return f"hnsw-{settings.hnsw_storage}-m{settings.hnsw_m}"


def _storage_name(index: faiss.Index) -> str:
    """float32, or the STORAGES name of a scalar quantiser's type (fp16, int8)."""
    if not isinstance(index, faiss.IndexScalarQuantizer):
        return "float32"
    qtype = index.sq.qtype
    return next((name for name, attr in STORAGES.items() if attr and getattr(faiss.ScalarQuantizer, attr) == qtype),
                f"sq{qtype}")


def layout_of(index: faiss.Index) -> str:
    """How a built index stores its vectors (flat-float32, flat-fp16, hnsw-fp16-m32, ...): what a cache was
    built as, so a changed setting (hnsw_threshold, flat_fp16_from, hnsw_storage, hnsw_m) is noticed."""
    inner = faiss.downcast_index(index.index if hasattr(index, "index") else index)
    if isinstance(inner, faiss.IndexHNSW):
        return f"hnsw-{_storage_name(faiss.downcast_index(inner.storage))}-m{inner.hnsw.nb_neighbors(1)}"
    if isinstance(inner, (faiss.IndexScalarQuantizer, faiss.IndexFlat)):
        return f"flat-{_storage_name(inner)}"
    return type(inner).__name__


class DenseBuilder:
    """A DenseIndex fed in batches: flat or HNSW chosen by the expected count, a quantiser trained on the
    first TRAIN_SAMPLE vectors (held until then), every other vector going straight into FAISS."""

    def __init__(self, dim: int, expected: int, settings: DenseSettings = DenseSettings()):
        if dim <= 0:
            raise ValueError("cannot build a dense index without a dimension")
        self.dim, self.settings = dim, settings
        self.index = faiss.IndexIDMap2(_new_inner(dim, expected, settings))
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_n = 0

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return
        if self.index.is_trained:
            self.index.add_with_ids(vectors, ids)
            return
        self._pending.append((ids, vectors))
        self._pending_n += len(ids)
        if self._pending_n >= TRAIN_SAMPLE:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        vectors = np.concatenate([v for _, v in self._pending])
        ids = np.concatenate([i for i, _ in self._pending])
        self._pending, self._pending_n = [], 0
        if not self.index.is_trained:
            self.index.train(vectors)
        self.index.add_with_ids(vectors, ids)

    def finish(self) -> "DenseIndex":
        self._flush()
        return DenseIndex(self.index, self.dim, self.settings)


def _gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and getattr(faiss, "get_num_gpus", lambda: 0)() > 0


class DenseIndex:
    def __init__(self, index: faiss.Index, dim: int, settings: DenseSettings = DenseSettings()):
        self.cpu_index = index
        self.dim = dim
        self.settings = settings
        self._search_index = index
        self._present: set[int] | None = None  # ids in the index, for search_within (built on first use)
        self._set_ef()
        if settings.use_gpu or (settings.use_gpu is None and _gpu_available()):
            self._to_gpu()

    def _set_ef(self) -> None:
        inner = faiss.downcast_index(self.cpu_index.index) if hasattr(self.cpu_index, "index") else None
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = self.settings.ef_search

    def _to_gpu(self) -> None:
        try:
            inner = faiss.downcast_index(self.cpu_index.index)
            if isinstance(inner, faiss.IndexFlat):
                self._res = faiss.StandardGpuResources()
                self._search_index = faiss.index_cpu_to_gpu(self._res, 0, self.cpu_index)
                log.info("dense index on GPU")
        except Exception as exc:  # GPU is an optimisation, never a failure
            log.warning("could not move FAISS index to GPU, staying on CPU: %s", exc)
            self._search_index = self.cpu_index

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, settings: DenseSettings = DenseSettings(),
              dim: int | None = None) -> "DenseIndex":
        vectors = np.asarray(vectors, dtype=np.float32)
        dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[0] else int(dim or 0)
        builder = DenseBuilder(dim, len(ids), settings)
        builder.add(ids, vectors)
        return builder.finish()

    def __len__(self) -> int:
        return int(self.cpu_index.ntotal)

    def sample_vectors(self, limit: int = 1000) -> np.ndarray | None:
        """Up to `limit` stored vectors, evenly spaced over the index (None when empty or the index type
        cannot give its vectors back); memoised, since an index is never changed after it is built.

        What a cosine means depends on the model and the corpus (e5-small puts unrelated Chinese passages
        at ~0.83, USE near 0.1; a corpus of one statute sits higher than a mixed one). Adaptive fusion
        reads the dense model's confidence as its top hit's standing against this query's similarities
        to a sample of the corpus, which needs no calibration per model or corpus."""
        if getattr(self, "_sample", False) is not False:
            return self._sample
        n = len(self)
        inner = faiss.downcast_index(self.cpu_index.index) if hasattr(self.cpu_index, "index") else self.cpu_index
        sample = None
        if n:
            try:
                positions = np.unique(np.linspace(0, n - 1, num=min(n, limit), dtype=np.int64))
                sample = np.vstack([inner.reconstruct(int(i)) for i in positions]).astype(np.float32)
            except RuntimeError as exc:  # an index type that cannot give its vectors back
                log.debug("no vector sample for this index: %s", exc)
        self._sample = sample
        return sample

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of `ids` (rows in that order), or None when the index cannot give them
        back; what pseudo-relevance feedback (retrieval.retriever) moves the query towards."""
        try:
            return np.vstack([self.cpu_index.reconstruct(int(i)) for i in ids]).astype(np.float32)
        except (RuntimeError, ValueError) as exc:
            log.debug("no vectors for feedback: %s", exc)
            return None

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k (id, inner product) for one query vector."""
        return self.search_many(np.asarray(query, dtype=np.float32).reshape(1, -1), k)[0]

    def search_within(self, query: np.ndarray, k: int, ids: Sequence[int]) -> list[tuple[int, float]]:
        """Top-k among `ids` only (a question limited to some documents): exact inner products over those
        vectors, so a small subset is never starved by a top-k taken over the whole index first."""
        if len(self) == 0:
            return []
        present = self._present
        if present is None:  # ids in the index (a snapshot may predate the newest rows)
            present = self._present = set(faiss.vector_to_array(self.cpu_index.id_map).tolist())
        ids = np.asarray(sorted({int(i) for i in ids} & present), dtype=np.int64)
        if ids.size == 0:
            return []
        vecs = np.vstack([self.cpu_index.reconstruct(int(i)) for i in ids]).astype(np.float32)
        s = vecs @ np.asarray(query, dtype=np.float32).reshape(-1)
        order = np.lexsort((ids, -s))[:k]
        return [(int(ids[i]), float(s[i])) for i in order]

    def search_many(self, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        if len(self) == 0:
            return [[] for _ in range(len(queries))]
        k = min(k, len(self))
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        before = faiss.omp_get_max_threads()
        threads = _threads_for(len(queries))
        if threads != before:
            faiss.omp_set_num_threads(threads)
        try:
            scores, ids = self._search_index.search(queries, k)
        finally:
            if threads != before:
                faiss.omp_set_num_threads(before)
        return [[(i, s) for i, s in zip(row_ids, row_s) if i != -1]
                for row_ids, row_s in zip(ids.tolist(), scores.tolist())]

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename). FAISS's own file writer is bypassed: it reports a full
        disk as a RuntimeError, or for a small index not at all (its fclose error goes to stderr and a cut
        short file would be renamed into place); through a Python file every failed write is an OSError."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                writer = faiss.PyCallbackIOWriter(fh.write, 1 << 20)
                faiss.write_index(self.cpu_index, writer)
                del writer
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, settings: DenseSettings = DenseSettings()) -> "DenseIndex":
        index = faiss.read_index(str(path))
        return cls(index, index.d, settings)
