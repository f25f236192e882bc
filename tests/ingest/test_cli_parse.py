"""`zhida parse` driven through the real entry point in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.ingest import builders

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "parse", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_parse_prints_sections_with_page_and_heading_path(docs_dir):
    pdf = builders.cjk_pdf(docs_dir / "民法 典.pdf")
    result = _run(str(pdf))
    assert result.returncode == 0, result.stderr
    assert "第一编 总则 > 第一章 基本规定" in result.stdout
    assert "p.1-2" in result.stdout
    assert "Traceback" not in result.stderr


def test_parse_json_lines_for_sections_and_chunks(docs_dir):
    md = docs_dir / "a b.md"
    md.write_text("# 标题\n\n" + "这是一个句子。" * 100 + "\n", encoding="utf-8")
    result = _run("--json", str(md))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records and {"source", "page", "page_end", "heading_path", "kind", "text"} <= set(records[0])
    assert records[0]["heading_path"] == ["标题"]
    result = _run("--json", "--chunks", "--chunk-size", "100", "--chunk-overlap", "10", str(md))
    chunks = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(chunks) > 5
    assert {"id", "position", "char_start", "char_end", "section_index"} <= set(chunks[0])
    assert all(len(c["text"]) <= 100 for c in chunks)


def test_broken_files_are_reported_and_the_rest_still_parse(docs_dir):
    good = docs_dir / "good.txt"
    good.write_text("fine text", encoding="utf-8")
    empty = docs_dir / "empty.txt"
    empty.write_bytes(b"")
    locked = builders.encrypted_pdf(docs_dir / "locked.pdf", "pw")
    result = _run(str(empty), str(locked), str(docs_dir / "missing.docx"), str(good))
    assert result.returncode == 1
    assert "fine text" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert f"error: {empty}: empty: the file is empty (0 bytes)" in lines
    assert any(line.startswith(f"error: {locked}: encrypted: ") for line in lines)
    assert any(line.startswith(f"error: {docs_dir / 'missing.docx'}: missing: ") for line in lines)
    assert "Traceback" not in result.stderr
    ok = _run("--password", "pw", str(locked))
    assert ok.returncode == 0 and "launch codes" in ok.stdout


def test_warnings_go_to_stderr(docs_dir):
    fake = docs_dir / "page.pdf"
    fake.write_text("<html><body><p>hello</p></body></html>", encoding="utf-8")
    result = _run(str(fake))
    assert result.returncode == 0
    assert "warning:" in result.stderr and "hello" in result.stdout and "warning:" not in result.stdout
