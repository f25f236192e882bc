"""Statutes end to end: contents pages kept out of the chunks, chapter titles with 、 as headings,
one article per chunk with its items (generated PDF/docx, and the real Civil Code)."""
from __future__ import annotations

import pytest

import ingest
from ingest.types import ChunkSettings
from tests.ingest import builders
from tests.ingest.test_chunking import SHA, _check_invariants

ITEMS_367 = ["（一）当事人的姓名或者名称和住所", "（二）住宅的位置", "（三）居住的条件和要求", "（四）居住权期限",
             "（五）解决争议的方法"]
CHAPTER_2 = "第二章 物权的设立、变更、转让和消灭"


def _check_statute(doc) -> list:
    settings = ChunkSettings()
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    assert any(s.kind == "toc" for s in doc.sections)  # `zhida parse` still shows the contents
    assert all(c.kind != "toc" and "目录" not in c.heading_path for c in chunks)
    assert not any("物权的设立、变更、转让和消灭" in c.text and c.unit == "" for c in chunks)  # no entry indexed
    assert [c.heading_path[-1] for c in chunks if c.unit == "第二百零九条"] == [CHAPTER_2]
    art = [c for c in chunks if c.unit == "第三百六十七条"]
    assert len(art) == 1 and all(item in art[0].text for item in ITEMS_367)
    assert all(c.unit for c in chunks)  # nothing but articles: one chunk each
    return chunks


@pytest.mark.parametrize("toc_title", [True, False])
def test_statute_pdf_contents_page_is_not_chunked_and_articles_are_whole(tmp_path, toc_title):
    doc = ingest.load_document(builders.statute_pdf(tmp_path / "statute.pdf", toc_title=toc_title))
    chunks = _check_statute(doc)
    assert [c.unit for c in chunks] == ["第二百零五条", "第二百零六条", "第二百零九条", "第三百六十七条"]
    assert all(c.page != 1 for c in chunks)  # page 1 is the contents


def test_statute_docx_contents_is_not_chunked_and_chapters_are_not_under_it(tmp_path):
    doc = ingest.load_document(builders.statute_docx(tmp_path / "statute.docx"))
    chunks = _check_statute(doc)
    assert chunks[0].heading_path == ("第一章 一般规定",)


# --- the real Civil Code (../shared) ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["zh_civil_code.pdf", "zh_civil_code.docx"])
def test_civil_code_articles_are_whole_chunks_and_its_contents_pages_are_not_indexed(parsed_shared, name):
    doc = parsed_shared(name)
    settings = ChunkSettings()
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    art = [c for c in chunks if c.unit == "第三百六十七条"]
    assert len(art) == 1 and all(item in art[0].text for item in ITEMS_367)
    assert art[0].text.startswith("第三百六十七条") and "第三百六十八条" not in art[0].text
    toc = [s for s in doc.sections if s.kind == "toc"]
    assert toc and all("目录" not in c.heading_path and c.kind != "toc" for c in chunks)
    entries = [e for s in toc for e in s.text.split("\n\n")]
    assert len(entries) > 100 and not any(entries[1] + "\n\n" + entries[2] in c.text for c in chunks)
    assert [c.unit for c in chunks if not c.unit.startswith("第")] == [""]  # the title page, then articles
    reg = [c for c in chunks if c.unit == "第二百零九条"]  # 不动产登记: under chapter 2, not chapter 1
    assert len(reg) == 1 and reg[0].heading_path[-4:] == ("第二编 物权", "第一分编 通则", CHAPTER_2, "第一节 不动产登记")
    assert any("第五章 国家所有权和集体所有权、私人所有权" in c.heading_path for c in chunks)
    # one article per chunk: every chunk opens at an article, none holds two
    units = [c for c in chunks if c.unit]
    assert len(units) >= 1200 and len({c.unit for c in units}) >= 1200
    assert all(c.text.startswith(c.unit) for c in units)


def test_civil_code_at_a_small_chunk_size_splits_long_articles_without_losing_a_paragraph(parsed_shared):
    from ingest.units import paragraphs

    doc = parsed_shared("zh_civil_code.pdf")
    settings = ChunkSettings(chunk_size=150, chunk_overlap=30)
    chunks = ingest.chunk_document(doc, settings, SHA)
    _check_invariants(doc, chunks, settings)
    articles: dict = {}
    for c in chunks:
        if c.parent_text:
            articles.setdefault((c.section_index, c.parent_start, c.parent_end), []).append(c)
    assert len(articles) > 50
    for (index, start, end), pieces in articles.items():
        assert all(p.text.startswith(pieces[0].unit) for p in pieces)  # every piece names its article
        for s, e in paragraphs(doc.sections[index].text, start, end):  # each paragraph in exactly one piece,
            whole = sum(p.char_start <= s and e <= p.char_end for p in pieces)  # or cut between sentences
            assert whole == 1 or (whole == 0 and any(p.char_start < e and p.char_end > s for p in pieces))
