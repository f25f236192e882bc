"""Finding OpenAI-compatible servers on 127.0.0.1, testing a connection, and saving the choice to
$ZHIDA_HOME/config.yaml, through /api/models/* against a real HTTP model server (tests/fake_openai.py)."""
from __future__ import annotations

import socket
import stat
import time

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.app.test_api import upload, wait_job
from tests.fake_openai import fake_openai


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(monkeypatch):
    with fake_openai(lambda messages: "年假有十五天[1]。", models=("qwen2.5:7b", "glm4:9b")) as srv:
        monkeypatch.setenv("ZHIDA_DISCOVERY_PORTS", f"Fake={srv['port']},Nobody={_closed_port()}")
        yield srv


@pytest.fixture
def client(served, server_settings):  # after `served`: the settings read its discovery ports
    from app.server import create_app

    with TestClient(create_app(server_settings, ui=False)) as c:
        yield c


def test_discovery_lists_the_models_of_servers_that_answer(client, served):
    t0 = time.perf_counter()
    found = client.get("/api/models/servers").json()["servers"]
    assert time.perf_counter() - t0 < 2
    assert found == [{"name": "Fake", "base_url": served["url"], "models": ["qwen2.5:7b", "glm4:9b"]}]


def test_the_ports_setting_is_checked(monkeypatch):
    from app.config import ConfigError, load_settings

    monkeypatch.setenv("ZHIDA_DISCOVERY_PORTS", "Ollama=11434,8000")
    assert load_settings()["llms"]["discovery"]["ports"] == {"Ollama": 11434, "port 8000": 8000}
    monkeypatch.setenv("ZHIDA_DISCOVERY_PORTS", "Ollama=eleven")
    with pytest.raises(ConfigError, match="NAME=PORT"):
        load_settings()


def test_connection_test_names_what_is_wrong(client, served):
    ok = client.post("/api/models/test", json={"base_url": served["url"], "model": "glm4:9b"}).json()
    assert ok["ok"] and "glm4:9b is served" in ok["message"]
    wrong = client.post("/api/models/test", json={"base_url": served["url"], "model": "llama3"}).json()
    assert not wrong["ok"] and "does not serve 'llama3'" in wrong["message"] and "qwen2.5:7b" in wrong["message"]
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    down = client.post("/api/models/test", json={"base_url": dead}).json()
    assert not down["ok"] and dead in down["message"]
    r = client.post("/api/models/test", json={"base_url": "http://models.example.com/v1"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "remote_model_refused"


def test_saving_persists_to_config_yaml_and_answers_through_that_server(client, served, zhida_home):
    r = client.put("/api/models/settings", json={"base_url": served["url"], "model": "glm4:9b",
                                                 "api_key": "sk-local-1234"})
    assert r.status_code == 200, r.text
    assert r.json() == {"llm": "openai", "base_url": served["url"], "model": "glm4:9b", "api_key_set": True}
    path = zhida_home / "config.yaml"
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert saved["answer"]["llm"] == "openai"
    assert saved["llms"]["openai"] == {"base_url": served["url"], "model": "glm4:9b", "api_key": "sk-local-1234"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a key
    assert "api_key" not in client.get("/api/models/settings").json()  # never shown back
    # the running server answers through it now, with the key
    assert client.post("/api/kbs", json={"name": "hr"}).status_code == 201
    assert wait_job(client, upload(client, "hr", [("leave.txt", "年假有十五天。".encode())]).json()["job_id"])
    body = client.post("/api/kbs/hr/chat", json={"question": "年假有几天？"}).json()
    assert body["mode"] == "openai:glm4:9b" and body["answer"].startswith("年假有十五天")
    chat = [b for p, b in served["requests"] if p == "/v1/chat/completions"]
    assert chat and chat[-1]["model"] == "glm4:9b"
    # and a new process reads the same choice
    from app.config import load_settings

    s = load_settings()
    assert s["answer"]["llm"] == "openai" and s["llms"]["openai"]["model"] == "glm4:9b"


def test_a_request_cannot_point_answering_at_another_host(client):
    r = client.put("/api/models/settings", json={"base_url": "https://llm.example.com/v1", "model": "x"})
    assert r.status_code == 403 and "config.yaml" in r.json()["error"]["message"]
    r = client.put("/api/models/settings", json={"base_url": "ftp://127.0.0.1/v1", "model": "x"})
    assert r.status_code == 400
