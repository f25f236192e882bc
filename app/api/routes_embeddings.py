"""`POST /v1/embeddings`: Zhida's default embedding model for other local tools, in OpenAI's shape.

The model is the one new knowledge bases get (`embedding.model`, e5-small unless configured; its
fallback where e5-small cannot run), loaded once per process and shared with ingest and search, so a
tool that embeds through this endpoint gets exactly the vectors Zhida stores for the same text:
`input_type: "document"` (the default) is how chunks are embedded, `"query"` how questions are (e5
and BGE-style models prefix the two differently; OpenAI's API has no such field, so it is an
extension that OpenAI clients pass as `extra_body`). Vectors are L2-normalised float32, returned as
JSON floats or, as the official OpenAI client asks by default, base64 of little-endian float32.

Limits (server.embeddings): at most `max_inputs` texts per request and `max_input_chars` characters
each (400 with the reason past either), below the request-body limit every API path has. Token-id
inputs are refused: the tokenizer is the model's own business. `usage` counts characters, not tokens.
Same auth rules as the rest of /v1 (app.server's middleware).
"""
from __future__ import annotations

import base64
import threading
from typing import Any, Literal, Optional

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.errors import ApiError

ALIASES = ("zhida", "default")


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients also send `user` and the like
    input: Any = Field(..., description="a string or a list of strings")
    model: Optional[str] = Field(None, description="the default model's name (see GET /v1/embeddings/model), "
                                                   "or 'zhida'")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Optional[int] = Field(None, description="must equal the model's dimension if given")
    input_type: Literal["document", "query"] = Field("document", description="Zhida extension: embed as a "
                                                                             "passage (default) or as a query")


def embedding_limits(settings: dict[str, Any]) -> dict[str, int]:
    e = (settings.get("server") or {}).get("embeddings") or {}
    return {"max_inputs": int(e.get("max_inputs", 256)), "max_input_chars": int(e.get("max_input_chars", 8192))}


def _texts(value: Any, limits: dict[str, int]) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise ApiError(400, "input must be a string or a non-empty list of strings", "bad_request")
    if not all(isinstance(t, str) for t in texts):
        raise ApiError(400, "input must be text: token-id arrays are not supported", "bad_request")
    if len(texts) > limits["max_inputs"]:
        raise ApiError(400, f"too many inputs in one request: {len(texts)} (limit {limits['max_inputs']}); "
                            "send them in batches", "too_many_inputs")
    for i, t in enumerate(texts):
        if not t.strip():
            raise ApiError(400, f"input[{i}] is empty", "bad_request")
        if len(t) > limits["max_input_chars"]:
            raise ApiError(400, f"input[{i}] has {len(t)} characters (limit {limits['max_input_chars']})",
                           "input_too_long")
    return texts


def build_router(settings: dict[str, Any]) -> APIRouter:
    from app import services

    r = APIRouter()
    lock = threading.Lock()  # one embedding call at a time from this endpoint: the model is shared

    def model_name() -> str:
        return services.index_settings(settings).embedding_model

    def embedder():
        try:
            return services.embedder_loader(settings)(model_name())
        except Exception as exc:
            raise ApiError(503, f"the embedding model {model_name()!r} cannot be loaded: {exc}",
                           "model_unavailable") from exc

    @r.get("/v1/embeddings/model", summary="The model /v1/embeddings serves: name and dimension")
    def model_info():
        emb = embedder()
        return {"id": model_name(), "object": "model", "dimension": int(emb.dim), "owned_by": "zhida"}

    @r.post("/v1/embeddings", summary="OpenAI-compatible embeddings with Zhida's default model")
    def embeddings(body: EmbeddingsRequest):
        name = model_name()
        if body.model and body.model not in (name, *ALIASES):
            raise ApiError(404, f"unknown model {body.model!r}: this server embeds with {name!r} "
                                f"(or say 'zhida')", "model_not_found")
        texts = _texts(body.input, embedding_limits(settings))
        emb = embedder()
        if body.dimensions is not None and body.dimensions != emb.dim:
            raise ApiError(400, f"dimensions must be {emb.dim} for {name!r} (it cannot be shortened)", "bad_request")
        with lock:
            if body.input_type == "query":
                vecs = np.asarray(emb.embed_queries(texts), dtype=np.float32)
            else:
                vecs = np.asarray(emb.embed_documents(texts), dtype=np.float32)
        data = []
        for i, v in enumerate(vecs):
            value: Any = (base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
                          if body.encoding_format == "base64" else [float(x) for x in v])
            data.append({"object": "embedding", "index": i, "embedding": value})
        chars = sum(len(t) for t in texts)
        return {"object": "list", "data": data, "model": name, "usage": {"prompt_tokens": chars, "total_tokens": chars}}

    return r
