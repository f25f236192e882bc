"""`zhida ask --json` keeps its exact shape; refusals and extractive mode are visible."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture()
def env(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "制度.md").write_text("# 年假\n\n工作满一年不满十年的，年休假五天。满十年的，年休假十天。\n\n# 报销\n\n"
                                   "报销需要在三十天内提交发票。", encoding="utf-8")
    e = dict(os.environ, ZHIDA_HOME=str(tmp_path / "home"), ZHIDA_EMBEDDING_MODEL="hashing")
    out = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(folder), "--kb", "hr"], env=e,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return e


def _ask(env, *args):
    return subprocess.run([sys.executable, "-m", "app.cli", "ask", *args], env=env, capture_output=True, text=True)


def test_ask_json_has_the_documented_shape(env):
    out = _ask(env, "满十年的年休假几天？", "--kb", "hr", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"answer", "mode", "refused", "citations", "timings_ms"}
    assert data["mode"] == "extractive" and data["refused"] is False and "十天" in data["answer"]
    c = data["citations"][0]
    assert set(c) == {"n", "chunk_id", "source", "name", "page", "page_end", "heading", "heading_path", "text",
                      "score"}
    assert len(c["chunk_id"]) == 32  # what the source viewer opens: /api/kbs/hr/chunks/{chunk_id}/view
    assert c["n"] == 1 and c["source"].endswith("制度.md") and c["heading"] == "年假" and c["page"] is None
    assert c["name"] == "制度.md" and c["heading_path"][-1] == "年假" and c["page_end"] is None
    assert {"retrieve", "generate", "total"} <= set(data["timings_ms"])


def test_ask_prints_answer_then_sources(env):
    out = _ask(env, "报销要多久内提交？", "--kb", "hr", "--no-stream")
    assert out.returncode == 0
    assert "三十天" in out.stdout and "[1]" in out.stdout and "制度.md" in out.stdout
    assert "extractive" in out.stderr


def test_unknown_kb_is_one_line_error(env):
    out = _ask(env, "x", "--kb", "nope")
    assert out.returncode == 2 and out.stderr.startswith("error: no knowledge base named 'nope'")


def test_chat_answers_follow_ups_clears_history_and_exits(env):
    lines = "满十年的年休假几天？\n那报销呢？\n/clear\n/exit\n这一行不会被读到\n"
    out = subprocess.run([sys.executable, "-m", "app.cli", "chat", "--kb", "hr"], env=env, input=lines,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "十天" in out.stdout and "三十天" in out.stdout  # the follow-up was answered from the KB
    assert out.stdout.count("Sources") == 2 and "history cleared" in out.stderr
