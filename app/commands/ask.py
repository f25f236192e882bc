"""`zhida ask` and `zhida chat`: grounded, cited answers from a knowledge base."""
from __future__ import annotations

import sys
from typing import Optional

import typer

from app.commands._common import catalog, print_json, settings


def _print_sources(answer) -> None:
    from app.citations import citation_dict, where

    if not answer.citations:
        return
    typer.echo("\n来源 / Sources:" if not answer.refused else "\n最接近的段落 / Closest passages:")
    for c in answer.citations:
        place = where(citation_dict(c), full_path=True, sep=", ")
        snippet = c.text.replace("\n", " ")
        typer.echo(f"[{c.n}] {place}\n    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")


def _run(question: str, kb, s, llm, history, k, mode, rerank, stream: bool, json_out: bool,
         history_mode: bool = False, documents: list[int] | None = None):
    from app.asking import ask_stream

    final, failed = None, ""
    for ev in ask_stream(kb, question, s, llm, history=history, k=k, mode=mode, rerank=rerank, documents=documents):
        if ev.type == "token" and stream and not json_out:
            typer.echo(ev.text, nl=False)
            sys.stdout.flush()
        elif ev.type == "error":
            failed = ev.text
        elif ev.type == "done":
            final = ev.answer
    if failed:
        # never the "not in the knowledge base" text: the documents were not the problem
        if stream and not json_out:
            typer.echo("")
        if history_mode:
            typer.echo(f"error: the language model failed: {failed}", err=True)
            return final
        from app.errors import ModelFailed

        raise ModelFailed(f"the language model failed: {failed}")
    if json_out:
        print_json(final.to_json())
    else:
        if not stream:
            typer.echo(final.text, nl=False)
        typer.echo("")
        if final.mode == "extractive" and not history_mode:
            typer.echo("(extractive mode: sentences quoted from your documents, no language model)", err=True)
        _print_sources(final)
    return final


def ask(
    question: str = typer.Argument(..., help="Your question, in Chinese or English."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base to answer from."),
    llm: Optional[str] = typer.Option(None, "--llm", help="extractive | openai | transformers | llamacpp "
                                      "(default from config: answer.llm)."),
    stream: Optional[bool] = typer.Option(None, "--stream/--no-stream", help="Print tokens as they arrive "
                                          "(default: on in a terminal)."),
    k: Optional[int] = typer.Option(None, "-k", "--top-k", min=1, help="How many passages to give the model "
                                    "(default from config: retrieval.top_k)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="dense | sparse | hybrid."),
    rerank: Optional[bool] = typer.Option(None, "--rerank/--no-rerank", help="Rerank passages with the cross-encoder."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object: answer, mode, refused, citations, "
                                  "timings_ms."),
    doc: Optional[list[str]] = typer.Option(None, "--doc", help="Answer only from this document (id, file name or "
                                            "path); repeat for several."),
) -> None:
    """Answer a question from a knowledge base, with numbered sources; says so when the documents
    do not contain the answer."""
    from app.doc_scope import resolve_documents
    from app.llms import load_llm

    s = settings()
    base = catalog(s).open(kb)
    documents = resolve_documents(base, doc)
    backend = load_llm(s, llm)
    _run(question, base, s, backend, [], k, mode, rerank, sys.stdout.isatty() if stream is None else stream,
         json_out, documents=documents)


def chat(
    kb: str = typer.Option(..., "--kb", help="Knowledge base to chat with."),
    llm: Optional[str] = typer.Option(None, "--llm", help="LLM backend (default from config)."),
    k: Optional[int] = typer.Option(None, "-k", "--top-k", min=1, help="Passages per answer (default: "
                                    "retrieval.top_k)."),
) -> None:
    """Interactive chat with history: follow-up questions are rewritten using the conversation.
    Commands: /clear forgets the history, /exit quits."""
    from app.llms import load_llm

    s = settings()
    base = catalog(s).open(kb)
    backend = load_llm(s, llm)
    typer.echo(f"chatting with '{kb}' (mode: {backend.name}); /clear to forget, /exit to quit", err=True)
    history: list[dict] = []
    max_turns = int(s["answer"].get("max_history_turns", 6))
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        if question in ("/exit", "/quit"):
            break
        if question == "/clear":
            history.clear()
            typer.echo("(history cleared)", err=True)
            continue
        final = _run(question, base, s, backend, history, k, None, None, True, False, history_mode=True)
        typer.echo("")
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
        history[:] = history[-2 * max_turns:]


def register(cli: typer.Typer) -> None:
    cli.command("ask")(ask)
    cli.command("chat")(chat)
