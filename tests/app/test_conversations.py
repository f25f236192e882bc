"""Saved conversations over REST: create, list, append, rename, delete; they survive a new server."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.app.test_api import client, settings  # noqa: F401 (fixtures)


def test_conversation_lifecycle_and_restart(client, settings, zhida_home):  # noqa: F811
    assert client.post("/api/kbs", json={"name": "hr"}).status_code == 201
    assert client.post("/api/conversations", json={"kb": "nope"}).status_code == 404
    c = client.post("/api/conversations", json={"kb": "hr"})
    assert c.status_code == 201, c.text
    cid = c.json()["id"]
    r = client.post(f"/api/conversations/{cid}/messages", json={"messages": [
        {"role": "user", "content": "年假有几天？"},
        {"role": "assistant", "content": "十五天 [1]", "citations": [{"n": 1, "chunk_id": "abc"}]}]})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "年假有几天？"  # named after the first question
    assert client.post(f"/api/conversations/{cid}/messages", json={"messages": [
        {"role": "system", "content": "x"}]}).status_code == 400
    other = client.post("/api/conversations", json={"kb": "hr", "title": "second"}).json()["id"]
    listed = client.get("/api/conversations", params={"kb": "hr"}).json()["conversations"]
    assert [x["id"] for x in listed] == [other, cid] and listed[1]["messages"] == 2
    assert client.patch(f"/api/conversations/{cid}", json={"title": "年假"}).json()["title"] == "年假"
    assert client.patch(f"/api/conversations/{cid}", json={"title": ""}).status_code == 400
    assert client.delete(f"/api/conversations/{other}").status_code == 200
    assert client.get(f"/api/conversations/{other}").status_code == 404
    assert client.delete(f"/api/conversations/{other}").status_code == 404

    # a new server process over the same ZHIDA_HOME sees it as it was
    assert (zhida_home / "server" / "conversations.sqlite").exists()
    from app.conversations import _stores
    from app.server import create_app

    _stores.clear()
    with TestClient(create_app(settings, ui=False)) as fresh:
        got = fresh.get(f"/api/conversations/{cid}").json()
    assert got["title"] == "年假" and got["kb"] == "hr"
    assert [m["role"] for m in got["messages"]] == ["user", "assistant"]
    assert got["messages"][1]["citations"] == [{"n": 1, "chunk_id": "abc"}]
