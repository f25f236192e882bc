"""Search, grounded chat (JSON or Server-Sent Events) and the OpenAI-compatible endpoint."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, AsyncIterator, Iterator, Literal, Optional

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.context import AppContext
from app.api.errors import ApiError, error_body

Mode = Literal["dense", "sparse", "hybrid"]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., min_length=1)
    k: Optional[int] = Field(None, ge=1, le=100)
    mode: Optional[Mode] = None
    rerank: Optional[bool] = None
    documents: Optional[list[str]] = Field(None, description="document ids: search only these (both retrievers)")


class Turn(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(..., min_length=1)
    history: list[Turn] = Field(default_factory=list)
    stream: bool = False
    k: Optional[int] = Field(None, ge=1, le=100)
    mode: Optional[Mode] = None
    rerank: Optional[bool] = None
    llm: Optional[str] = Field(None, description="extractive | openai | transformers | llamacpp")
    documents: Optional[list[str]] = Field(None, description="document ids: answer only from these")


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: Any = ""


class OpenAIChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens ... accepted and ignored
    model: str = Field(..., description="zhida:<kb>")
    messages: list[OpenAIMessage] = Field(..., min_length=1)
    stream: bool = False


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _close(gen: Any) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        close()


_END = object()


async def closing_stream(gen: Iterator[str]) -> AsyncIterator[str]:
    """Run a sync generator in worker threads and close it as soon as the client goes away.

    Starlette cancels the response when the client disconnects but leaves a sync iterator to the
    garbage collector, so the answer generator (and the upstream model's HTTP stream inside it) went
    on generating for a client that had left. Closing it raises GeneratorExit down the chain, which
    closes the upstream request; it lands as soon as the worker's current `next()` returns (the next
    token, or the model client's own timeout).
    """
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, gen, _END)
            if item is _END:
                return
            yield item
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close, gen)


def _stream_events(events: Iterator[dict]) -> Iterator[str]:
    try:
        for ev in events:
            yield sse(ev["type"], ev)
    except ApiError as exc:
        yield sse("error", {"type": "error", **error_body(exc.message, exc.type)})
    except Exception as exc:  # the stream has started: report in-band
        yield sse("error", {"type": "error", **error_body(f"{type(exc).__name__}: {exc}", "internal_error")})
    finally:
        _close(events)


def _openai_text(content: Any, index: int) -> str:
    """A message's text: a string, null (no text) or OpenAI's list of parts; text parts must hold strings.

    Anything else is the client's mistake and gets a 400 in OpenAI's error shape, not a TypeError 500.
    """
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):  # [{"type": "text", "text": ...}, {"type": "image_url", ...}]
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                raise ApiError(400, f"messages[{index}].content[{j}] must be an object like "
                                    '{"type": "text", "text": "..."}', "invalid_request_error")
            if part.get("type", "text") == "text":
                if not isinstance(part.get("text"), str):
                    raise ApiError(400, f"messages[{index}].content[{j}].text must be a string", "invalid_request_error")
                texts.append(part["text"])
        return "".join(texts)
    raise ApiError(400, f"messages[{index}].content must be a string or a list of text parts, "
                        f"not {type(content).__name__}", "invalid_request_error")


def _sources(done: dict, question: str) -> str:
    """The citations as footnotes after the answer, so an OpenAI client that shows only the message
    content shows where each [n] comes from (the structured `citations` field stays for those that read it)."""
    from app.answering import language_of
    from app.citations import footnotes

    return footnotes(done.get("citations") or [], language_of(question), refused=bool(done.get("refused")))


def _usage(done: dict) -> dict[str, int]:
    u = done.get("usage") or {}
    return {k: int(u.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _extras(done: dict) -> dict[str, Any]:
    """Zhida's own fields of a /v1 answer; `usage_counted_by` says whether `usage` is the model's count."""
    return {"mode": done.get("mode"), "refused": done.get("refused"), "timings_ms": done.get("timings_ms"),
            "query": done.get("query", ""), "usage_counted_by": (done.get("usage") or {}).get("counted_by", "")}


def build_router(ctx: AppContext) -> APIRouter:
    r = APIRouter()

    @r.post("/api/kbs/{name}/search", summary="Ranked passages for a query")
    def search(name: str, body: SearchRequest):
        hits, timings = ctx.search(name, body.query, k=body.k, mode=body.mode, rerank=body.rerank,
                                   documents=body.documents)
        return {"kb": name, "query": body.query, "results": hits, "timings_ms": timings}

    @r.post("/api/kbs/{name}/chat", summary="A grounded answer with citations; SSE when stream is true",
            responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}})
    def chat(name: str, body: ChatRequest):
        history = [t.model_dump() for t in body.history]
        events = ctx.chat_events(name, body.question, history=history, k=body.k, mode=body.mode,
                                 rerank=body.rerank, llm=body.llm, documents=body.documents)
        if body.stream:
            return StreamingResponse(closing_stream(_stream_events(events)), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        final = None
        for ev in events:
            if ev["type"] == "done":
                final = ev
        if final is None:
            raise ApiError(500, "the answer ended without a result", "internal_error")
        final = dict(final)
        final.pop("type", None)
        return final

    @r.get("/v1/models", summary="OpenAI-compatible model list: zhida:<kb> for each knowledge base")
    def models():
        now = int(time.time())
        return {"object": "list",
                "data": [{"id": f"zhida:{kb['name']}", "object": "model", "created": now, "owned_by": "zhida"}
                         for kb in ctx.list_kbs()]}

    @r.post("/v1/chat/completions", summary="OpenAI-compatible chat; the model name zhida:<kb> picks the knowledge base")
    def chat_completions(body: OpenAIChatRequest):
        if not body.model.startswith("zhida:") or not body.model[len("zhida:"):]:
            raise ApiError(404, f"unknown model {body.model!r}: use zhida:<kb> (see /v1/models)", "model_not_found")
        kb = body.model[len("zhida:"):]
        msgs = [(m.role, _openai_text(m.content, i)) for i, m in enumerate(body.messages)]
        user_idx = max((i for i, (role, _) in enumerate(msgs) if role == "user"), default=None)
        if user_idx is None or not msgs[user_idx][1].strip():
            raise ApiError(400, "messages must contain a user message with the question", "bad_request")
        question = msgs[user_idx][1]
        from app.citations import without_footnotes

        history = [{"role": role, "content": without_footnotes(text) if role == "assistant" else text}
                   for role, text in msgs[:user_idx] if role in ("user", "assistant")]
        events = ctx.chat_events(kb, question, history=history)
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        if not body.stream:
            final = None
            for ev in events:
                if ev["type"] == "done":
                    final = ev
            if final is None:
                raise ApiError(500, "the answer ended without a result", "internal_error")
            return {
                "id": cid, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant",
                                                     "content": final["answer"] + _sources(final, question)},
                             "finish_reason": "stop"}],
                "usage": _usage(final), "citations": final["citations"], "zhida": _extras(final),
            }

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        def stream() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            try:
                for ev in events:
                    if ev["type"] == "token":
                        yield chunk({"content": ev["text"]})
                    elif ev["type"] == "done":
                        notes = _sources(ev, question)
                        if notes:
                            yield chunk({"content": notes})
                        yield chunk({}, "stop", usage=_usage(ev), citations=ev["citations"], zhida=_extras(ev))
            except ApiError as exc:
                yield f"data: {json.dumps(error_body(exc.message, exc.type), ensure_ascii=False)}\n\n"
            except Exception as exc:
                yield f"data: {json.dumps(error_body(f'{type(exc).__name__}: {exc}', 'internal_error'))}\n\n"
            finally:
                _close(events)
            yield "data: [DONE]\n\n"

        return StreamingResponse(closing_stream(stream()), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return r
