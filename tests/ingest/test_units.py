"""Chunks that follow the document's own units: articles whole, long articles split at their items
with the article's head, prose as before."""
from __future__ import annotations

import ingest
from ingest.chunking import _splitter
from ingest.types import ChunkSettings, ParsedDocument, Section
from ingest.units import article_label, find_units, is_item
from tests.ingest.test_chunking import SHA, _check_invariants

ART_367 = ("第三百六十七条\u3000设立居住权，当事人应当采用书面形式订立居住权合同。\n\n"
           "居住权合同一般包括下列条款：\n\n"
           "（一）当事人的姓名或者名称和住所；\n\n"
           "（二）住宅的位置；\n\n"
           "（三）居住的条件和要求；\n\n"
           "（四）居住权期限；\n\n"
           "（五）解决争议的方法。")
HEAD_367 = "第三百六十七条\u3000设立居住权，当事人应当采用书面形式订立居住权合同。\n\n居住权合同一般包括下列条款："
ITEMS_367 = ["（一）当事人的姓名或者名称和住所；", "（二）住宅的位置；", "（三）居住的条件和要求；",
             "（四）居住权期限；", "（五）解决争议的方法。"]


def _doc(*sections: Section) -> ParsedDocument:
    return ParsedDocument(source="statute.txt", sections=list(sections))


def _chunks(text: str, size: int = 500, overlap: int = 80, path=("第十四章 居住权",)):
    doc = _doc(Section(text, heading_path=path))
    settings = ChunkSettings(chunk_size=size, chunk_overlap=overlap)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    return chunks


def test_each_article_is_one_chunk_whole_with_its_items_and_short_articles_are_not_merged():
    text = "\n\n".join(["第三百六十六条\u3000居住权人有权按照合同约定，对他人的住宅享有占有、使用的用益物权。",
                       ART_367,
                       "第三百六十八条\u3000居住权无偿设立，但是当事人另有约定的除外。",
                       "第三百六十九条\u3000居住权不得转让、继承。"])
    chunks = _chunks(text)
    assert [c.unit for c in chunks] == ["第三百六十六条", "第三百六十七条", "第三百六十八条", "第三百六十九条"]
    assert chunks[1].text == ART_367  # all five clauses with the article
    for c in chunks:
        assert (c.parent_start, c.parent_end) == (c.char_start, c.char_end)  # the chunk is the whole unit
        assert c.parent_text == "" and c.unit_text == c.text


def test_long_article_splits_at_its_items_and_every_piece_carries_the_head():
    items = [item[:-1] + "，由当事人在合同中写明，并在居住权登记时向登记机构提交相应的证明材料" + item[-1]
             for item in ITEMS_367]
    article = HEAD_367 + "\n\n" + "\n\n".join(items)
    chunks = _chunks(article, size=170, overlap=20)  # the article is 372 characters
    assert len(chunks) > 2
    assert chunks[0].text.startswith(HEAD_367)
    for c in chunks[1:]:
        assert c.text.startswith(HEAD_367 + "\n\n（")  # reads on its own: article, lead-in, items
    for item in items:  # every item whole, in exactly one piece
        assert sum(item in c.text for c in chunks) == 1
    assert all(c.unit == "第三百六十七条" and c.parent_text == article == c.unit_text for c in chunks)
    assert all((c.parent_start, c.parent_end) == (0, len(article)) for c in chunks)


def test_a_head_too_long_to_repeat_shrinks_to_the_label_and_the_lead_in():
    first = "第一千零七十九条\u3000夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。" * 2
    lead = "人民法院审理离婚案件，应当进行调解；如果感情确已破裂，调解无效的，应当准予离婚。有下列情形之一，调解无效的，应当准予离婚："
    items = [f"（{n}）" + "重婚或者与他人同居；" * 3 for n in "一二三四五"]
    text = "\n\n".join([first, lead] + items)
    chunks = _chunks(text, size=200, overlap=20)
    later = [c for c in chunks if c.char_start > 0]
    assert later and all(len(c.text) <= 200 for c in chunks)
    for c in later:
        assert c.text.startswith("第一千零七十九条\n\n") and "应当准予离婚：\n\n（" in c.text


def test_an_article_paragraph_longer_than_a_chunk_splits_between_sentences_under_its_label():
    text = "第五百零九条\u3000" + "".join(f"当事人应当按照第{n}项约定全面履行自己的义务。" for n in range(40))
    chunks = _chunks(text, size=150, overlap=30)
    assert len(chunks) > 3 and chunks[0].text.startswith("第五百零九条\u3000")
    assert all(c.text.startswith("第五百零九条\n\n") for c in chunks[1:])
    assert all(c.text.endswith("。") for c in chunks)
    assert all(c.unit_text == text for c in chunks)


def test_text_before_the_first_article_is_prose_without_a_unit():
    preamble = "（2020年5月28日第十三届全国人民代表大会第三次会议通过）"
    text = preamble + "\n\n第一条\u3000为了保护民事主体的合法权益，制定本法。\n\n第二条\u3000民法调整平等主体之间的关系。"
    chunks = _chunks(text)
    assert [(c.unit, c.text) for c in chunks][0] == ("", preamble)
    assert [c.unit for c in chunks[1:]] == ["第一条", "第二条"]


def test_a_cross_reference_opening_a_paragraph_is_not_an_article():
    assert article_label("第十条规定的期间，自权利人知道之日起计算。") is None
    assert article_label("第十条\u3000处理民事纠纷，应当依照法律。") == "第十条"
    assert article_label("第一千二百六十条本法自2021年1月1日起施行。") == "第一千二百六十条"  # OCR drops the space
    assert article_label("Section 3 of the Act applies.") is None
    assert article_label("Article 12 shall apply to members.") is None
    assert article_label("Article 12. Freedom of expression") == "Article 12"
    assert article_label("§ 39.13 [Amended]") == "§ 39.13"
    assert find_units("第十条规定的期间，自权利人知道之日起计算。")[1] == []
    # glued labels count only when several open paragraphs (OCR), not one in prose
    assert find_units("第一条路线经过山区，风景很好。\n\n第二段说别的。")[1] == []
    ocr = "第一条本法适用于全国。\n\n第二条民法调整平等主体之间的关系。"
    assert [u.label for u in find_units(ocr)[1]] == ["第一条", "第二条"]


def test_item_markers_chinese_english_and_numbered_lists():
    for item in ["（一）当事人", "(二) 住所", "（3）期限", "(a) Comments Due Date", "(iv) steps", "1. Install",
                 "2、下载", "三、附则", "• bullet"]:
        assert is_item(item), item
    for prose in ["第一条 本法", "2020年5月28日", "1.5 million people", "(2020) 年鉴", "Article 3"]:
        assert not is_item(prose), prose


def test_english_articles_and_section_signs_are_units_with_their_lettered_items():
    items = [f"({c}) The member state shall ensure that the authority described in this paragraph {c} acts "
             "independently and publishes an annual report." for c in "abcdef"]
    art12 = "Article 12\n\nEach member state shall designate an authority. The authority shall:\n\n" + "\n\n".join(items)
    text = "Article 11\n\nThis Regulation applies to all processing.\n\n" + art12 + "\n\nArticle 13\n\nFinal provisions."
    chunks = _chunks(text, size=300, overlap=40, path=("Chapter II",))
    assert [c.unit for c in chunks][0] == "Article 11" and chunks[-1].unit == "Article 13"
    pieces = [c for c in chunks if c.unit == "Article 12"]
    assert len(pieces) > 1
    for c in pieces[1:]:
        assert c.text.startswith("Article 12\n\nThe authority shall:\n\n(") or \
            c.text.startswith("Article 12\n\nEach member state shall designate an authority. The authority shall:\n\n(")
    for item in items:
        assert sum(item in c.text for c in pieces) == 1
    sections = "§ 1.1 Scope.\n\nThis part applies to airplanes.\n\n§ 1.2 Definitions.\n\nIn this part, AD means a directive."
    assert [c.unit for c in _chunks(sections, path=())] == ["§ 1.1", "§ 1.2"]


def test_numbered_list_in_an_article_splits_between_items_never_inside_one():
    items = [f"{n}. 员工应当遵守第{n}项安全规定，进入车间前佩戴安全帽，离开时关闭电源并登记。" for n in range(1, 10)]
    text = "第八条\u3000员工守则如下：\n\n" + "\n\n".join(items)
    chunks = _chunks(text, size=160, overlap=20)
    assert len(chunks) > 2
    for item in items:
        assert sum(item in c.text for c in chunks) == 1
    assert all(c.text.startswith("第八条\u3000员工守则如下：") for c in chunks)


def test_ordinary_prose_chunks_exactly_as_the_sentence_splitter_did():
    paragraphs = ["自然语言处理是人工智能的一个分支。它研究计算机如何理解人类语言。" * 6,
                  "检索增强生成先检索相关段落，再据此生成答案；段落切分影响答案质量。" * 5,
                  "Retrieval quality depends on chunking. Short chunks lose context; long ones dilute it. " * 4]
    text = "\n\n".join(paragraphs)
    settings = ChunkSettings(chunk_size=200, chunk_overlap=40)
    chunks = _chunks(text, size=200, overlap=40, path=("概述",))
    assert [c.text for c in chunks] == _splitter(settings).split_text(text)
    assert all(c.unit == "" and c.parent_start is None for c in chunks)


def test_chunk_ids_stay_deterministic_for_units():
    a = _chunks(ART_367, size=100, overlap=20)
    b = _chunks(ART_367, size=100, overlap=20)
    assert a == b and len({c.id for c in a}) == len(a)


def test_an_article_given_as_a_heading_is_the_unit_of_its_section():
    body = "\n\n".join(["Each member state shall designate an authority. The authority shall:"]
                       + [f"({c}) publish report number {c} on the designated website every year, in two languages."
                          for c in "abcdef"])
    doc = _doc(Section("Intro text.", heading_path=("Regulation",)),
               Section(body, heading_path=("Regulation", "Article 12 Supervisory authority")))
    settings = ChunkSettings(chunk_size=200, chunk_overlap=20)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    assert chunks[0].unit == ""
    pieces = chunks[1:]
    assert len(pieces) > 1 and all(c.unit == "Article 12" and c.unit_text == body for c in pieces)
    assert pieces[0].text.startswith("Each member state")  # the label is in the heading path
    assert all(c.text.startswith("Article 12\n\n") and "The authority shall:\n\n(" in c.text for c in pieces[1:])
