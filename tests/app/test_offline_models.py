"""Offline awareness: a hub id for the embedder, the reranker or the transformers LLM fails at once (not
after ~50 s of retries) with the local-folder way and the offline names, when HF_HUB_OFFLINE is set or
the hub does not answer; `kb create --embedding ID` loads the model before creating the KB; the extractive
fallback for a failed model happens only when asked for, and the answer says so."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from tests.app.test_api import upload, wait_job

HUB_EMBEDDER = "BAAI/bge-small-zh-v1.5"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["HF_HUB_OFFLINE", "hub not answering"])
def offline(request, monkeypatch):
    """Both ways the hub is out of reach: the flag, or an endpoint where nothing listens."""
    from app import hub

    hub._reach.clear()
    if request.param == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    yield request.param
    hub._reach.clear()


def _settings(monkeypatch, **answer):
    monkeypatch.setenv("ZHIDA_EMBEDDING_MODEL", "hashing")
    monkeypatch.delenv("ZHIDA_TOKEN", raising=False)
    monkeypatch.delenv("ZHIDA_LLM", raising=False)
    from app.config import load_settings

    s = load_settings()
    s["answer"].update(answer)
    return s


def test_hub_ids_fail_at_once_naming_the_offline_ways(offline, monkeypatch):
    from app import services
    from app.llms import load_llm
    from app.llms.base import LLMError
    from retrieval.errors import ModelLoadError

    s = _settings(monkeypatch)
    t0 = time.perf_counter()
    with pytest.raises(ModelLoadError) as emb:
        services.embedder_loader(s)(HUB_EMBEDDER)
    with pytest.raises(ModelLoadError) as rr:
        services.reranker_loader(s)("BAAI/bge-reranker-base")
    s["llms"]["transformers"]["model"] = "Qwen/Qwen2.5-1.5B-Instruct"
    with pytest.raises(LLMError) as lm:
        load_llm(s, "transformers")
    assert time.perf_counter() - t0 < 5  # three refusals; sentence-transformers alone imports slower than that
    for exc in (emb, rr, lm):
        msg = str(exc.value)
        assert "hub cannot be reached" in msg and "--local-dir" in msg and "path instead of the id" in msg
        assert ("HF_HUB_OFFLINE is set" in msg) == (offline == "HF_HUB_OFFLINE")
    assert "e5-small" in str(emb.value) and "--no-rerank" in str(rr.value) and "llamacpp" in str(lm.value)


def test_a_local_folder_and_the_offline_names_still_load(offline, monkeypatch, tiny_models):
    from app import services

    s = _settings(monkeypatch)
    assert services.embedder_loader(s)(tiny_models["embedder"]).dim == 32
    assert services.embedder_loader(s)("hashing:64").dim == 64


def test_kb_create_refuses_a_model_that_cannot_load_before_creating_it(zhida_home):
    env = {"ZHIDA_HOME": str(zhida_home), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "app.cli", "kb", "create", "hr", "--embedding", HUB_EMBEDDER],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: cannot load embedding model 'BAAI/bge-small-zh-v1.5'")
    assert "Traceback" not in out.stderr and not (zhida_home / "kbs" / "hr").exists()


def test_api_refuses_the_kb_the_rerank_and_the_llm_with_reasons(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from app.server import create_app

    s = _settings(monkeypatch)
    s["llms"]["transformers"]["model"] = "Qwen/Qwen2.5-1.5B-Instruct"
    with TestClient(create_app(s, ui=False)) as c:
        r = c.post("/api/kbs", json={"name": "bge", "embedding_model": HUB_EMBEDDER})
        assert r.status_code == 400 and r.json()["error"]["type"] == "model_unavailable"
        assert "local-dir" in r.json()["error"]["message"]
        assert [k["name"] for k in c.get("/api/kbs").json()["kbs"]] == []  # nothing half-created
        assert c.post("/api/kbs", json={"name": "hr"}).status_code == 201
        job = upload(c, "hr", [("leave.txt", "年假有十五天。".encode())]).json()["job_id"]
        assert wait_job(c, job)["status"] == "done"
        t0 = time.perf_counter()
        r = c.post("/api/kbs/hr/chat", json={"question": "年假有几天？", "rerank": True})
        assert r.status_code == 400 and "BAAI/bge-reranker-base" in r.json()["error"]["message"]
        r = c.post("/api/kbs/hr/chat", json={"question": "年假有几天？", "llm": "transformers"})
        assert time.perf_counter() - t0 < 5
        assert r.status_code == 503 and r.json()["error"]["type"] == "model_error"
        assert "Qwen/Qwen2.5-1.5B-Instruct" in r.json()["error"]["message"]


@pytest.mark.parametrize("cause", ["cannot load", "server down"])
def test_the_extractive_fallback_only_when_asked_and_then_the_answer_says_so(monkeypatch, cause):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from app.server import create_app

    s = _settings(monkeypatch, fallback_to_extractive=True)
    s["llms"]["transformers"]["model"] = "Qwen/Qwen2.5-1.5B-Instruct"
    s["llms"]["openai"].update(base_url=f"http://127.0.0.1:{_closed_port()}/v1", timeout_s=2)
    llm = "transformers" if cause == "cannot load" else "openai"
    with TestClient(create_app(s, ui=False)) as c:
        assert c.post("/api/kbs", json={"name": "hr"}).status_code == 201
        assert wait_job(c, upload(c, "hr", [("leave.txt", "年假有十五天。".encode())]).json()["job_id"])
        r = c.post("/api/kbs/hr/chat", json={"question": "年假有几天？", "llm": llm})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "extractive" and not body["refused"]
    assert body["answer"].startswith("（语言模型不可用：") and "十五天" in body["answer"]
    assert ("Qwen/Qwen2.5-1.5B-Instruct" if llm == "transformers" else "127.0.0.1") in body["answer"]
