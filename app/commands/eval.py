"""`zhida eval DATASET_DIR...`: Recall@k, MRR@10 and nDCG@10 per retrieval mode, on one set or many.

Several sets (or a folder of sets, such as ../shared/data/eval) print one table, so a setting is never
judged on one kind of set blind to the others."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.commands._common import plain, print_json, settings, stdout_console, throwaway_catalog
from app.evaluation import ALL_MODES, DatasetError, load_dataset, score_mode, write_passages


def dataset_dirs(paths: list[Path]) -> list[Path]:
    """Each path is a set (corpus.jsonl + queries.jsonl) or a folder whose subfolders are sets."""
    out: list[Path] = []
    for p in paths:
        if (p / "corpus.jsonl").is_file() or not p.is_dir():
            out.append(p)
            continue
        subs = sorted(d for d in p.iterdir() if (d / "corpus.jsonl").is_file())
        if not subs:
            raise typer.BadParameter(f"{p} holds no evaluation set (folders with corpus.jsonl and queries.jsonl)",
                                     param_hint="DATASET_DIR")
        out.extend(subs)
    return out


def _evaluate(ds, dataset_dir: Path, s: dict, modes: list[str], ks: list[int], store_settings, fresh: bool) -> dict:
    """Index one set in a throw-away KB (cached per set and settings) and score every mode."""
    from tqdm import tqdm

    from app import services

    idx_settings = services.index_settings(s)
    store_key = [store_settings.backend, store_settings.uri] if store_settings.backend == "milvus" else []
    with throwaway_catalog(s, [str(Path(dataset_dir).resolve())] + store_key, fresh, store_settings) as (cat, work):
        mapping = write_passages(ds, work / "passages")
        kb = cat.open("eval") if cat.exists("eval") else cat.create("eval", idx_settings)
        typer.echo(f"indexing {len(ds.passages)} passages of {ds.name} with {idx_settings.embedding_model} ...",
                   err=True)
        report = kb.ingest([work / "passages"], exclude=())
        if report.count("failed"):
            bad = [f for f in report.files if f.status == "failed"][:3]
            typer.echo(f"warning: {report.count('failed')} passages failed to index, e.g. "
                       + "; ".join(f"{f.path}: {f.reason}" for f in bad), err=True)
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
                                    progress=lambda it, m=m: tqdm(it, desc=f"{ds.name} {m}", unit="q", leave=False,
                                                                  disable=None))
        kb.close()
    answerable = sum(1 for q in ds.queries if q.gold_ids)
    return {"dataset": ds.name, "queries": answerable, "passages": len(ds.passages), "modes": results,
            "skipped_queries": len(ds.queries) - answerable, "embedding": idx_settings.embedding_model,
            "store": store_settings.backend}


def eval_cmd(
    dataset_dir: list[Path] = typer.Argument(..., help="Folders with corpus.jsonl and queries.jsonl (several, or "
                                             "one folder holding such folders: all its sets)."),
    mode: Optional[list[str]] = typer.Option(None, "--mode", help="dense, sparse, hybrid, hybrid+rerank "
                                             "(repeatable; default: all, hybrid+rerank only with --reranker)."),
    k: str = typer.Option("1,3,5,10", "--k", help="Cut-offs for Recall@k, comma separated."),
    embedding: Optional[str] = typer.Option(None, "--embedding", help="Embedding model (default from config)."),
    reranker: Optional[str] = typer.Option(None, "--reranker", help="Cross-encoder for hybrid+rerank."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N queries of each set."),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="Fusion rule for hybrid (default from config "
                                         "retrieval.fusion)."),
    store: Optional[str] = typer.Option(None, "--store", help="local or milvus (default from config store.backend)."),
    uri: Optional[str] = typer.Option(None, "--uri", help="Milvus URI for --store milvus (default: config "
                                      "store.milvus.uri, else a Milvus Lite file in the eval cache)."),
    fresh: bool = typer.Option(False, "--fresh", help="Build the throw-away KB from scratch instead of reusing "
                               "the cached one for this dataset and model."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object (one set: its scores; several: "
                                  "{\"datasets\": [...]})."),
) -> None:
    """Evaluate retrieval on one or more datasets: builds a throw-away knowledge base per set through
    the real ingest pipeline (one file per passage) and scores each mode."""
    from app import services

    try:
        ks = sorted({int(x) for x in k.split(",") if x.strip()})
    except ValueError:
        raise typer.BadParameter("give cut-offs like 1,3,5,10", param_hint="--k") from None
    if not ks or min(ks) < 1:
        raise typer.BadParameter("cut-offs are whole numbers of at least 1, like 1,3,5,10", param_hint="--k")
    dirs = dataset_dirs(list(dataset_dir))
    try:
        sets = [(d, load_dataset(d, limit)) for d in dirs]
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
    services.query_settings(s)  # an unknown fusion rule fails here, before any indexing
    store_settings = services.store_settings(s, store, uri)
    if store_settings.backend not in ("local", "milvus"):
        raise typer.BadParameter("choose local or milvus", param_hint="--store")
    outs = [_evaluate(ds, d, s, modes, ks, store_settings, fresh) for d, ds in sets]
    if json_out:
        print_json(outs[0] if len(outs) == 1 else {"datasets": outs})
        return
    _print_table(outs, ks)


def _print_table(outs: list[dict], ks: list[int]) -> None:
    """One table: a row per set and mode, the best MRR@10 of each set in bold."""
    from rich.table import Table

    metrics = [f"recall@{x}" for x in ks] + ["mrr@10", "ndcg@10"]
    first = outs[0]
    title = (f"{first['dataset']}: {first['queries']} queries, {first['passages']} passages, "
             if len(outs) == 1 else f"{len(outs)} sets, ") + f"embedding {first['embedding']}, store {first['store']}"
    table = Table("set", "mode", *metrics, title=plain(title))
    for out in outs:
        best = max((v.get("mrr@10", 0) for v in out["modes"].values()), default=0)
        for i, (m, vals) in enumerate(out["modes"].items()):
            cells = [plain(f"{vals.get(x, 0):.3f}") for x in metrics]
            if vals.get("mrr@10", 0) == best and len(out["modes"]) > 1:
                cells[-2].stylize("bold")
            table.add_row(plain(out["dataset"] if i == 0 else ""), plain(m), *cells,
                          end_section=i == len(out["modes"]) - 1)
    stdout_console().print(table)
    for out in outs:
        if out["skipped_queries"]:
            typer.echo(f"{out['dataset']}: {out['skipped_queries']} queries without gold passages were skipped")


def register(cli: typer.Typer) -> None:
    cli.command("eval")(eval_cmd)
