"""Refusal by evidence that survives paraphrase (app/evidence.py): real e5-small over small documents,
through the same path as `zhida ask`; and the answer-type rules on their own."""
from __future__ import annotations

import pytest

from app.evidence import asked_for, asks_quantity, judge, states_quantity
from knowledge.types import RetrievedChunk
from retrieval.types import Hit

REFUND_POLICY = """# Refund policy

Refunds are issued within 14 days of receiving the returned item, to the original payment method.

# Shipping

Orders ship from our warehouse in two business days. Express delivery costs 12 euros.

# Warranty

Every device carries a two-year warranty against manufacturing defects.
"""

STATUTE = """第一千零九十三条 下列未成年人，可以被收养：（一）丧失父母的孤儿；（二）查找不到生父母的未成年人；（三）生父母有特殊困难无力抚养的子女。

第一千一百零四条 收养人收养与送养人送养，应当双方自愿。收养八周岁以上未成年人的，应当征得被收养人的同意。

第一千一百零五条 收养应当向县级以上人民政府民政部门登记。收养关系自登记之日起成立。

第三百六十七条 设立居住权，当事人应当采用书面形式订立居住权合同。居住权合同一般包括下列条款：（一）当事人的姓名或者名称和住所；（二）住宅的位置；（三）居住的条件和要求；（四）居住权期限；（五）解决争议的方法。

第一千二百一十三条 机动车发生交通事故造成损害，属于该机动车一方责任的，先由承保机动车强制保险的保险人在强制保险责任限额范围内予以赔偿。
"""


@pytest.fixture(scope="module")
def asker(tmp_path_factory):
    """ask(question) -> Answer over a KB of the two documents with the shipped defaults (e5-small)."""
    from app import services
    from app.asking import ask
    from app.config import load_settings
    from app.llms.base import Extractive
    from retrieval import load_embedder
    from retrieval.errors import ModelLoadError

    try:
        load_embedder("e5-small")
    except ModelLoadError as exc:
        pytest.skip(f"e5-small cannot load here: {exc}")
    root = tmp_path_factory.mktemp("refusal")
    (root / "docs").mkdir()
    (root / "docs" / "policy.md").write_text(REFUND_POLICY, encoding="utf-8")
    (root / "docs" / "statute.txt").write_text(STATUTE, encoding="utf-8")
    s = load_settings()
    assert s["embedding"]["model"] == "e5-small"
    kb = services.catalog(s, home=root / "home").create("kb")
    kb.ingest([root / "docs"])
    return lambda q: ask(kb, q, s, Extractive())


@pytest.mark.parametrize("question, expected", [
    ("How long do refunds take?", "14 days"),
    ("How long is the warranty on a device?", "two-year"),
    ("收养一个十岁的孩子，需要孩子本人同意吗？", "征得被收养人的同意"),
    ("居住权合同一般包括哪些内容？", "解决争议的方法"),
])
def test_paraphrased_questions_are_answered_with_the_cited_rule(asker, question, expected):
    a = asker(question)
    assert not a.refused, a
    assert expected in a.text and any(expected in c.text for c in a.citations)


@pytest.mark.parametrize("question", [
    "比特币挖矿的企业所得税税率是多少？",
    "醉酒驾驶机动车会被判处什么刑罚？",
    "What is the boiling point of water at sea level?",
])
def test_questions_the_documents_do_not_answer_are_refused(asker, question):
    a = asker(question)
    assert a.refused and a.text in ("知识库中没有找到相关内容。",
                                    "The knowledge base does not contain an answer to this question.")


def test_the_whole_article_with_its_items_is_the_answer(asker):
    a = asker("居住权合同一般包括哪些内容？")
    assert a.text.startswith("第三百六十七条")
    assert all(f"（{n}）" in a.text for n in "一二三四五")
    assert "收养" not in a.text  # no unrelated article padded on


def test_answer_type_rules():
    assert asks_quantity("增值税的基本税率是多少？") and asks_quantity("How long do refunds take?")
    assert not asks_quantity("收养需要孩子同意吗？")
    assert states_quantity("Refunds are issued within 14 days") and states_quantity("诉讼时效期间为三年")
    assert not states_quantity("依据本法第五百一十条的规定")  # an article number is not a quantity
    assert asked_for("商品房预售需要取得什么许可证？") == "许可证"
    assert asked_for("合同从什么时候成立？") == ""  # a question word, not the thing asked for


def _chunk(text, dense, model="e5-small"):
    return RetrievedChunk("c", text, "/kb/a.txt", dense, hit=Hit(1, dense, ("dense",), dense_score=dense),
                          embedding_model=model)


def test_judge_weighs_similarity_against_the_models_floor_and_coverage():
    cfg = {"min_similarity": {"e5-small": 0.87}, "weak_match_coverage": 0.6, "min_coverage": 0.4}
    low = [_chunk("今天天气很好，我们去公园散步。", 0.80)]
    assert judge("收养孩子需要同意吗？", low, cfg).refuse
    # below the floor but holding the question's words: answered
    assert not judge("公园散步", [_chunk("今天天气很好，我们去公园散步。", 0.80)], cfg).refuse
    # a model without a calibrated floor falls back on coverage alone
    assert judge("收养孩子需要同意吗？", [_chunk("今天天气很好。", 0.99, model="other")], cfg).refuse
    assert not judge("收养孩子需要同意吗？", [_chunk("收养孩子需要本人同意。", 0.1, model="other")], cfg).refuse
    # a word the documents never use
    known = {"许可"}.__contains__
    assert judge("商品房预售需要取得什么许可证？", [_chunk("取得许可的，可以预售。", 0.95)], cfg, known).refuse
    assert not judge("商品房预售需要取得什么许可证？", [_chunk("取得许可证的，可以预售。", 0.95)], cfg,
                     lambda w: True).refuse


def test_a_long_article_is_quoted_as_its_head_and_the_matching_items_within_the_limit():
    from app.extractive import extractive_answer

    head = "第九十九条 合同的内容由当事人约定，一般包括下列条款："
    items = "".join(f"（{n}）第{n}项条款的内容说明，用来把这一条写得很长很长很长很长很长很长很长很长；"
                    for n in "一二三四五六七八九十")
    items += "（十一）解决争议的方法。"
    chunk = RetrievedChunk("c", head + items, "/kb/law.txt", 1.0, hit=Hit(1, 1.0, ("sparse",), sparse_score=5.0))
    a = extractive_answer("合同里解决争议的方法", [chunk], max_chars=160)
    body = a[:-len("[1]")]
    assert a.endswith("[1]") and body.startswith("第九十九条") and "解决争议的方法" in body
    assert len(body) <= 160 + len("……") and "……" in body  # head, gap, the matching item


BILINGUAL_POLICY = """# 退换货政策 Return policy

收到退回的商品后，我们会在14天内退款。Refunds are issued within 14 days of receiving the returned item.

订单会在两个工作日内发出。Orders ship within two business days.
"""


def test_an_english_question_over_a_bilingual_paragraph_is_answered_and_an_unrelated_one_refused(tmp_path):
    """A 中英对照 paragraph embeds between its two languages, so an English question's cosine with it falls
    below e5-small's floor (0.845 < 0.87); its English sentences alone clear it (0.909), and that second
    look answers. A question the paragraph does not answer stays refused."""
    from app import services
    from app.asking import ask
    from app.config import load_settings
    from app.llms.base import Extractive
    from retrieval import load_embedder
    from retrieval.errors import ModelLoadError

    try:
        load_embedder("e5-small")
    except ModelLoadError as exc:
        pytest.skip(f"e5-small cannot load here: {exc}")
    (tmp_path / "policy.md").write_text(BILINGUAL_POLICY, encoding="utf-8")
    s = load_settings()
    kb = services.catalog(s, home=tmp_path / "home").create("kb")
    kb.ingest([tmp_path / "policy.md"])
    question = "How long do refunds take?"
    floor = s["answer"]["min_similarity"]["e5-small"]
    assert max(c.hit.dense_score for c in kb.search(question)) < floor  # the whole paragraph alone is refused
    a = ask(kb, question, s, Extractive())
    assert not a.refused, a
    assert "14 days" in a.text and any("14 days" in c.text for c in a.citations)
    assert ask(kb, "What is the boiling point of water at sea level?", s, Extractive()).refused
    assert not ask(kb, "退款要多久？", s, Extractive()).refused


def test_the_part_of_a_passage_in_the_questions_language_exists_only_for_mixed_passages():
    from app.evidence import part_in_language

    mixed = "收到退回的商品后，我们会在14天内退款。Refunds are issued within 14 days.\n\n订单两天内发出。Orders ship in two days."
    assert part_in_language(mixed, "en") == "Refunds are issued within 14 days.\nOrders ship in two days."
    assert part_in_language(mixed, "zh") == "收到退回的商品后，我们会在14天内退款。\n订单两天内发出。"
    assert part_in_language("收养应当向民政部门登记。第1105条。", "en") == ""  # no English sentence: not mixed
    assert part_in_language("Refunds are issued within 14 days.", "en") == ""


def test_an_embedding_failure_in_the_bilingual_second_look_refuses_as_before_with_no_traceback(caplog):
    """The second look re-embeds text after the search; a remote embedding server gone in between must not
    turn the answer into an exception: the question is judged as if there were no second look."""
    from retrieval.errors import ModelLoadError

    def down(question, texts):
        raise ModelLoadError("the embedding server at http://127.0.0.1:9/v1 failed 3 times")

    cfg = {"min_similarity": {"e5-small": 0.87}, "weak_match_coverage": 0.6, "min_coverage": 0.4}
    bilingual = [_chunk("收到退回的商品后，我们会在14天内退款。Refunds are issued within 14 days.", 0.84)]
    verdict = judge("How long do refunds take?", bilingual, cfg, None, down)
    assert verdict.refuse and verdict.reason.startswith("similarity 0.840 < 0.87")
    assert "embedding server" in caplog.text
    assert not judge("How long do refunds take?", bilingual, cfg, None, lambda q, t: [0.91]).refuse
