"""PDF loader on generated documents: CJK joining, headings, columns, furniture, tables, passwords, scans."""
from __future__ import annotations

import re

import pytest

import ingest
from ingest.errors import EmptyFile, EncryptedFile
from tests.ingest import builders

CJK_SPACE = re.compile(r"[\u4e00-\u9fff] [\u4e00-\u9fff]")


def test_chinese_pdf_joins_wrapped_lines_without_spaces_and_keeps_heading_path(docs_dir):
    doc = ingest.load_document(builders.cjk_pdf(docs_dir / "民法典 示例.pdf"))
    text = "\n".join(s.text for s in doc.sections)
    assert not CJK_SPACE.search(text)
    assert "维护社会和经济秩序，适应中国特色社会主义发展要求" in text  # wrapped mid-sentence in the PDF
    first = doc.sections[0]
    assert first.heading_path == ("第一编 总则", "第一章 基本规定")
    assert first.text.startswith("第一条")
    second = [s for s in doc.sections if "第十三条" in s.text][0]
    assert second.heading_path == ("第一编 总则", "第二章 自然人")


def test_sentence_running_on_to_the_next_page_is_joined_and_pages_are_tracked(docs_dir):
    doc = ingest.load_document(builders.cjk_pdf(docs_dir / "c.pdf"))
    first = doc.sections[0]
    assert "一律平等，任何人不得享有特权。" in first.text
    assert (first.page, first.page_end) == (1, 2)
    offset_page2 = dict((p, o) for o, p in first.page_spans)[2]
    assert first.text[offset_page2:].startswith("任何人")


def test_repeated_header_footer_and_page_numbers_are_removed(docs_dir):
    doc = ingest.load_document(builders.cjk_pdf(docs_dir / "c.pdf"))
    text = "\n".join(s.text for s in doc.sections)
    assert "民法典（示例）" not in text
    assert not re.search(r"(^|\n)\d(\n|$)", text)


def test_two_columns_read_left_then_right_with_hyphenation_mended(docs_dir):
    doc = ingest.load_document(builders.english_pdf(docs_dir / "e.pdf"))
    page1 = "\n".join(s.text for s in doc.sections if s.page == 1)
    assert page1.index("Left column of page 1") < page1.index("The left column ends") < page1.index("Right column of page 1")
    assert "complicated enough" in page1 and "compli-" not in page1
    assert "ACME Quarterly Report" not in page1 and "Page 1" not in page1
    assert doc.sections[0].heading_path == ("Section 1 Overview",)


def test_ruled_table_is_markdown_and_not_repeated_as_prose(docs_dir):
    doc = ingest.load_document(builders.table_pdf(docs_dir / "t.pdf"))
    kinds = [s.kind for s in doc.sections]
    assert kinds == ["text", "table", "text"]
    table = doc.sections[1].text
    assert table.splitlines()[0] == "| Fruit | Colour | Price |"
    assert "| Banana | Yellow | 0.50 |" in table
    prose = " ".join(s.text for s in doc.sections if s.kind == "text")
    assert "Banana" not in prose


def test_encrypted_pdf_needs_the_password(docs_dir):
    path = builders.encrypted_pdf(docs_dir / "secret.pdf", "s3cret")
    with pytest.raises(EncryptedFile) as info:
        ingest.load_document(path)
    assert "password" in info.value.reason
    with pytest.raises(EncryptedFile, match="wrong password"):
        ingest.load_document(path, ingest.LoadOptions(password="nope"))
    doc = ingest.load_document(path, ingest.LoadOptions(password="s3cret"))
    assert "launch codes" in doc.sections[0].text


def test_scanned_page_without_ocr_is_an_empty_file_naming_the_ocr_extra(docs_dir):
    path = builders.image_only_pdf(docs_dir / "scan.pdf")
    with pytest.raises(EmptyFile) as info:
        ingest.load_document(path, ingest.LoadOptions(ocr=False))
    assert "scanned" in info.value.reason


def test_mixed_document_warns_about_its_scanned_pages(docs_dir, monkeypatch):
    import pymupdf

    from ingest.loaders import ocr

    monkeypatch.setattr(ocr, "available", lambda: False)
    scan = builders.image_only_pdf(docs_dir / "scan.pdf")
    text = builders.table_pdf(docs_dir / "t.pdf")
    merged = pymupdf.open(text)
    merged.insert_pdf(pymupdf.open(scan))
    merged.save(docs_dir / "mixed.pdf")
    doc = ingest.load_document(docs_dir / "mixed.pdf")
    assert any("zhida[ocr]" in w and "page 2" in w for w in doc.warnings)


def test_ocr_reads_a_scanned_page_when_rapidocr_is_installed(docs_dir):
    pytest.importorskip("rapidocr_onnxruntime", reason="the ocr extra (rapidocr-onnxruntime) is not installed")
    path = builders.image_only_pdf(docs_dir / "scan.pdf")
    doc = ingest.load_document(path, ingest.LoadOptions(ocr=True))
    text = "".join(s.text for s in doc.sections)
    assert "失踪人的财产" in text
    assert any("OCR" in w for w in doc.warnings)


def test_mupdf_font_warnings_are_not_reported_as_damage():
    """A good CJK PDF made MuPDF say 'cannot encode character' while extracting; that is not a repaired file."""
    from ingest.loaders.pdf import _is_damage

    assert not _is_damage("cannot encode character")
    assert not _is_damage("  ")
    assert _is_damage("trying to repair broken xref")
    assert _is_damage("ignoring zlib error: incorrect data check")
