"""Files that cannot be read fail with a typed error and a one-line reason, never a traceback."""
from __future__ import annotations

import codecs
import os

import pytest

import ingest
from ingest.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedFile,
    FileTooLarge,
    IngestError,
    UndecodableFile,
    UnsupportedFile,
)
from tests.ingest import builders


def _one_line(exc: IngestError) -> str:
    assert exc.reason and "\n" not in exc.reason
    return exc.reason


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.md"])
def test_zero_byte_files_are_empty(docs_dir, name):
    (docs_dir / name).write_bytes(b"")
    with pytest.raises(EmptyFile) as info:
        ingest.load_document(docs_dir / name)
    assert "0 bytes" in _one_line(info.value)


@pytest.mark.parametrize("name", ["blank.txt", "blank.md", "blank.csv"])
def test_whitespace_only_files_are_empty(docs_dir, name):
    (docs_dir / name).write_text(" \n\t\r\n  \u3000\n", encoding="utf-8")
    with pytest.raises(EmptyFile):
        ingest.load_document(docs_dir / name)


def test_size_is_checked_before_the_file_is_read(docs_dir, monkeypatch):
    big = docs_dir / "big.unknownext"
    big.write_bytes(b"x" * 2048)
    from pathlib import Path

    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read before the size check"))
    with pytest.raises(FileTooLarge) as info:
        ingest.load_document(big, ingest.LoadOptions(max_bytes=1024))
    assert "limit" in _one_line(info.value)


def test_unknown_type_lists_the_supported_types(docs_dir):
    (docs_dir / "notes.xyz").write_text("hello", encoding="utf-8")
    with pytest.raises(UnsupportedFile) as info:
        ingest.load_document(docs_dir / "notes.xyz")
    reason = _one_line(info.value)
    assert ".xyz" in reason and ".pdf" in reason and ".docx" in reason


@pytest.mark.parametrize("suffix, builder", [(".docx", builders.sample_docx), (".xlsx", builders.sample_xlsx),
                                             (".pptx", builders.sample_pptx), (".pdf", builders.table_pdf)])
def test_truncated_office_and_pdf_files_are_corrupt(docs_dir, suffix, builder):
    full = builder(docs_dir / f"full{suffix}")
    data = full.read_bytes()
    cut = docs_dir / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 3] if suffix != ".pdf" else data[:200])
    with pytest.raises(CorruptFile) as info:
        ingest.load_document(cut)
    _one_line(info.value)


def test_html_named_pdf_is_parsed_as_html_with_a_warning(docs_dir):
    fake = docs_dir / "report.pdf"
    fake.write_text("<!DOCTYPE html><html><body><p>Actually a web page.</p></body></html>", encoding="utf-8")
    doc = ingest.load_document(fake)
    assert doc.format == "html"
    assert doc.sections[0].text == "Actually a web page."
    assert any(".pdf" in w and "html" in w for w in doc.warnings)


def test_text_named_pdf_is_refused_and_never_reaches_pymupdf(docs_dir):
    fake = docs_dir / "notes.pdf"
    fake.write_text("just some text", encoding="utf-8")
    with pytest.raises(CorruptFile, match="not a valid PDF"):
        ingest.load_document(fake)


def test_pdf_named_txt_is_parsed_as_pdf(docs_dir):
    real = builders.table_pdf(docs_dir / "t.pdf")
    renamed = docs_dir / "t.txt"
    renamed.write_bytes(real.read_bytes())
    doc = ingest.load_document(renamed)
    assert doc.format == "pdf" and any(s.kind == "table" for s in doc.sections)


def test_image_named_txt_is_corrupt_and_binary_txt_is_undecodable(docs_dir):
    (docs_dir / "pic.txt").write_bytes(builders.png_bytes())
    with pytest.raises(CorruptFile, match="PNG"):
        ingest.load_document(docs_dir / "pic.txt")
    (docs_dir / "blob.txt").write_bytes(b"abc\x00\x01\x02" * 100)
    with pytest.raises(UndecodableFile):
        ingest.load_document(docs_dir / "blob.txt")


def test_password_protected_office_file_is_encrypted(docs_dir):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 512
    (docs_dir / "locked.docx").write_bytes(ole)
    with pytest.raises(EncryptedFile):
        ingest.load_document(docs_dir / "locked.docx")


def test_legacy_doc_without_libreoffice_says_how_to_fix_it(docs_dir, monkeypatch):
    from ingest.loaders import legacy

    monkeypatch.setattr(legacy, "find_soffice", lambda: None)
    (docs_dir / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024)
    with pytest.raises(UnsupportedFile) as info:
        ingest.load_document(docs_dir / "old.doc")
    assert _one_line(info.value) == "legacy Word .doc is not supported without LibreOffice; save it as .docx"


def test_missing_file_and_folder(docs_dir):
    with pytest.raises(ingest.MissingFile):
        ingest.load_document(docs_dir / "nope.txt")
    with pytest.raises(UnsupportedFile, match="folder"):
        ingest.load_document(docs_dir)


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_and_device_are_not_regular_files_not_empty_ones(docs_dir):
    """Both stat as 0 bytes, so they were reported as "the file is empty"."""
    os.mkfifo(docs_dir / "pipe.txt")
    with pytest.raises(UnsupportedFile, match=r"not a regular file \(a FIFO\)"):
        ingest.load_document(docs_dir / "pipe.txt")
    if os.path.exists("/dev/zero"):
        with pytest.raises(UnsupportedFile, match=r"not a regular file \(a device\)"):
            ingest.load_document("/dev/zero")


@pytest.mark.parametrize("name", ["my notes (final) v2.txt", "中文 文件名 ✓.md", "-starts-with-dash.txt", "tab\tname.txt"])
def test_hostile_file_names_load(docs_dir, name):
    path = docs_dir / name
    path.write_bytes(codecs.BOM_UTF8 + "内容 content\n".encode("utf-8"))
    doc = ingest.load_document(path)
    assert doc.sections[0].text == "内容 content"
    assert doc.source == str(path)


def test_sniff_format_and_supported_suffixes(docs_dir):
    assert {".pdf", ".docx", ".txt", ".md", ".html", ".csv", ".xlsx", ".pptx"} <= ingest.supported_suffixes()
    pdf = builders.table_pdf(docs_dir / "t.bin")
    assert ingest.sniff_format(pdf) == "pdf"
    assert ingest.sniff_format(builders.sample_docx(docs_dir / "d.zip")) == "docx"
    (docs_dir / "plain.txt").write_text("hello", encoding="utf-8")
    assert ingest.sniff_format(docs_dir / "plain.txt") is None
