"""Issue 12 item 1: the loopback server answers only to its own Host names, takes writes only from its own
origin, keeps Gradio's CORS away from every page, and will not point an API-created KB at a new host.

In-process (TestClient) for the header rules; tests/browser/test_cross_origin.py drives the same attacks
from real pages in Chromium.
"""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.origin import normalise_origin, split_host
from tests.app.test_api_errors import client, settings  # noqa: F401 (fixtures: hashing KB 'kb', no token)

OWN = "http://testserver"


def test_header_parsing():
    assert split_host("127.0.0.1:7860") == ("127.0.0.1", 7860)
    assert split_host("[::1]:7860") == ("::1", 7860)
    assert split_host("LocalHost.") == ("localhost", None)
    assert split_host("a b:c") == split_host("x:99999") == split_host("[::1") == ("", None)  # refused as no host
    assert normalise_origin("http://localhost") == "http://localhost:80"
    assert normalise_origin("null") is None and normalise_origin("file:///x") is None


@pytest.mark.parametrize("host", ["attacker.example:7860", "attacker.example", "127.0.0.1.nip.io:7860", ""])
def test_dns_rebinding_host_names_are_refused(client, host):
    r = client.get("/api/kbs", headers={"host": host})
    assert r.status_code == 400, (host, r.status_code)
    assert r.json()["error"]["type"] == "host_not_allowed"
    assert client.post("/api/kbs", json={"name": "evil"}, headers={"host": host}).status_code == 400
    assert client.get("/api/kbs/evil").status_code == 404


@pytest.mark.parametrize("host", ["127.0.0.1:7860", "localhost:7860", "[::1]:7860", "192.168.1.5:7860",
                                  "testserver"])
def test_loopback_names_ip_literals_and_the_connected_address_are_answered(client, host):
    assert client.get("/api/kbs", headers={"host": host}).status_code == 200


def test_configured_allowed_hosts_are_answered(settings):
    from app.server import create_app

    settings["server"]["allowed_hosts"] = ["zhida.lan"]
    with TestClient(create_app(settings, ui=False)) as c:
        assert c.get("/api/kbs", headers={"host": "zhida.lan:7860"}).status_code == 200
        assert c.get("/api/kbs", headers={"host": "other.lan:7860"}).status_code == 400


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:9999", "http://127.0.0.1:9999",
                                    "null", "https://testserver"])
def test_writes_from_another_origin_are_refused_before_they_run(client, origin):
    refusals = [
        client.delete("/api/kbs/kb", headers={"origin": origin}),
        client.post("/api/kbs", json={"name": "planted"}, headers={"origin": origin}),
        client.post("/api/kbs/kb/ingest", json={"path": "/etc"}, headers={"origin": origin}),
        client.post("/api/kbs/kb/documents", files=[("files", ("a.txt", b"planted", "text/plain"))],
                    headers={"origin": origin}),
        client.post("/v1/chat/completions", json={"model": "zhida:kb", "messages": []}, headers={"origin": origin}),
    ]
    for r in refusals:
        assert r.status_code == 403, r.text
        assert r.json()["error"]["type"] == "forbidden_origin"
        assert "access-control-allow-origin" not in r.headers
    names = [k["name"] for k in client.get("/api/kbs").json()["kbs"]]
    assert names == ["kb"]
    assert client.get("/api/kbs/kb/documents").json()["documents"] == []


def test_referer_stands_in_for_a_missing_origin(client):
    r = client.delete("/api/kbs/kb", headers={"referer": "http://evil.example/page.html"})
    assert r.status_code == 403
    r = client.post("/api/kbs", json={"name": "x"}, headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403


def test_same_origin_pages_and_clients_without_origin_keep_working(client):
    assert client.post("/api/kbs", json={"name": "a"}, headers={"origin": OWN}).status_code == 201
    assert client.post("/api/kbs", json={"name": "b"}, headers={"referer": OWN + "/docs"}).status_code == 201
    assert client.post("/api/kbs", json={"name": "c"}, headers={"sec-fetch-site": "same-origin"}).status_code == 201
    assert client.post("/api/kbs", json={"name": "d"}).status_code == 201  # curl, scripts, the CLI
    assert client.delete("/api/kbs/d").status_code == 200
    # reads from another origin still answer (the browser hides them), with no CORS headers
    r = client.get("/api/kbs", headers={"origin": "http://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("origin", ["http://localhost:9999", "http://evil.example"])
def test_preflights_from_other_origins_get_no_cors(settings, origin):
    """Gradio's CORS middleware answered these for /api/* (it trusts every localhost origin)."""
    from app.server import create_app

    with TestClient(create_app(settings, ui=True), base_url="http://127.0.0.1:7860") as c:
        for path in ("/api/kbs/kb/documents", "/api/kbs/kb", "/v1/chat/completions", "/gradio_api/queue/join",
                     "/gradio_api/upload"):
            r = c.options(path, headers={"origin": origin, "access-control-request-method": "POST",
                                         "access-control-request-headers": "content-type"})
            assert r.status_code == 403, (path, r.status_code)
            assert "access-control-allow-origin" not in r.headers, path
        r = c.get("/gradio_api/info", headers={"origin": origin})
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers


def test_listed_cors_origins_may_call_in(settings):
    from app.server import create_app

    settings["server"]["cors_origins"] = ["http://tools.example:8080"]
    with TestClient(create_app(settings, ui=False)) as c:
        pre = c.options("/api/kbs", headers={"origin": "http://tools.example:8080",
                                             "access-control-request-method": "POST"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "http://tools.example:8080"
        r = c.post("/api/kbs", json={"name": "t"}, headers={"origin": "http://tools.example:8080"})
        assert r.status_code == 201
        assert c.post("/api/kbs", json={"name": "u"}, headers={"origin": "http://evil.example"}).status_code == 403


def test_token_mode_still_needs_the_token_and_a_matching_origin(settings):
    from app.server import create_app

    token = "s3cret-token-for-tests"
    with TestClient(create_app(settings, ui=False, token=token, bind_host="0.0.0.0"),
                    base_url="http://192.168.1.5:7860") as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/kbs").status_code == 401
        assert c.get("/api/kbs", headers=auth).status_code == 200
        assert c.post("/api/kbs", json={"name": "lan"}, headers=auth).status_code == 201
        assert c.post("/api/kbs", json={"name": "lan2"},
                      headers={**auth, "origin": "http://192.168.1.5:7860"}).status_code == 201
        assert c.post("/api/kbs", json={"name": "x"}, headers={**auth, "origin": "http://evil.example"}).status_code == 403
        assert c.get("/api/kbs", headers={**auth, "host": "evil.example:7860"}).status_code == 400


@pytest.mark.parametrize("model", ["openai:m@http://127.0.0.1:9/v1", "openai:m@https://collector.example/v1",
                                   "openai:m@http://gpu1:9997/v1/../x"])
def test_api_created_kbs_may_not_name_a_new_embedding_host(client, model):
    r = client.post("/api/kbs", json={"name": "remote", "embedding_model": model})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["type"] == "remote_model_refused"
    assert "embedding.remote.base_url" in r.json()["error"]["message"]
    assert client.get("/api/kbs/remote").status_code == 404


def test_the_configured_embedding_host_is_allowed(settings):
    from app.server import create_app

    settings["embedding"]["remote"]["base_url"] = "http://gpu1:9997/v1"
    with TestClient(create_app(settings, ui=False)) as c:
        for i, model in enumerate(["openai:bge-m3", "openai:bge-m3@http://GPU1:9997/v1/"]):
            r = c.post("/api/kbs", json={"name": f"r{i}", "embedding_model": model})
            assert r.status_code == 201, r.text
        r = c.post("/api/kbs", json={"name": "r9", "embedding_model": "openai:bge-m3@http://gpu2:9997/v1"})
        assert r.status_code == 403
