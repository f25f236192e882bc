"""Every document in ../shared/data/docs does what manifest.json says it must."""
from __future__ import annotations

import json
import re

import pytest

import ingest
from tests.conftest import SHARED_DOCS, require_shared

CJK_SPACE = re.compile(r"[\u4e00-\u9fff] [\u4e00-\u9fff]")


def _manifest() -> dict:
    path = SHARED_DOCS / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _text(doc) -> str:
    return "\n".join(s.text for s in doc.sections)


# Files that must parse (with no password and without OCR): name -> phrases the text must contain.
PARSES = {
    "zh_civil_code.pdf": ["民事主体从事民事活动，应当遵循诚信原则"],
    "zh_civil_code.docx": ["民事主体从事民事活动，应当遵循诚信原则"],
    "zh_wiki_gbk.txt": ["泡泡战士", "韩国Nexon开发与发行"],
    "zh_wiki_big5.txt": ["梵語的學術研究"],
    "zh_wiki_utf16.txt": ["乍都节公园"],
    "zh_wiki.md": ["尤金袋鼠"],
    "zh_wiki_trad.html": ["梵語的學術研究"],
    "en_federal_register.pdf": ["AGENCY: Federal Aviation Administration (FAA), DOT."],
    "en_table_nics.pdf": ["Alabama"],
    "en_scotus_transcript.pdf": ["The above-entitled matter came on for oral argument"],
    "en_tables.docx": [],
    "damaged_recoverable_zen.pdf": ["Beautiful is better than ugly.", "Readability counts."],
    "bad_malformed.pdf": [],
}


def test_manifest_lists_only_files_covered_here():
    manifest = _manifest()
    if not manifest:
        require_shared(SHARED_DOCS / "manifest.json")
    covered = set(PARSES) | {"zh_scanned_civil_code_p10-11.pdf", "bad_encrypted_password_test.pdf", "en_images.docx"}
    assert set(manifest) <= covered, f"new shared docs without a test: {set(manifest) - covered}"


@pytest.mark.parametrize("name", sorted(PARSES))
def test_shared_document_parses_with_expected_text(parsed_shared, name):
    doc = parsed_shared(name)
    text = _text(doc)
    for phrase in PARSES[name]:
        assert phrase in text
    assert doc.sections


def test_civil_code_pdf_has_no_spaces_between_chinese_characters(parsed_shared):
    doc = parsed_shared("zh_civil_code.pdf")
    bad = CJK_SPACE.findall(_text(doc))
    assert not bad, bad[:5]


@pytest.mark.parametrize("name", ["zh_civil_code.pdf", "zh_civil_code.docx"])
def test_civil_code_articles_keep_their_bian_zhang_jie_heading_path(parsed_shared, name):
    doc = parsed_shared(name)
    art = next(s for s in doc.sections if "第十三条" in s.text and "自然人从出生时起" in s.text)
    assert art.heading_path[-3:] == ("第一编 总则", "第二章 自然人", "第一节 民事权利能力和民事行为能力")
    contract = next(s for s in doc.sections if "第四百六十九条" in s.text)
    assert contract.heading_path[-3:] == ("第三编 合同", "第一分编 通则", "第二章 合同的订立")


def test_civil_code_pdf_pages_are_one_based_and_cover_the_document(parsed_shared):
    doc = parsed_shared("zh_civil_code.pdf")
    assert doc.pages == 141
    assert doc.sections[0].page == 1
    assert max(s.page_end or s.page for s in doc.sections) == 141
    art = next(s for s in doc.sections if "第一条" in s.text[:10])
    assert art.page == 5


def test_federal_register_reads_columns_in_order(parsed_shared):
    text = _text(parsed_shared("en_federal_register.pdf"))
    # column 1 of page 1 runs into column 2: the ADDRESSES list, then "For Boeing service information"
    assert text.index("ADDRESSES: You may send comments") < text.index("Federal eRulemaking Portal") < text.index(
        "For Boeing service information")
    assert "Federal Register / Vol. 85" not in text  # running header removed
    # footnotes at the column foot wait for the section's end instead of splitting the sentence
    assert "the FAA also proposes to require operators to conduct an AOA sensor system test" in text
    assert "VerDate" not in text and "jbell on DSKJLSW7X2PROD" not in text


def test_scotus_line_numbers_do_not_pollute_the_text(parsed_shared):
    text = _text(parsed_shared("en_scotus_transcript.pdf"))
    assert not re.search(r"(^|\n)\d{1,2}(\n|$)", text)
    assert not re.search(r"\b(1 2 3|23 24 25)\b", text)
    assert "on behalf of the Petitioner" in text


def test_nics_table_is_a_markdown_table_with_one_row_per_state(parsed_shared):
    doc = parsed_shared("en_table_nics.pdf")
    tables = [s for s in doc.sections if s.kind == "table"]
    assert len(tables) == 1
    rows = tables[0].text.splitlines()
    assert any(r.startswith("| State / Territory |") for r in rows)
    assert any(r.startswith("| Alabama | 18,870 |") for r in rows)
    assert any(r.startswith("| Wyoming |") for r in rows)
    prose = " ".join(s.text for s in doc.sections if s.kind != "table")
    assert "Alabama" not in prose


def test_tables_docx_keeps_its_three_empty_tables_in_order_and_says_so(parsed_shared):
    doc = parsed_shared("en_tables.docx")
    tables = [s for s in doc.sections if s.kind == "table"]
    assert [t.text.count("\n") + 1 for t in tables] == [3, 4, 3]  # header + separator + rows
    assert tables[0].text.startswith("| | |")
    assert any("no text" in w for w in doc.warnings)


def test_images_docx_holds_only_pictures_so_it_is_empty_without_ocr(monkeypatch):
    from ingest.loaders import ocr

    monkeypatch.setattr(ocr, "available", lambda: False)
    with pytest.raises(ingest.EmptyFile) as info:
        ingest.load_document(require_shared(SHARED_DOCS / "en_images.docx"))
    assert "image" in info.value.reason


def test_html_page_drops_script_nav_footer(parsed_shared):
    doc = parsed_shared("zh_wiki_trad.html")
    text = _text(doc)
    assert "tracking" not in text and "首页" not in text and "版权所有" not in text
    assert all(s.heading_path == ("梵文",) for s in doc.sections)


def test_markdown_headings_become_heading_paths(parsed_shared):
    doc = parsed_shared("zh_wiki.md")
    assert [s.heading_path for s in doc.sections] == [("泡泡战士",), ("尤金袋鼠",), ("松平康忠",)]


def test_encrypted_shared_pdf_needs_password_test():
    path = require_shared(SHARED_DOCS / "bad_encrypted_password_test.pdf")
    with pytest.raises(ingest.EncryptedFile):
        ingest.load_document(path)
    doc = ingest.load_document(path, ingest.LoadOptions(password="test"))
    assert "Backup4all" in _text(doc)


def test_damaged_pdf_is_repaired_with_a_warning(parsed_shared):
    doc = parsed_shared("damaged_recoverable_zen.pdf")
    assert any("damaged" in w for w in doc.warnings)


def test_scanned_pdf_without_ocr_is_empty_and_names_the_extra(monkeypatch):
    from ingest.loaders import ocr

    monkeypatch.setattr(ocr, "available", lambda: False)
    with pytest.raises(ingest.EmptyFile) as info:
        ingest.load_document(require_shared(SHARED_DOCS / "zh_scanned_civil_code_p10-11.pdf"))
    assert "pip install zhida[ocr]" in info.value.reason


@pytest.mark.slow
def test_scanned_pdf_with_ocr_reads_the_articles(parsed_shared):
    pytest.importorskip("rapidocr_onnxruntime", reason="the ocr extra (rapidocr-onnxruntime) is not installed")
    text = _text(parsed_shared("zh_scanned_civil_code_p10-11.pdf", ocr=True))
    assert "第四十二条" in text and "失踪人的财产" in text
