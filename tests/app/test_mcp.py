"""`zhida mcp` driven by the official MCP client SDK over stdio, as a desktop assistant would run it."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the mcp SDK is not installed (pip install mcp)")

ROOT = Path(__file__).resolve().parents[2]
FACT = "满十年的，年休假十天。"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp")
    folder = tmp / "docs"
    folder.mkdir()
    (folder / "制度.md").write_text(f"# 年假\n\n工作满一年不满十年的，年休假五天。{FACT}\n\n# 报销\n\n"
                                   "报销需要在三十天内提交发票。", encoding="utf-8")
    (folder / "travel.md").write_text("# Travel\n\nHotels may cost at most 500 yuan a night.", encoding="utf-8")
    e = dict(os.environ, ZHIDA_HOME=str(tmp / "home"), ZHIDA_EMBEDDING_MODEL="hashing", ZHIDA_LLM="extractive",
             HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(folder), "--kb", "policies"], env=e,
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return e


def _session(env, *args, calls):
    """Start `zhida mcp ARGS` as the SDK's stdio client does and run `calls(client)` against it."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async def run():
        params = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp", *args], env=env,
                                       cwd=str(ROOT))
        async with Client(params, read_timeout_seconds=60) as client:
            return await calls(client)

    return asyncio.run(asyncio.wait_for(run(), 120))


def test_stdio_server_lists_three_tools_and_answers_from_the_kb(env):
    async def calls(c):
        tools = {t.name: t for t in (await c.list_tools()).tools}
        kbs = await c.call_tool("list_knowledge_bases", {})
        hits = await c.call_tool("search", {"query": "满十年的年休假几天？", "k": 2})
        only = await c.call_tool("search", {"query": "年休假", "documents": ["travel.md"]})
        answer = await c.call_tool("ask", {"question": "满十年的年休假几天？"})
        refused = await c.call_tool("ask", {"question": "公司的股票代码是什么？"})
        return tools, kbs, hits, only, answer, refused

    tools, kbs, hits, only, answer, refused = _session(env, "--kb", "policies", calls=calls)
    assert set(tools) == {"list_knowledge_bases", "search", "ask"}
    # --kb fixes the knowledge base: no tool asks for one
    assert all("kb" not in (t.input_schema.get("properties") or {}) for t in tools.values())
    assert set(tools["search"].input_schema["properties"]) == {"query", "k", "mode", "documents"}
    assert tools["search"].output_schema and tools["ask"].output_schema

    assert kbs.structured_content == {"knowledge_bases": [{"name": "policies", "documents": 2, "chunks": 3,
                                                           "model": "hashing"}]}
    assert not hits.is_error and FACT in hits.content[0].text and "制度.md" in hits.content[0].text
    top = hits.structured_content["results"][0]
    assert FACT in top["text"] and top["source"].endswith("制度.md") and top["heading"] == "年假"
    assert top["rank"] == 1 and top["chunk_id"] and "page" in top and top["scores"]
    assert len(hits.structured_content["results"]) == 2
    assert [r["name"] for r in only.structured_content["results"]] == ["travel.md"]

    assert not answer.is_error and answer.structured_content["refused"] is False
    assert "十天" in answer.structured_content["answer"] and "十天" in answer.content[0].text
    cite = answer.structured_content["citations"][0]
    assert cite["n"] == 1 and cite["source"].endswith("制度.md") and "Sources:" in answer.content[0].text
    assert refused.structured_content["refused"] is True and not refused.is_error


def test_errors_are_tool_errors_with_the_cli_reasons(env):
    async def calls(c):
        tools = {t.name: t for t in (await c.list_tools()).tools}
        return (tools,
                await c.call_tool("search", {"kb": "nope", "query": "x"}),
                await c.call_tool("search", {"kb": "policies", "query": "x", "k": 0}),
                await c.call_tool("search", {"kb": "policies", "query": "x", "mode": "fuzzy"}),
                await c.call_tool("ask", {"kb": "policies", "question": "  "}))

    tools, missing, bad_k, bad_mode, empty = _session(env, calls=calls)
    assert "kb" in tools["search"].input_schema["required"] and "kb" in tools["ask"].input_schema["required"]
    cli = subprocess.run([sys.executable, "-m", "app.cli", "search", "x", "--kb", "nope"], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    assert missing.is_error and missing.content[0].text == cli.stderr.strip().removeprefix("error: ")
    assert bad_k.is_error and bad_k.content[0].text.startswith("the number of results (k) must be a whole number")
    assert bad_mode.is_error and "dense, sparse or hybrid" in bad_mode.content[0].text
    assert empty.is_error and empty.content[0].text == "the question is empty"


def test_unknown_fixed_kb_fails_before_serving_and_keeps_stdout_clean(env):
    out = subprocess.run([sys.executable, "-m", "app.cli", "mcp", "--kb", "nope"], env=env, capture_output=True,
                         text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == "error: no knowledge base named 'nope'" or "nope" in out.stderr.splitlines()[-1]


# ---- /mcp inside `zhida serve` -------------------------------------------------------------------------

TOKEN = "s3cret-token-for-mcp"


@pytest.fixture
def served(env, monkeypatch):
    """`zhida serve`'s app with an access token, on a real socket, over the KB the stdio tests ingested."""
    from tests.app.live import live_server

    for key in ("ZHIDA_HOME", "ZHIDA_EMBEDDING_MODEL", "ZHIDA_LLM"):
        monkeypatch.setenv(key, env[key])
    from app.config import load_settings
    from app.server import create_app

    s = load_settings()
    with live_server(create_app(s, token=TOKEN, ui=False), s) as (base, _):
        yield base


def _http_session(url: str, headers: dict, calls):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await calls(client)

    return asyncio.run(asyncio.wait_for(run(), 120))


def test_http_mcp_answers_with_the_token_and_refuses_without(served):
    import httpx

    async def calls(c):
        tools = sorted(t.name for t in (await c.list_tools()).tools)
        hits = await c.call_tool("search", {"kb": "policies", "query": "满十年的年休假几天？", "k": 1})
        answer = await c.call_tool("ask", {"kb": "policies", "question": "满十年的年休假几天？"})
        return tools, hits, answer

    tools, hits, answer = _http_session(served + "/mcp", {"Authorization": f"Bearer {TOKEN}"}, calls)
    assert tools == ["ask", "list_knowledge_bases", "search"]
    assert FACT in hits.structured_content["results"][0]["text"]
    assert "十天" in answer.structured_content["answer"] and not answer.structured_content["refused"]

    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer wrong-token-123"}):
        r = httpx.post(served + "/mcp", json=init, headers={**accept, **headers})
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
    assert httpx.get(served + "/mcp", headers=accept).status_code == 401  # JSON 401, not the UI's login page
    with pytest.raises(Exception):
        _http_session(served + "/mcp", {}, calls)
    # the Host and Origin rules of /api hold too: a rebinding Host, a page of another origin
    ok = {**accept, "Authorization": f"Bearer {TOKEN}"}
    r = httpx.post(served + "/mcp", json=init, headers={**ok, "Host": "attacker.example"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "host_not_allowed"
    r = httpx.post(served + "/mcp", json=init, headers={**ok, "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "forbidden_origin"
    assert httpx.post(served + "/mcp", json=init, headers=ok).status_code == 200
