"""The model-server settings of the UI's settings panel and of /api/models/*: find local servers, test a
connection, save the choice to $ZHIDA_HOME/config.yaml and use it at once.

A request may point answering at a server on this machine (loopback) or at the configured one, not at
any host: the chosen server receives the passages of every question (the same rule the embedding
server follows, AppContext.check_remote_model); other hosts are set in config.yaml.
"""
from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.errors import ApiError
from app.api.shapes import url_key

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _openai(ctx) -> dict[str, Any]:
    return (ctx.settings.get("llms") or {}).get("openai") or {}


def current(ctx) -> dict[str, Any]:
    """What answering uses now (the key itself is never shown)."""
    c = _openai(ctx)
    return {"llm": (ctx.settings.get("answer") or {}).get("llm", "extractive"), "base_url": c.get("base_url", ""),
            "model": c.get("model", ""), "api_key_set": bool(c.get("api_key"))}


def servers(ctx) -> list[dict[str, Any]]:
    from app.discovery import discover

    return discover(ctx.settings)


def check_url(ctx, base_url: str) -> str:
    """The base URL, when a request may use it (loopback or the configured server); else 403."""
    base_url = (base_url or "").strip().rstrip("/")
    try:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        host, parts = "", None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ApiError(400, f"{base_url!r} is not an http(s) URL such as http://127.0.0.1:11434/v1", "bad_request")
    configured = _openai(ctx).get("base_url") or ""
    if host not in LOOPBACK and url_key(base_url) != url_key(configured):
        raise ApiError(403, f"refusing model server {base_url!r} from a request: it would receive the passages of "
                            "every question. Servers on this machine (127.0.0.1) can be chosen here; set another "
                            "host as llms.openai.base_url in config.yaml", "remote_model_refused")
    return base_url


def check(ctx, base_url: str, model: str = "", api_key: str = "") -> dict[str, Any]:
    from app.discovery import check_connection

    url = check_url(ctx, base_url)
    key = api_key or (_openai(ctx).get("api_key") if url_key(url) == url_key(_openai(ctx).get("base_url") or "")
                      else "")
    return check_connection(url, (model or "").strip(), key or None)


def save(ctx, base_url: str, model: str, api_key: Optional[str] = None) -> dict[str, Any]:
    """Persist the server and model (and the key, when one is given; "" keeps the saved one) and answer
    with them from now on."""
    from app.config import save_user_settings

    url = check_url(ctx, base_url)
    model = (model or "").strip()
    if not model:
        raise ApiError(400, "choose a model (the picker lists what the server serves)", "bad_request")
    chosen: dict[str, Any] = {"base_url": url, "model": model}
    if api_key:
        chosen["api_key"] = api_key
    save_user_settings({"answer": {"llm": "openai"}, "llms": {"openai": chosen}})
    ctx.settings.setdefault("answer", {})["llm"] = "openai"
    ctx.settings.setdefault("llms", {}).setdefault("openai", {}).update(chosen)
    ctx.forget_llm("openai")
    return current(ctx)


class ServerChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(..., min_length=1, description="e.g. http://127.0.0.1:11434/v1")
    model: str = ""
    api_key: Optional[str] = Field(None, description="sent as Bearer; saved in config.yaml (mode 600)")


def build_router(ctx) -> APIRouter:
    r = APIRouter()

    @r.get("/api/models/servers", summary="OpenAI-compatible servers found on 127.0.0.1 and the models they list")
    def get_servers():
        return {"servers": servers(ctx)}

    @r.get("/api/models/settings", summary="The model server answering uses now")
    def get_settings():
        return current(ctx)

    @r.post("/api/models/test", summary="Whether a server answers and serves the model")
    def post_test(body: ServerChoice):
        return check(ctx, body.base_url, body.model, body.api_key or "")

    @r.put("/api/models/settings", summary="Answer with this server and model; saved in $ZHIDA_HOME/config.yaml")
    def put_settings(body: ServerChoice):
        return save(ctx, body.base_url, body.model, body.api_key)

    return r
