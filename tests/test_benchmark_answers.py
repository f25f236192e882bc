"""`python -m benchmarks answers` plumbing on a generated document (hashing embedder, no real model):
both modes through eval-qa's loop, the subset spread, settings overrides, per-call token metering."""
from __future__ import annotations

from benchmarks.answers import Metered, _run_mode, apply_overrides, run, spread
from tests.app.test_eval_cli import qa_files


class CountingLLM:
    """Answers every question with the refund sentence copied without a number; counts characters as tokens."""

    name = "counting"

    def stream(self, messages, **params):
        yield from ["退款将在收到退货后", "十四天内原路退回。"]

    def count_tokens(self, messages):
        return sum(len(m["content"]) for m in messages)

    def count_text_tokens(self, text):
        return len(text)


def test_extractive_side_is_scored_like_eval_qa(tmp_path):
    doc, qs = qa_files(tmp_path, ids=("r1", "u1"))
    res = run("extractive", questions=qs, docs=[doc], overrides=["embedding.model=hashing"])
    assert [r["mode"] for r in res.rows] == ["extractive"]
    row = res.rows[0]
    assert (row["answered+cited"], row["refused"], row["answerable refused"]) == ("1/1", "1/1", 0)
    assert row["total p50 ms"] is not None and row["prompt tok p50"] is None


def test_a_metered_model_reports_prompt_tokens_and_the_citations_the_check_attached(tmp_path):
    from app.commands._common import settings
    from app.commands.eval_qa import qa_knowledge_base
    from app.qa_evaluation import load_qa

    doc, qs = qa_files(tmp_path, ids=("r1", "u1"))
    s = apply_overrides(settings(), ["embedding.model=hashing"])
    with qa_knowledge_base(s, [doc]) as kb:
        row, per_q = _run_mode(kb, load_qa(qs), s, Metered(CountingLLM()), "counting")
    assert row["answered+cited"] == "1/1" and row["refused"] == "1/1"  # the attached [n] made it count
    assert row["cites added"] == 1 and row["cites dropped"] == 0
    assert row["prompt tok p50"] > 50 and row["answer tok p50"] == len("退款将在收到退货后十四天内原路退回。")
    answered = next(q for q in per_q if q["id"] == "r1")
    assert answered["raw_output"].endswith("退回。") and answered["answer"].endswith("[1]")


def test_subset_is_spread_over_the_file_and_overrides_are_typed():
    assert spread(list(range(43)), 5) == [0, 10, 21, 32, 42] and spread([1, 2], None) == [1, 2]
    s = apply_overrides({"retrieval": {"top_k": 5}}, ["retrieval.top_k=8", "answer.x=null"])
    assert s == {"retrieval": {"top_k": 8}, "answer": {"x": None}}
