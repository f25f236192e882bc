"""POST /v1/embeddings: OpenAI's shape, Zhida's own vectors, the server's auth rules and limits."""
from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

TOKEN = "embed-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(server_settings):
    s = server_settings
    s["server"]["embeddings"] = {"max_inputs": 4, "max_input_chars": 200}
    return s


@pytest.fixture
def client(settings):
    from app.server import create_app

    with TestClient(create_app(settings, token=TOKEN, ui=False)) as c:
        yield c


def _stored_vectors(kb) -> dict[str, np.ndarray]:
    """Chunk text -> the vector kb.sqlite holds for it (a .txt has no headings: the text is what was embedded)."""
    rows = kb.conn.execute("SELECT text, heading_path, vector FROM chunks").fetchall()
    assert all(h == "[]" for _t, h, _v in rows)
    return {t: np.frombuffer(v, dtype=np.float32) for t, _h, v in rows}


def test_vectors_are_the_ones_zhida_stores_and_searches_with(client, settings, tmp_path):
    from app import services

    doc = tmp_path / "a.txt"
    doc.write_text("住宿标准为每晚不超过五百元。\n\nHotels cost at most 500 yuan a night.", encoding="utf-8")
    kb = services.catalog(settings).create("emb")
    kb.ingest([doc])
    (text, stored), = _stored_vectors(kb).items()

    r = client.post("/v1/embeddings", json={"input": [text, "年假几天？"], "model": "hashing"}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["model"] == "hashing" and body["usage"]["total_tokens"] > 0
    assert [d["index"] for d in body["data"]] == [0, 1] and body["data"][0]["object"] == "embedding"
    got = np.array(body["data"][0]["embedding"], dtype=np.float32)
    assert got.shape == stored.shape and np.allclose(got, stored, atol=1e-6)

    emb = services.embedder_loader(settings)("hashing")
    q = client.post("/v1/embeddings", json={"input": "年假几天？", "input_type": "query", "encoding_format": "base64"},
                    headers=AUTH).json()["data"][0]["embedding"]
    assert np.allclose(np.frombuffer(base64.b64decode(q), dtype="<f4"), emb.embed_query("年假几天？"), atol=1e-6)


def test_the_openai_client_gets_the_same_vectors(settings):
    openai = pytest.importorskip("openai", reason="the openai client is not installed")
    from app import services
    from app.server import create_app
    from tests.app.live import live_server

    texts = ["报销需要在三十天内提交发票。", "Remote work two days a week."]
    want = services.embedder_loader(settings)("hashing").embed_documents(texts)
    with live_server(create_app(settings, token=TOKEN, ui=False), settings) as (base, _):
        c = openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
        res = c.embeddings.create(model="zhida", input=texts)  # the client asks for base64 by default
        assert [d.index for d in res.data] == [0, 1] and res.model == "hashing"
        assert np.allclose(np.array([d.embedding for d in res.data], dtype=np.float32), want, atol=1e-6)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base + "/v1", api_key="wrong-token-xyz", max_retries=0).embeddings.create(
                model="zhida", input="x")


def test_limits_auth_and_bad_input_are_refused_with_a_reason(client):
    def post(body, headers=AUTH):
        r = client.post("/v1/embeddings", json=body, headers=headers)
        return r.status_code, r.json().get("error", {})

    assert post({"input": "x"}, headers={})[0] == 401
    assert client.post("/v1/embeddings", json={"input": "x"}, headers={**AUTH, "Origin": "http://evil.example"}
                       ).status_code == 403
    status, err = post({"input": ["a"] * 5})
    assert status == 400 and err["type"] == "too_many_inputs" and "limit 4" in err["message"]
    status, err = post({"input": ["ok", "x" * 201]})
    assert status == 400 and err["type"] == "input_too_long" and "input[1]" in err["message"]
    assert post({"input": [[1, 2, 3]]})[1]["message"].startswith("input must be text")
    assert post({"input": []})[0] == 400 and post({"input": ["  "]})[1]["message"] == "input[0] is empty"
    status, err = post({"input": "x", "model": "text-embedding-3-small"})
    assert status == 404 and err["type"] == "model_not_found" and "'hashing'" in err["message"]
    assert post({"input": "x", "dimensions": 12})[0] == 400
    info = client.get("/v1/embeddings/model", headers=AUTH).json()
    assert info["id"] == "hashing" and info["dimension"] == 256


@pytest.mark.slow
def test_default_e5_model_serves_passage_and_query_vectors(monkeypatch, zhida_home):
    """The real default model: e5 prefixes passages and queries differently, and both match Zhida's."""
    monkeypatch.delenv("ZHIDA_EMBEDDING_MODEL", raising=False)
    from app import services
    from app.config import load_settings
    from app.server import create_app

    s = load_settings()
    name = services.index_settings(s).embedding_model
    emb = services.embedder_loader(s)(name)
    text = "住宿标准为每晚不超过五百元。"
    with TestClient(create_app(s, ui=False)) as c:
        doc = c.post("/v1/embeddings", json={"input": text}).json()
        query = c.post("/v1/embeddings", json={"input": text, "input_type": "query"}).json()
    assert doc["model"] == name and len(doc["data"][0]["embedding"]) == emb.dim
    assert np.allclose(doc["data"][0]["embedding"], emb.embed_documents([text])[0], atol=1e-5)
    assert np.allclose(query["data"][0]["embedding"], emb.embed_query(text), atol=1e-5)
    if name == "e5-small":
        assert not np.allclose(doc["data"][0]["embedding"], query["data"][0]["embedding"], atol=1e-3)
