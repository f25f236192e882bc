"""The OpenAI-compatible remote embedder against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from retrieval import ModelLoadError, load_embedder
from retrieval.remote_embedder import RemoteEmbedder, RemoteSettings, parse_remote_name
from tests.local_server import serving

DIM = 8


def _vector(text: str, dim: int = DIM) -> list[float]:
    raw = hashlib.sha256(text.encode("utf-8")).digest()
    return [float(b) - 127.5 for b in raw[:dim]]  # deterministic, deliberately not normalised


class _Handler(BaseHTTPRequestHandler):
    behaviour = "ok"  # ok | flaky | down | wrong_dim | wrong_count | bad_request | garbage
    failures_left = 0
    requests: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, self.headers.get("Authorization"), body))
        b = type(self).behaviour
        if b == "flaky" and type(self).failures_left > 0:
            type(self).failures_left -= 1
            return self._send(503 if type(self).failures_left else 429, {"error": "busy"})
        if b == "down":
            return self._send(500, {"error": "CUDA out of memory"})
        if b == "bad_request":
            return self._send(404, {"error": f"model {body['model']} not found"})
        if b == "garbage":
            return self._send(200, {"object": "list", "result": []})
        texts = body["input"]
        dim = DIM + 1 if b == "wrong_dim" and len(type(self).requests) > 1 else DIM
        data = [{"object": "embedding", "index": i, "embedding": _vector(t, dim)} for i, t in enumerate(texts)]
        if b == "wrong_count":
            data = data[:-1]
        data.reverse()  # servers may answer out of order; `index` says where each belongs
        self._send(200, {"object": "list", "data": data, "model": body["model"]})

    def _send(self, status: int, payload: dict):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture()
def server():
    _Handler.requests = []
    _Handler.behaviour = "ok"
    with serving(_Handler) as srv:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1"


def _embedder(url, sleeps=None, **kw):
    return RemoteEmbedder("bge-m3", url, api_key="sk-emb", backoff_s=0.01,
                          sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **kw)


def test_batches_normalises_and_keeps_order(server):
    emb = _embedder(server, batch_size=3)
    texts = [f"第{i}段 text {i}" for i in range(7)]
    vecs = emb.embed_documents(texts)
    assert vecs.shape == (7, DIM) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    want = np.asarray([_vector(t) for t in texts], dtype=np.float32)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert np.allclose(vecs, want, atol=1e-6)
    assert [len(r[2]["input"]) for r in _Handler.requests] == [3, 3, 1]
    path, auth, body = _Handler.requests[0]
    assert path == "/v1/embeddings" and auth == "Bearer sk-emb" and body["model"] == "bge-m3"
    assert emb.dim == DIM and emb.embed_query("q").shape == (DIM,)


def test_dim_is_probed_once_when_asked_first(server):
    emb = _embedder(server)
    assert emb.dim == DIM and emb.dim == DIM
    assert len(_Handler.requests) == 1


def test_server_failing_twice_then_succeeding_is_retried_with_backoff(server):
    _Handler.behaviour, _Handler.failures_left = "flaky", 2
    sleeps: list[float] = []
    vecs = _embedder(server, sleeps).embed_documents(["a", "b"])
    assert vecs.shape == (2, DIM)
    assert len(_Handler.requests) == 3
    assert sleeps == pytest.approx([0.01, 0.02])  # exponential


def test_server_always_500_is_a_clear_error_after_retries(server):
    _Handler.behaviour = "down"
    sleeps: list[float] = []
    with pytest.raises(ModelLoadError, match=r"failed 4 times .*HTTP 500.*CUDA out of memory"):
        _embedder(server, sleeps, max_retries=3).embed_documents(["a"])
    assert len(_Handler.requests) == 4 and len(sleeps) == 3


def test_client_errors_are_not_retried(server):
    _Handler.behaviour = "bad_request"
    with pytest.raises(ModelLoadError, match="HTTP 404.*not found"):
        _embedder(server).embed_documents(["a"])
    assert len(_Handler.requests) == 1


@pytest.mark.parametrize("behaviour, message", [
    ("wrong_dim", "9-dim vectors .* expected 8"),
    ("wrong_count", "returned 1 vectors .* for 2 texts"),
    ("garbage", "not an embeddings list"),
])
def test_wrong_shapes_are_clear_errors(server, behaviour, message):
    emb = _embedder(server)
    if behaviour == "wrong_dim":
        emb.embed_documents(["first"])  # learns dim 8
    _Handler.behaviour = behaviour
    with pytest.raises(ModelLoadError, match=message):
        emb.embed_documents(["a", "b"])


def test_unreachable_server_is_retried_then_named():
    sleeps: list[float] = []
    emb = RemoteEmbedder("m", "http://127.0.0.1:9/v1", max_retries=2, backoff_s=0.01, timeout_s=2,
                         sleep=sleeps.append)
    with pytest.raises(ModelLoadError, match=r"http://127.0.0.1:9/v1 failed 3 times .*ConnectError"):
        emb.embed_query("x")
    assert len(sleeps) == 2


def test_names_and_load_embedder(server):
    assert parse_remote_name("openai:bge-m3@http://gpu:9997/v1/") == ("bge-m3", "http://gpu:9997/v1")
    assert parse_remote_name("openai:bge-m3", "http://h/v1") == ("bge-m3", "http://h/v1")
    with pytest.raises(ModelLoadError, match="needs a server"):
        parse_remote_name("openai:bge-m3")
    emb = load_embedder("openai:bge-m3", remote=RemoteSettings(base_url=server, batch_size=2, api_key="k"))
    assert emb.model_id == "openai:bge-m3" and emb.batch_size == 2 and emb.dim == DIM


def test_app_wiring_reads_the_key_from_the_named_env_var(server, monkeypatch):
    from app import services

    monkeypatch.setenv("MY_EMB_KEY", "sk-from-env")
    s = {"embedding": {"remote": {"base_url": server, "api_key_env": "MY_EMB_KEY", "batch_size": 5}}}
    remote = services.remote_embedding_settings(s)
    assert remote.api_key == "sk-from-env" and remote.batch_size == 5 and remote.base_url == server


def test_a_knowledge_base_ingests_and_searches_with_remote_embeddings(server, tmp_path):
    from knowledge import Catalog, IndexSettings

    cat = Catalog(tmp_path / "home", defaults=IndexSettings(f"openai:bge-m3@{server}"),
                  embedder_loader=lambda name: load_embedder(name, remote=RemoteSettings(batch_size=4)))
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"d{i}.txt").write_text(f"文档{i}：远程嵌入服务的第{i}条说明。", encoding="utf-8")
    kb = cat.create("remote")
    assert kb.ingest([docs]).summary()["added"] == 5
    assert kb.stats()["dim"] == DIM
    hits = kb.search("文档3：远程嵌入服务的第3条说明。", k=1, mode="dense")
    assert hits and hits[0].source.endswith("d3.txt")
