"""Chunk invariants: spans, heading paths, table handling, sizes, stable ids."""
from __future__ import annotations

import pytest

import ingest
from ingest.chunking import chunk_id
from ingest.types import ChunkSettings, ParsedDocument, Section

SHA = "ab" * 32


def _check_invariants(doc: ParsedDocument, chunks, settings: ChunkSettings) -> None:
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)
    for c in chunks:
        section = doc.sections[c.section_index]
        assert c.heading_path == section.heading_path and c.kind == section.kind
        assert c.source == doc.source
        assert c.id == chunk_id(SHA, c.position, c.text) and len(c.id) == 32
        span = section.text[c.char_start:c.char_end]
        if c.text == span:
            pass
        elif c.kind == "table":  # a table piece after the first repeats the header rows
            assert c.text.endswith("\n" + span)
        else:  # a piece of an article after the first leads with the article's head
            assert c.parent_text and c.text.endswith("\n" + span) and c.text.startswith(c.unit)
        if c.unit:  # the parent span is the whole article, around the chunk's own span
            assert section.text[c.parent_start:c.parent_end] == c.unit_text
            assert c.parent_start <= c.char_start < c.char_end <= c.parent_end
            assert c.unit_text.startswith(c.unit) or section.heading_path[-1].startswith(c.unit)
        else:
            assert c.parent_start is None and c.parent_end is None and not c.parent_text
        if c.kind == "text":
            assert len(c.text) <= settings.chunk_size
        if section.page is not None:
            assert section.page <= c.page <= (c.page_end or c.page) <= (section.page_end or section.page)


def _doc(*sections: Section) -> ParsedDocument:
    return ParsedDocument(source="mem.txt", sections=list(sections))


def test_chinese_text_splits_at_sentence_ends_with_overlap():
    sentence = "民事主体从事民事活动，应当遵循诚信原则，秉持诚实，恪守承诺。"
    doc = _doc(Section(sentence * 40, heading_path=("第一章 基本规定",)))
    settings = ChunkSettings(chunk_size=200, chunk_overlap=40)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    assert len(chunks) > 5
    assert all(c.text.endswith("。") for c in chunks[:-1])
    assert all(chunks[i + 1].char_start < chunks[i].char_end for i in range(len(chunks) - 1))  # overlap


def test_english_text_splits_at_sentence_boundaries():
    text = " ".join(f"Sentence number {i} says something useful about retrieval." for i in range(60))
    doc = _doc(Section(text))
    settings = ChunkSettings(chunk_size=300, chunk_overlap=50)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    assert all(c.text.endswith(".") for c in chunks)


def test_chunks_never_cross_sections_with_different_heading_paths():
    doc = _doc(Section("短。", heading_path=("A",)), Section("也短。", heading_path=("B",)))
    chunks = ingest.chunk_document(doc, ChunkSettings(), SHA)
    assert [(c.text, c.heading_path) for c in chunks] == [("短。", ("A",)), ("也短。", ("B",))]


def test_small_table_stays_whole_and_big_table_splits_by_rows_repeating_the_header():
    header = "| id | name |\n|---|---|"
    small = header + "\n| 1 | a |"
    rows = "\n".join(f"| {i} | name-{i} |" for i in range(400))
    big = header + "\n" + rows
    doc = _doc(Section(small, kind="table"), Section(big, kind="table", heading_path=("T",)))
    settings = ChunkSettings(chunk_size=300, chunk_overlap=50, keep_tables_whole_up_to=600)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    assert chunks[0].text == small
    pieces = [c for c in chunks if c.section_index == 1]
    assert len(pieces) > 5
    assert all(p.text.startswith(header + "\n| ") and len(p.text) <= 600 for p in pieces)
    body_rows = [line for p in pieces for line in p.text.splitlines()[2:]]
    assert body_rows == rows.splitlines()  # every row exactly once, in order


def test_chunk_pages_follow_page_spans():
    text = "第一页的句子。" * 50 + "\n\n" + "第二页的句子。" * 50
    start2 = text.index("第二页")
    doc = _doc(Section(text, page=3, page_end=4, page_spans=((0, 3), (start2, 4))))
    settings = ChunkSettings(chunk_size=120, chunk_overlap=20)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    assert chunks[0].page == 3 and chunks[-1].page == 4
    assert {c.page for c in chunks if "第二页" not in c.text} == {3}


def test_chunking_is_deterministic_and_ids_depend_on_the_document_hash():
    doc = _doc(Section("一句话。" * 300))
    a = ingest.chunk_document(doc, ChunkSettings(), SHA)
    b = ingest.chunk_document(doc, ChunkSettings(), SHA)
    c = ingest.chunk_document(doc, ChunkSettings(), "cd" * 32)
    assert a == b
    assert [x.id for x in a] != [x.id for x in c]


@pytest.mark.parametrize("name", ["zh_civil_code.pdf", "en_federal_register.pdf", "zh_civil_code.docx", "en_table_nics.pdf"])
def test_invariants_hold_on_shared_documents(parsed_shared, name):
    doc = parsed_shared(name)
    settings = ChunkSettings()
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    assert chunks


def test_a_lead_in_ending_in_a_colon_stays_with_what_it_introduces():
    """The splitter fills pieces paragraph by paragraph, so it cut after 「……设为：」 and the next chunk held the
    list without its subject; the lead-in now moves to the list's chunk (when that still fits)."""
    intro = "回答默认使用抽取式模式，不需要大语言模型，直接从最相关的段落里挑出句子并标注出处。" * 3
    lead = "要使用大语言模型，可以在配置里把 answer.llm 设为："
    items = "\n".join(f"- 选项{i}：一种兼容的服务，在配置里填写它的地址和模型名称。" for i in range(5))
    text = f"{intro}\n\n{lead}\n\n{items}\n\n之后重新启动服务即可生效。"
    doc = _doc(Section(text, heading_path=("模型",)))
    settings = ChunkSettings(chunk_size=240, chunk_overlap=40)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    holder = next(c for c in chunks if lead in c.text)
    assert "选项0" in holder.text  # the lead-in and its first item in one chunk
    assert not any(c.text.endswith("：") for c in chunks)
    # without the move, the splitter's own cut leaves the lead-in at the end of the first chunk
    from ingest.chunking import _spans, _splitter

    raw = [text[s:e] for s, e in _spans(text, _splitter(settings).split_text(text))]
    assert raw[0].endswith(lead)
