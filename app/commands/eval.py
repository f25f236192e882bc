"""`zhida eval DATASET_DIR`: Recall@k, MRR@10 and nDCG@10 per retrieval mode."""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import typer

from app.commands._common import plain, print_json, settings, stdout_console
from app.evaluation import ALL_MODES, DatasetError, load_dataset, score_mode, write_passages


def eval_cmd(
    dataset_dir: Path = typer.Argument(..., help="Folder with corpus.jsonl and queries.jsonl."),
    mode: Optional[list[str]] = typer.Option(None, "--mode", help="dense, sparse, hybrid, hybrid+rerank "
                                             "(repeatable; default: all, hybrid+rerank only with --reranker)."),
    k: str = typer.Option("1,3,5,10", "--k", help="Cut-offs for Recall@k, comma separated."),
    embedding: Optional[str] = typer.Option(None, "--embedding", help="Embedding model (default from config)."),
    reranker: Optional[str] = typer.Option(None, "--reranker", help="Cross-encoder for hybrid+rerank."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N queries."),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="rrf or weighted (default from config)."),
    store: Optional[str] = typer.Option(None, "--store", help="local or milvus (default from config store.backend)."),
    uri: Optional[str] = typer.Option(None, "--uri", help="Milvus URI for --store milvus (default: config "
                                      "store.milvus.uri, else a Milvus Lite file in the eval cache)."),
    fresh: bool = typer.Option(False, "--fresh", help="Build the throw-away KB from scratch instead of reusing "
                               "the cached one for this dataset and model."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Evaluate retrieval on a dataset: builds a throw-away knowledge base through the real
    ingest pipeline (one file per passage) and scores each mode."""
    from app import services
    from knowledge import Catalog

    try:
        ks = sorted({int(x) for x in k.split(",") if x.strip()})
    except ValueError:
        raise typer.BadParameter("give cut-offs like 1,3,5,10", param_hint="--k") from None
    if not ks or ks[0] < 1:
        raise typer.BadParameter("cut-offs are whole numbers of at least 1, like 1,3,5,10", param_hint="--k")
    try:
        ds = load_dataset(dataset_dir, limit)
    except DatasetError as exc:
        raise typer.BadParameter(str(exc), param_hint="DATASET_DIR") from None
    modes = list(mode) if mode else [m for m in ALL_MODES if m != "hybrid+rerank" or reranker]
    for m in modes:
        if m not in ALL_MODES:
            raise typer.BadParameter(f"unknown mode {m!r}; choose from {', '.join(ALL_MODES)}", param_hint="--mode")
    s = settings(embedding)
    if reranker:
        s["retrieval"]["reranker"] = reranker
    if fusion:
        s["retrieval"]["fusion"] = fusion
    idx_settings = services.index_settings(s)
    store_settings = services.store_settings(s, store, uri)
    if store_settings.backend not in ("local", "milvus"):
        raise typer.BadParameter("choose local or milvus", param_hint="--store")
    store_key = [store_settings.backend, store_settings.uri] if store_settings.backend == "milvus" else []
    key = hashlib.sha256(json.dumps([str(Path(dataset_dir).resolve()), idx_settings.as_manifest()] + store_key,
                                    sort_keys=True).encode()).hexdigest()[:16]
    from app.config import zhida_home

    work = Path(tempfile.mkdtemp(prefix="zhida-eval-")) if fresh else zhida_home() / "eval-cache" / key
    if store_settings.backend == "milvus" and not store_settings.uri:
        from dataclasses import replace

        store_settings = replace(store_settings, uri=str(work / "milvus.db"))
    try:
        cat = Catalog(work / "home", embedder_loader=services.embedder_loader(s),
                      reranker_loader=services.reranker_loader(s), defaults=idx_settings,
                      query=services.query_settings(s), ingest=services.ingest_settings(s), store=store_settings)
        mapping = write_passages(ds, work / "passages")
        kb = cat.open("eval") if cat.exists("eval") else cat.create("eval", idx_settings)
        typer.echo(f"indexing {len(ds.passages)} passages of {ds.name} with {idx_settings.embedding_model} ...",
                   err=True)
        report = kb.ingest([work / "passages"], exclude=())
        if report.count("failed"):
            bad = [f for f in report.files if f.status == "failed"][:3]
            typer.echo(f"warning: {report.count('failed')} passages failed to index, e.g. "
                       + "; ".join(f"{f.path}: {f.reason}" for f in bad), err=True)
        from tqdm import tqdm

        results: dict[str, dict[str, float]] = {}
        vectors: dict[str, object] = {}
        if any(m != "sparse" for m in modes):
            # one batched pass instead of one model call per query and mode
            embedder = kb.embedder()
            questions = [q.question for q in ds.queries if q.gold_ids]
            batch = getattr(embedder, "embed_queries", None)
            mat = batch(questions) if batch else [embedder.embed_query(x) for x in questions]
            vectors = dict(zip(questions, mat))
        for m in modes:
            base, rr = ("hybrid", True) if m == "hybrid+rerank" else (m, False)

            def search(question: str, depth: int, base=base, rr=rr) -> list[str]:
                hits = kb.search(question, k=depth, mode=base, rerank=rr, query_vector=vectors.get(question))
                return [mapping.get(Path(h.source).name, h.source) for h in hits]

            results[m] = score_mode(ds.queries, search, ks,
                                    progress=lambda it, m=m: tqdm(it, desc=m, unit="q", leave=False, disable=None))
        kb.close()
    finally:
        if fresh:
            shutil.rmtree(work, ignore_errors=True)
    answerable = sum(1 for q in ds.queries if q.gold_ids)
    out = {"dataset": ds.name, "queries": answerable, "passages": len(ds.passages), "modes": results,
           "skipped_queries": len(ds.queries) - answerable, "embedding": idx_settings.embedding_model,
           "store": store_settings.backend}
    if json_out:
        print_json(out)
        return
    from rich.table import Table

    metrics = [f"recall@{x}" for x in ks] + ["mrr@10", "ndcg@10"]
    table = Table("mode", *metrics, title=plain(f"{ds.name}: {answerable} queries, {len(ds.passages)} passages, "
                                                f"embedding {idx_settings.embedding_model}, store "
                                                f"{store_settings.backend}"))
    for m, vals in results.items():
        table.add_row(plain(m), *[f"{vals.get(x, 0):.3f}" for x in metrics])
    stdout_console().print(table)
    if out["skipped_queries"]:
        typer.echo(f"{out['skipped_queries']} queries without gold passages were skipped")


def register(cli: typer.Typer) -> None:
    cli.command("eval")(eval_cmd)
