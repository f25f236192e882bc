"""One question through the same steps everywhere: rewrite a follow-up, retrieve, answer.

`zhida ask`, `zhida chat`, `zhida eval-qa` and the server (app.api.context: web UI, REST chat, /v1)
call this, so what eval-qa scores is exactly what a user gets from any of them.
"""
from __future__ import annotations

import time
from typing import Iterator, Sequence

from app.answering import Event, answer_stream
from app.follow_up import rewrite_query


def retrieve(kb, question: str, settings: dict, llm, *, history: Sequence[dict] = (), k: int | None = None,
             mode: str | None = None, rerank: bool | None = None,
             documents: Sequence[int] | None = None) -> tuple[str, list, dict[str, float]]:
    """(the standalone query, the passages it retrieved, timings): the follow-up rewritten with the
    history (app.follow_up), then searched; `documents` (ids) limits the search to those documents."""
    t0 = time.perf_counter()
    query = rewrite_query(question, history, llm, int((settings.get("answer") or {}).get("max_history_turns", 6)))
    t1 = time.perf_counter()
    chunks = kb.search(query, k=k, mode=mode, rerank=rerank, **({"documents": list(documents)} if documents else {}))
    # the knowledge base reranks inside search, so its time is part of "retrieve"; "rerank" stays 0
    timings = {"rewrite": round((t1 - t0) * 1000, 2), "retrieve": round((time.perf_counter() - t1) * 1000, 2),
               "rerank": 0.0}
    return query, chunks, timings


def ask_stream(kb, question: str, settings: dict, llm, *, history: Sequence[dict] = (), k: int | None = None,
               mode: str | None = None, rerank: bool | None = None,
               documents: Sequence[int] | None = None) -> Iterator[Event]:
    """Events of one grounded answer over `kb` (token..., then done; error events in between);
    `documents` (ids) limits the question to those documents."""
    query, chunks, timings = retrieve(kb, question, settings, llm, history=history, k=k, mode=mode, rerank=rerank,
                                      documents=documents)
    yield from answer_stream(question, chunks, llm=llm, history=history, settings=settings, timings=timings,
                             query=query, known=kb.knows, similar=kb.similarities)


def ask_timed(kb, question: str, settings: dict, llm, **kwargs):
    """(Answer, milliseconds until the first token) of `ask_stream`; a model that failed raises
    ModelFailed (a dead server must not count as a refusal). The first-token time is what a user
    waits before text starts to appear (None if nothing was streamed)."""
    from app.errors import ModelFailed

    final, first_ms = None, None
    t0 = time.perf_counter()
    for ev in ask_stream(kb, question, settings, llm, **kwargs):
        if ev.type == "error":
            raise ModelFailed(f"the language model failed: {ev.text}")
        if ev.type == "token" and first_ms is None:
            first_ms = round((time.perf_counter() - t0) * 1000, 2)
        if ev.type == "done":
            final = ev.answer
    return final, first_ms


def ask(kb, question: str, settings: dict, llm, **kwargs):
    """The final Answer of `ask_stream` (see ask_timed)."""
    return ask_timed(kb, question, settings, llm, **kwargs)[0]
