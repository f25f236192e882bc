"""Headings and contents pages: chapter titles with 、 are headings; contents entries are a "toc"
section, never headings (and never chunked, see test_statutes)."""
from __future__ import annotations

from ingest.structure import SectionBuilder, cn_heading_level, is_toc_entry, toc_titles

CHAPTER_2 = "第二章 物权的设立、变更、转让和消灭"


def test_a_chapter_title_with_enumeration_commas_is_a_heading():
    assert cn_heading_level(CHAPTER_2) == 30
    assert cn_heading_level("第五章\u3000国家所有权和集体所有权、私人所有权") == 30
    assert cn_heading_level("第一章、第二章的规定适用于本编。") is None  # a sentence about chapters
    assert cn_heading_level("第一章规定的，依照其规定。") is None


def test_contents_lines_with_leaders_or_page_numbers_are_recognised():
    assert is_toc_entry("第一章 总则 ........ 3") and is_toc_entry("第二章\u3000物权的设立、变更、转让和消灭\u3000\u300027")
    assert is_toc_entry("Article 5 . . . . . 12") and is_toc_entry("Chapter 3 Results  17")
    assert cn_heading_level("第一章 总则 ........ 3") is None  # an entry does not open a chapter
    assert not is_toc_entry("Total  12") and not is_toc_entry("他说……3") and not is_toc_entry("第一章 总则")
    assert toc_titles("第一章 总则 ........ 3第二章 自然人 ........ 9") == ["第一章 总则", "第二章 自然人"]
    assert toc_titles("他说……然后……就走了。") == []


def test_untitled_contents_lines_become_a_toc_section_between_body_sections():
    b = SectionBuilder()
    b.block("第一条\u3000为了保护民事主体的合法权益，制定本法。")
    b.block("第一章 总则 ........ 3")
    b.block("第二章 自然人 ........ 9")
    b.block("第二条\u3000民法调整平等主体之间的关系。")
    kinds = [(s.kind, s.text.split("\u3000")[0]) for s in b.build()]
    assert kinds == [("text", "第一条"), ("toc", "第一章 总则 ........ 3\n\n第二章 自然人 ........ 9"), ("text", "第二条")]
