"""`zhida eval` over several sets at once and `zhida eval-qa` scoring, on tiny generated sets (hashing embedder)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import _register_commands, cli
from app.qa_evaluation import QAItem, is_correct, squash

_register_commands()  # what main() does before dispatching
runner = CliRunner(env={"COLUMNS": "300"})  # error boxes on one line


def _write_set(folder, passages, queries):
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in passages),
                                         encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries),
                                          encoding="utf-8")


def _two_sets(root):
    _write_set(root / "sets" / "zh", [
        {"id": "p1", "title": "长城", "text": "长城是中国古代的军事防御工程，总长度超过两万公里。"},
        {"id": "p2", "title": "黄河", "text": "黄河是中国第二长河，发源于青海省巴颜喀拉山脉。"},
        {"id": "p3", "title": "泰山", "text": "泰山位于山东省泰安市，海拔一千五百余米。"}],
        [{"id": "q1", "question": "长城总长度是多少？", "answers": ["两万公里"], "gold_ids": ["p1"]},
         {"id": "q2", "question": "黄河发源于哪里？", "answers": ["青海省"], "gold_ids": ["p2"]}])
    _write_set(root / "sets" / "en", [
        {"id": "e1", "title": "Refunds", "text": "Refunds are issued within 14 days of receiving the item."},
        {"id": "e2", "title": "Shipping", "text": "Orders ship from our warehouse in two business days."},
        {"id": "e3", "title": "Returns", "text": "Items may be returned unused in their original box."}],
        [{"id": "eq1", "question": "when are refunds issued", "answers": ["14 days"], "gold_ids": ["e1"]}])
    return root / "sets"


def test_eval_of_a_folder_of_sets_scores_every_set_and_mode_in_one_json_object(tmp_path):
    sets = _two_sets(tmp_path)
    out = runner.invoke(cli, ["eval", str(sets), "--embedding", "hashing", "--json", "--fresh"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert [d["dataset"] for d in data["datasets"]] == ["en", "zh"]
    for d in data["datasets"]:
        assert set(d["modes"]) == {"dense", "sparse", "hybrid"}
        assert d["modes"]["sparse"]["recall@1"] == 1.0  # every question shares its words with its passage


def test_eval_of_several_sets_prints_one_table_and_one_set_keeps_its_json_shape(tmp_path):
    sets = _two_sets(tmp_path)
    table = runner.invoke(cli, ["eval", str(sets / "zh"), str(sets / "en"), "--embedding", "hashing",
                                "--mode", "sparse", "--mode", "hybrid"])
    assert table.exit_code == 0, table.output
    assert table.stdout.count("mrr@10") == 1 and "zh" in table.stdout and "en" in table.stdout
    one = runner.invoke(cli, ["eval", str(sets / "zh"), "--embedding", "hashing", "--mode", "sparse", "--json"])
    data = json.loads(one.stdout.strip().splitlines()[-1])
    assert data["dataset"] == "zh" and set(data["modes"]) == {"sparse"}


def test_eval_refuses_a_folder_without_sets(tmp_path):
    (tmp_path / "empty").mkdir()
    out = runner.invoke(cli, ["eval", str(tmp_path / "empty"), "--embedding", "hashing"])
    assert out.exit_code != 0 and "no evaluation set" in out.output


def test_scoring_rule_ignores_whitespace_and_needs_both_the_fact_and_the_citation():
    item = QAItem("a", "q", "14 天", "退款在 14 天内")
    assert squash(" a\n b\tc ") == "abc"
    assert is_correct(item, False, "退款在14天\n内发放[1]", ["退款在14天内发放。"])
    assert not is_correct(item, False, "退款在14天内发放[1]", ["与此无关的段落"])  # right words, wrong citation
    assert not is_correct(item, True, "退款在14天内发放[1]", ["退款在14天内发放。"])  # refused
    assert not is_correct(item, False, "退款很快[1]", ["退款在14天内发放。"])  # cited, but not the fact
    unanswerable = QAItem("b", "q", None, None)
    assert is_correct(unanswerable, True, "", []) and not is_correct(unanswerable, False, "x", [])


def qa_files(tmp_path, ids: tuple[str, ...] | None = None):
    """A two-topic policy document and a QA file over it (answerable r1, r2; unanswerable u1), or only `ids`."""
    doc = tmp_path / "policy.md"
    doc.write_text("# 退货政策\n\n退款将在收到退货后十四天内原路退回。\n\n# 配送\n\n订单在两个工作日内从仓库发出。\n",
                   encoding="utf-8")
    qs = tmp_path / "qs.jsonl"
    lines = [{"id": "r1", "question": "退款多久能退回？", "answer_contains": "十四天",
              "passage_contains": "收到退货后十四天内"},
             {"id": "r2", "question": "订单什么时候发出？", "answer_contains": "两个工作日",
              "passage_contains": "两个工作日内"},
             {"id": "u1", "question": "比特币挖矿的企业所得税税率是多少？", "answer_contains": None,
              "passage_contains": None}]
    lines = [x for x in lines if ids is None or x["id"] in ids]
    qs.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return doc, qs


def test_eval_qa_json_has_exactly_the_documented_keys_and_scores_through_the_ask_path(tmp_path):
    doc, qs = qa_files(tmp_path)
    out = runner.invoke(cli, ["eval-qa", str(qs), "--doc", str(doc), "--embedding", "hashing", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert list(data) == ["questions", "answerable", "answered_cited", "unanswerable", "refused", "misses"]
    assert (data["questions"], data["answerable"], data["unanswerable"]) == (3, 2, 1)
    assert data["answered_cited"] == 2 and data["refused"] == 1, data["misses"]
    assert data["misses"] == []


def test_eval_qa_reports_a_miss_with_what_was_answered_and_cited(tmp_path):
    doc, qs = qa_files(tmp_path)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"id": "w", "question": "退款多久能退回？", "answer_contains": "三十天",
                                 "passage_contains": "三十天"}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = runner.invoke(cli, ["eval-qa", str(wrong), "--doc", str(doc), "--embedding", "hashing", "--json"])
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["answered_cited"] == 0 and len(data["misses"]) == 1
    miss = data["misses"][0]
    assert set(miss) == {"id", "question", "refused", "answer", "cited"}
    assert miss["id"] == "w" and "十四天" in miss["answer"] and any("十四天" in c for c in miss["cited"])
    table = runner.invoke(cli, ["eval-qa", str(wrong), "--doc", str(doc), "--embedding", "hashing"])
    assert table.exit_code == 0 and "misses" in table.stdout and "gold rank" in table.stdout


def test_eval_qa_names_a_bad_question_file(tmp_path):
    doc, _ = qa_files(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    out = runner.invoke(cli, ["eval-qa", str(bad), "--doc", str(doc)])
    assert out.exit_code != 0 and "bad.jsonl:1" in out.output


def test_fusion_lab_scores_every_rule_on_the_sets_and_an_eval_qa_set(tmp_path, capsys):
    """benchmarks.fusion_lab over a set `zhida eval` cached and a QA file's throw-away KB: one row per
    rule, a column per set plus the QA set, the product's rule last, the lists cached beside the KB."""
    from benchmarks import fusion_lab

    sets = _two_sets(tmp_path)
    assert runner.invoke(cli, ["eval", str(sets / "zh"), "--embedding", "hashing", "--json"]).exit_code == 0
    doc, qs = qa_files(tmp_path)
    fusion_lab.main([str(sets / "zh"), "--qa", str(qs), "--doc", str(doc), "--embedding", "hashing"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["rule", "zh", "qa:qs"]
    product = lines[-1].split()
    assert lines[-1].startswith("adaptive (product)") and len(product) == 5  # name (2 words), 2 sets, min gap
    assert float(product[2]) == 1.0 and float(product[3]) == 1.0  # both gold passages first on these tiny sets
    assert (fusion_lab.ranked_lists(sets / "zh", "hashing")["queries"][0]["gold"]) == ["p1"]  # from the cache


@pytest.mark.slow
def test_civil_code_questions_are_answered_and_cited_with_the_shipped_defaults():
    """Issue 16's bar, end to end: the shipped defaults (e5-small, extractive) answer at least 30 of the 35
    paraphrased Civil Code questions with the right citation and refuse all 8 it does not answer (30 / 8
    measured when the bar was met). A fresh KB: ~1 minute of embedding on 2 cores."""
    from tests.conftest import SHARED, require_shared

    questions = require_shared(SHARED / "data" / "qa" / "civil_code_dev.jsonl")
    doc = require_shared(SHARED / "data" / "docs" / "zh_civil_code.pdf")
    from retrieval import ModelLoadError, load_embedder

    try:
        load_embedder("e5-small")
    except ModelLoadError as exc:
        pytest.skip(f"e5-small cannot load on this machine: {exc}")
    out = runner.invoke(cli, ["eval-qa", str(questions), "--doc", str(doc), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert (data["answerable"], data["unanswerable"]) == (35, 8)
    assert data["answered_cited"] >= 30, [m["id"] for m in data["misses"]]
    assert data["refused"] == 8, [m["id"] for m in data["misses"]]
