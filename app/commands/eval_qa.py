"""`zhida eval-qa QUESTIONS.jsonl --doc FILE`: end-to-end answer scoring through `zhida ask`'s path."""
from __future__ import annotations

from pathlib import Path
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import typer

from app.commands._common import plain, print_json, settings, stdout_console, throwaway_catalog
from knowledge.collecting import file_sha256


@contextmanager
def qa_knowledge_base(s: dict, docs: Sequence[Path], fresh: bool = False) -> Iterator:
    """The throw-away KB of `docs` that eval-qa answers from, cached under ZHIDA_HOME/eval-cache by the
    documents' contents and the index settings (see throwaway_catalog), so a second run embeds nothing."""
    docs = [Path(d).resolve() for d in docs]
    with throwaway_catalog(s, ["qa"] + [file_sha256(d) for d in docs], fresh) as (cat, _work):
        kb = cat.open("qa") if cat.exists("qa") else cat.create("qa")
        typer.echo(f"indexing {len(docs)} document(s) with {kb.embedding_model} ...", err=True)
        report = kb.ingest(docs, exclude=())
        for f in report.files:
            if f.status == "failed":
                typer.echo(f"warning: {f.path}: {f.reason}", err=True)
        try:
            yield kb
        finally:
            kb.close()


def eval_qa_cmd(
    questions: Path = typer.Argument(..., help="QUESTIONS.jsonl: {id, question, answer_contains, passage_contains} "
                                     "a line; answer_contains null for a question the documents do not answer."),
    doc: list[Path] = typer.Option(..., "--doc", help="A document to answer from (repeatable)."),
    llm: Optional[str] = typer.Option(None, "--llm", help="extractive | openai | transformers | llamacpp "
                                      "(default from config: answer.llm)."),
    embedding: Optional[str] = typer.Option(None, "--embedding", help="Embedding model (default from config)."),
    fresh: bool = typer.Option(False, "--fresh", help="Build the throw-away KB from scratch instead of reusing "
                               "the cached one for these documents and settings."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object: questions, answerable, "
                                  "answered_cited, unanswerable, refused, misses."),
) -> None:
    """Score whole answers: build a throw-away knowledge base from the documents, ask every question
    exactly as `zhida ask` does, and count answers that hold the fact with the right citation, and
    refusals of questions the documents do not answer."""
    from app.llms import load_llm
    from app.qa_evaluation import QASetError, gold_rank, load_qa, run_questions, summarise

    try:
        items = load_qa(questions)
    except QASetError as exc:
        raise typer.BadParameter(str(exc), param_hint="QUESTIONS") from None
    for d in doc:
        if not d.is_file():
            raise typer.BadParameter(f"{d}: no such file", param_hint="--doc")
    s = settings(embedding)
    backend = load_llm(s, llm)
    ranks = {}
    with qa_knowledge_base(s, doc, fresh) as kb:
        results = run_questions(kb, items, s, backend)
        for r in results:
            if not r.correct and r.item.answerable:
                ranks[r.item.id] = gold_rank(r.item, (c.text for c in kb.search(r.item.question, k=50)))
    out = summarise(results)
    if json_out:
        print_json(out)
        return
    from rich.table import Table

    console = stdout_console()
    table = Table("questions", "answerable", "answered + cited", "unanswerable", "refused",
                  title=plain(f"{questions.name}: {backend.name} answers, embedding {s['embedding']['model']}"))
    table.add_row(str(out["questions"]), str(out["answerable"]), str(out["answered_cited"]),
                  str(out["unanswerable"]), str(out["refused"]))
    console.print(table)
    if out["misses"]:
        misses = Table("id", "question", "refused", "gold rank", "answer", title="misses")
        for m in out["misses"]:
            rank = ranks.get(m["id"])
            misses.add_row(plain(m["id"]), plain(m["question"]), "yes" if m["refused"] else "no",
                           "-" if m["id"] not in ranks else (str(rank) if rank else ">50"),
                           plain(m["answer"][:80].replace("\n", " ")))
        console.print(misses)


def register(cli: typer.Typer) -> None:
    cli.command("eval-qa")(eval_qa_cmd)
