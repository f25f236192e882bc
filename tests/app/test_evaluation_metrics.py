import json
import math

import pytest

from app.evaluation import (DatasetError, dedupe, load_dataset, mrr_at, ndcg_at, recall_at, score_mode,
                            write_passages)


def test_recall_counts_share_of_gold_found_in_top_k():
    assert recall_at(["a", "b", "c"], {"b"}, 1) == 0.0
    assert recall_at(["a", "b", "c"], {"b"}, 2) == 1.0
    assert recall_at(["a", "b", "c"], {"b", "z"}, 3) == 0.5


def test_mrr_is_reciprocal_rank_of_first_gold_within_cutoff():
    assert mrr_at(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert mrr_at(["a"] * 10 + ["g"], {"g"}, 10) == 0.0


def test_ndcg_is_one_for_perfect_ranking_and_discounts_lower_ranks():
    assert ndcg_at(["g", "x"], {"g"}) == 1.0
    assert ndcg_at(["x", "g"], {"g"}) == pytest.approx(1 / math.log2(3))


def test_dedupe_keeps_best_rank_of_each_passage():
    assert dedupe(["p1", "p2", "p1", "p3"]) == ["p1", "p2", "p3"]


def test_score_mode_skips_queries_without_gold(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"id": i, "title": "", "text": t}) for i, t in [("p1", "甲"), ("p2", "乙")]),
        encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "question": "甲?", "answers": ["甲"], "gold_ids": ["p1"]},
        {"id": "q2", "question": "无", "answers": [], "gold_ids": []},
    ]), encoding="utf-8")
    ds = load_dataset(tmp_path)
    calls = []

    def search(q, depth):
        calls.append(q)
        return ["p2", "p1"]

    scores = score_mode(ds.queries, search, ks=(1, 5))
    assert calls == ["甲?"]
    assert scores["recall@1"] == 0.0 and scores["recall@5"] == 1.0 and scores["mrr@10"] == 0.5


def test_load_dataset_names_the_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="corpus.jsonl"):
        load_dataset(tmp_path)


def test_write_passages_maps_files_back_to_ids(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"id": "a/b", "title": "T", "text": "x"}), encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text("", encoding="utf-8")
    mapping = write_passages(load_dataset(tmp_path), tmp_path / "out")
    assert mapping == {"a_b.txt": "a/b"}
    assert (tmp_path / "out" / "a_b.txt").read_text(encoding="utf-8") == "T\n\nx\n"
