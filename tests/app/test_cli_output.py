"""The CLI prints data as written: file names, reasons and names are never read as Rich markup; bad
counts are usage errors; links out of a folder are skipped unless --follow-links."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest import builders

ROOT = Path(__file__).resolve().parents[2]


def _zhida(env, *args):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=180, cwd=ROOT)


@pytest.fixture()
def env(tmp_path):
    # wide enough that no table cell wraps a long temporary path
    return dict(os.environ, ZHIDA_HOME=str(tmp_path / "home"), ZHIDA_EMBEDDING_MODEL="hashing", COLUMNS="400")


@pytest.fixture()
def hostile(tmp_path):
    """A folder `a[` holding `x]/` (so a path contains `[/x]`, a closing tag), a file named like markup,
    and a scanned PDF whose reason names the `zhida[ocr]` extra."""
    docs = tmp_path / "docs"
    (docs / "a[" / "x]").mkdir(parents=True)
    (docs / "a[" / "x]" / "doc.txt").write_text("知识库 第一份 markup 文件", encoding="utf-8")
    (docs / "[bold]zhida[ocr] :smile:.txt").write_text("知识库 第二份 文件", encoding="utf-8")
    builders.image_only_pdf(docs / "scan.pdf")
    return docs


def _ocr_hint_expected() -> bool:
    from ingest.loaders import ocr

    return not ocr.available()


def test_ingest_and_kb_show_print_names_and_reasons_as_written(env, hostile):
    out = _zhida(env, "ingest", str(hostile), "--kb", "m")
    assert "MarkupError" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 1  # the scanned PDF failed; the other two went in
    assert "a[/x]/doc.txt" in out.stdout and "[bold]zhida[ocr] :smile:.txt" in out.stdout
    if _ocr_hint_expected():
        assert "pip install zhida[ocr]" in out.stdout
    assert "added 2" in out.stdout
    for argv in (["kb", "show", "m"], ["kb", "list"]):
        shown = _zhida(env, *argv)
        assert shown.returncode == 0 and "MarkupError" not in shown.stderr, shown.stderr
    shown = _zhida(env, "kb", "show", "m")
    assert "a[/x]/doc.txt" in shown.stdout and "[bold]zhida[ocr] :smile:.txt" in shown.stdout
    if _ocr_hint_expected():
        assert "pip install zhida[ocr]" in shown.stdout


def test_search_ask_and_parse_print_names_as_written(env, hostile):
    _zhida(env, "ingest", str(hostile), "--kb", "m")
    found = _zhida(env, "search", "知识库", "--kb", "m", "--mode", "sparse")
    assert found.returncode == 0, found.stderr
    assert "a[/x]/doc.txt" in found.stdout and "[bold]zhida[ocr] :smile:.txt" in found.stdout
    asked = _zhida(env, "ask", "知识库 第二份", "--kb", "m", "--llm", "extractive", "--no-stream")
    assert asked.returncode == 0, asked.stderr
    assert "[bold]zhida[ocr] :smile:.txt" in asked.stdout
    parsed = _zhida(env, "parse", str(hostile / "a[" / "x]" / "doc.txt"), str(hostile / "scan.pdf"))
    assert "a[/x]/doc.txt" in parsed.stdout
    if _ocr_hint_expected():
        assert "zhida[ocr]" in parsed.stderr


def test_eval_prints_a_dataset_name_as_written(env, tmp_path):
    ds = tmp_path / "[bold]set"
    ds.mkdir()
    (ds / "corpus.jsonl").write_text("\n".join(json.dumps({"id": f"p{i}", "text": f"第{i}段 知识 topic{i}"},
                                                          ensure_ascii=False) for i in range(3)), encoding="utf-8")
    (ds / "queries.jsonl").write_text(json.dumps({"id": "q1", "question": "topic1", "gold_ids": ["p1"]}),
                                      encoding="utf-8")
    out = _zhida(env, "eval", str(ds), "--mode", "sparse", "--fresh")
    assert out.returncode == 0, out.stderr
    assert "[bold]set" in out.stdout


@pytest.mark.parametrize("argv", [["search", "知识库", "-k", "-3"], ["search", "知识库", "-k", "0"],
                                  ["ask", "知识库", "-k", "-1", "--llm", "extractive"]])
def test_a_count_below_one_is_a_usage_error_not_results(env, hostile, argv):
    _zhida(env, "ingest", str(hostile), "--kb", "m")
    out = _zhida(env, *argv, "--kb", "m")
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Invalid value for '-k'" in out.stderr and "doc.txt" not in out.stdout


def test_links_out_of_the_folder_are_skipped_unless_follow_links(env, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("TOPSECRET 外面的文件", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "in.txt").write_text("里面的文件", encoding="utf-8")
    os.symlink(outside, docs / "passwd.txt")
    out = _zhida(env, "ingest", str(docs), "--kb", "l")
    assert out.returncode == 0, out.stderr
    assert "skipped 1" in out.stdout and "outside the folders being ingested" in out.stdout
    assert "no matching passages" in _zhida(env, "search", "TOPSECRET", "--kb", "l", "--mode", "sparse").stdout
    out = _zhida(env, "ingest", str(docs), "--kb", "l", "--follow-links", "--json")
    files = {Path(f["path"]).name: f["status"] for f in json.loads(out.stdout)["files"]}
    assert files["passwd.txt"] == "added"
    assert "passwd.txt" in _zhida(env, "search", "TOPSECRET", "--kb", "l", "--mode", "sparse").stdout
