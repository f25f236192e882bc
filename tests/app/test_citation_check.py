"""Citation check: a model's [n] are kept, dropped, replaced or attached by what the passages hold."""
from __future__ import annotations

from app.answering import answer_stream
from app.citation_check import check_citations, units
from knowledge.types import RetrievedChunk
from retrieval.types import Hit

CUSTOM = "处理民事纠纷，应当依照法律；法律没有规定的，可以适用习惯，但是不得违背公序良俗。"
GOOD_FAITH = "民事主体从事民事活动，应当遵循诚信原则，秉持诚实，恪守承诺。"
LIEN = "寄存人未按照约定支付保管费或者其他费用的，保管人对保管物享有留置权，但是当事人另有约定的除外。"
PASSAGES = [CUSTOM, GOOD_FAITH, LIEN]


def test_a_number_pointing_at_the_wrong_passage_is_replaced_by_the_one_holding_the_sentence():
    out = check_citations("保管人对保管物享有留置权[1]。", PASSAGES)
    assert out.text == "保管人对保管物享有留置权[3]。"
    assert (out.kept, out.dropped, out.added) == (0, 1, 1)


def test_a_right_number_stays_where_the_model_put_it():
    text = "法律没有规定的，可以适用习惯[1]。民事活动应当遵循诚信原则。[2]"
    out = check_citations(text, PASSAGES)
    assert out.text == text and (out.kept, out.dropped, out.added) == (2, 0, 0)


def test_an_uncited_sentence_copied_from_a_passage_gets_that_passage():
    out = check_citations("根据规定，寄存人未按照约定支付保管费的，保管人享有留置权。", PASSAGES)
    assert out.text.endswith("留置权。[3]") and out.added == 1


def test_a_sentence_no_passage_supports_loses_its_number():
    out = check_citations("这种情况建议尽快咨询专业律师并保留好证据[2]。", PASSAGES)
    assert "[" not in out.text and out.dropped == 1


def test_a_weak_claim_far_behind_the_passage_holding_the_sentence_is_replaced():
    # the sentence shares 诚信/民事 words with passage 2 but is copied from passage 1
    out = check_citations("处理民事纠纷时法律没有规定的，可以适用习惯，但是不得违背公序良俗[2]。", PASSAGES)
    assert "[1]" in out.text and "[2]" not in out.text


def test_a_number_alone_on_the_next_line_belongs_to_the_sentence_before():
    out = check_citations("保管人对保管物享有留置权。\n[3]", PASSAGES)
    assert out.text.startswith("保管人对保管物享有留置权。[3]") and out.text.count("[3]") == 1


def test_a_sentence_too_short_to_judge_keeps_its_number_and_invented_numbers_count_as_dropped():
    out = check_citations("可以[3]。见[9]。", PASSAGES)
    assert "可以[3]" in out.text and "[9]" not in out.text and out.dropped == 1


def test_english_sentences_are_matched_by_words_not_function_words():
    passages = ["Employees get ten days of annual leave.", "Water boils at 100 degrees at sea level."]
    out = check_citations("Employees get ten days of annual leave [2]. Managers must approve every request quickly [1].", passages)
    assert out.text.startswith("Employees get ten days of annual leave [1].")
    assert "quickly [" not in out.text
    assert "the" not in units("the law") and "law" in units("the law")


def test_pdf_line_breaks_inside_chinese_do_not_break_the_match():
    assert units("保管人对保管物享有\n留置权") == units("保管人对保管物享有留置权")


def test_the_final_answer_cites_the_passage_the_sentence_came_from_not_the_models_number():
    chunks = [RetrievedChunk(f"c{i}", t, "/kb/民法典.pdf", 0.9 - i / 10, page=i + 1,
                             hit=Hit(i, 0.9, ("dense",), dense_score=0.9)) for i, t in enumerate(PASSAGES)]

    class Scripted:
        name = "scripted"

        def stream(self, messages, **params):
            yield from ["保管人对保管物", "享有留置权[1]。", "另外要讲诚信。"]

    final = [e for e in answer_stream("不付保管费，保管人能扣着东西吗？", chunks, llm=Scripted())
             if e.type == "done"][0].answer
    assert final.text == "保管人对保管物享有留置权[3]。另外要讲诚信。"
    assert [(c.n, c.chunk_id, c.page) for c in final.citations] == [(3, "c2", 3)]


def test_a_quoted_article_with_clauses_gets_one_number_and_a_short_direct_answer_none():
    article = "第一条　有下列情形之一的，当事人要承担责任：（一）欺诈订立的；（二）恶意串通损害他人的；（三）违背公序良俗的。"
    text = f"要承担责任。依据：“{article}”"
    out = check_citations(text, [LIEN, article])
    assert out.text == text + "[2]" and out.added == 1
