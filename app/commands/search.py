"""`zhida search "query" --kb NAME`: retrieval only, with the evidence for each hit."""
from __future__ import annotations

from typing import Optional

import typer

from app.commands._common import catalog, print_json


def search(
    query: str = typer.Argument(..., help="What to look for (Chinese or English)."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base to search."),
    k: int = typer.Option(5, "-k", "--top-k", min=1, help="How many passages to return (at least 1)."),
    mode: str = typer.Option(None, "--mode", help="dense | sparse | hybrid (default from config: hybrid)."),
    rerank: Optional[bool] = typer.Option(None, "--rerank/--no-rerank", help="Rerank with the cross-encoder."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    doc: Optional[list[str]] = typer.Option(None, "--doc", help="Search only this document (id, file name or "
                                            "path); repeat for several."),
) -> None:
    """Show the ranked passages for a query: source, page, heading, scores and which retriever found them."""
    if mode and mode not in ("dense", "sparse", "hybrid"):
        raise typer.BadParameter("choose dense, sparse or hybrid", param_hint="--mode")
    from app.citations import location_dict
    from app.doc_scope import resolve_documents

    base = catalog().open(kb)
    documents = resolve_documents(base, doc)
    results = base.search(query, k=k, mode=mode, rerank=rerank, **({"documents": documents} if documents else {}))
    if json_out:
        print_json({"query": query, "kb": kb, "results": [
            {"rank": i, "chunk_id": r.chunk_id, **location_dict(r),  # the citations' location fields
             "text": r.text, "score": r.score, "found_by": list(r.hit.found_by) if r.hit else [],
             "dense_score": r.hit.dense_score if r.hit else None, "sparse_score": r.hit.sparse_score if r.hit else None,
             "rerank_score": r.hit.rerank_score if r.hit else None} for i, r in enumerate(results, 1)]})
        return
    if not results:
        typer.echo("no matching passages")
        return
    for i, r in enumerate(results, 1):
        where = r.source + (f" p.{r.page}" if r.page else "")
        scores = f"score {r.score:.4f}"
        if r.hit:
            parts = [f"dense {r.hit.dense_score:.3f}" if r.hit.dense_score is not None else "",
                     f"bm25 {r.hit.sparse_score:.3f}" if r.hit.sparse_score is not None else "",
                     f"rerank {r.hit.rerank_score:.3f}" if r.hit.rerank_score is not None else ""]
            scores += " (" + ", ".join(p for p in parts if p) + ")"
        typer.echo(f"[{i}] {where}" + (f"  {r.heading}" if r.heading else ""))
        typer.echo(f"    {scores}")
        text = r.text.replace("\n", " ")
        typer.echo(f"    {text[:300]}{'…' if len(text) > 300 else ''}")


def register(cli: typer.Typer) -> None:
    cli.command("search")(search)
