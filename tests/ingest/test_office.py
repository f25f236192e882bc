"""DOCX, XLSX and PPTX loaders."""
from __future__ import annotations

import ingest
from tests.ingest import builders


def test_docx_headings_lists_tables_and_images_in_document_order(docs_dir):
    doc = ingest.load_document(builders.sample_docx(docs_dir / "handbook.docx"))
    assert [s.kind for s in doc.sections] == ["text", "table", "text", "text"]
    intro, table, after, chinese = doc.sections
    assert intro.heading_path == ("Handbook", "Installation")
    assert "- Download the package\n\n- Unpack it" in intro.text
    assert table.heading_path == ("Handbook", "Installation", "Requirements")
    assert table.text.splitlines() == ["| Item | Minimum |", "|---|---|", "| RAM | 8 GB |", "| Disk | 20 GB |"]
    assert after.text == "Text after the table."
    assert chinese.heading_path[-1] == "第一章 总则"


def test_xlsx_sheets_become_table_sections_split_into_row_groups_with_the_header(docs_dir):
    doc = ingest.load_document(builders.sample_xlsx(docs_dir / "book.xlsx", rows=250))
    prices = [s for s in doc.sections if s.heading_path == ("Prices",)]
    assert prices[0].text.splitlines()[2] == "| Apple | 1.2 |"
    log = [s for s in doc.sections if s.heading_path == ("Log",)]
    assert len(log) == 3
    assert all(s.kind == "table" and s.text.startswith("| Row | Value | Note |") for s in log)
    assert "| 250 | 622.5 | entry 250 |" in log[-1].text
    assert not [s for s in doc.sections if s.heading_path == ("Empty",)]


def test_pptx_one_section_per_slide_with_title_heading_and_slide_page(docs_dir):
    doc = ingest.load_document(builders.sample_pptx(docs_dir / "deck.pptx"))
    assert doc.pages == 2
    first = [s for s in doc.sections if s.page == 1]
    assert first[0].heading_path == ("Quarterly results",)
    assert "Revenue grew 12 percent" in first[0].text and "Mention the new market." in first[0].text
    second = [s for s in doc.sections if s.page == 2]
    assert second[0].kind == "table" and second[0].heading_path == ("第二部分 数据",)
    assert "| 华北 | 120 |" in second[0].text
