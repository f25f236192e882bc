"""Helpers shared by CLI commands: settings, catalog, JSON output."""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Any

import typer


def settings(embedding: str | None = None) -> dict[str, Any]:
    from app.config import load_settings

    s = load_settings()
    if embedding:
        s["embedding"]["model"] = embedding
    return s


def catalog(s: dict[str, Any] | None = None):
    from app import services

    return services.catalog(s if s is not None else settings())


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def stdout_console():
    from rich.console import Console

    # piped output is 160 columns unless COLUMNS says otherwise (Rich reads it when width is None)
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(soft_wrap=False, highlight=False, width=None if wide else 160)


@contextmanager
def throwaway_catalog(s: dict[str, Any], key_parts: list, fresh: bool, store_settings=None):
    """A Catalog for evaluation KBs: a temp folder removed afterwards (`fresh`), or a cache folder under
    ZHIDA_HOME/eval-cache keyed by what the KB is built from (data + index settings + store), so a
    second run re-embeds nothing. Yields (catalog, work folder)."""
    import hashlib
    import shutil
    import tempfile
    from pathlib import Path

    from app import services
    from app.config import zhida_home
    from knowledge import Catalog

    idx = services.index_settings(s)
    store_settings = store_settings or services.store_settings(s)
    key = hashlib.sha256(json.dumps(key_parts + [idx.as_manifest()], sort_keys=True, default=str)
                         .encode()).hexdigest()[:16]
    work = Path(tempfile.mkdtemp(prefix="zhida-eval-")) if fresh else zhida_home() / "eval-cache" / key
    if store_settings.backend == "milvus" and not store_settings.uri:
        from dataclasses import replace

        store_settings = replace(store_settings, uri=str(work / "milvus.db"))
    try:
        yield Catalog(work / "home", embedder_loader=services.embedder_loader(s),
                      reranker_loader=services.reranker_loader(s), defaults=idx,
                      query=services.query_settings(s), ingest=services.ingest_settings(s),
                      store=store_settings), work
    finally:
        if fresh:
            shutil.rmtree(work, ignore_errors=True)


def plain(value: Any, style: str = ""):
    """A table cell or title from data (file names, reasons, KB names, model ids) as a rich Text: never
    read as markup or emoji codes, so `zhida[ocr]` prints as written and a folder named `a[` with a
    `x]` below it cannot end a command with MarkupError after its work is committed."""
    from rich.text import Text

    return Text("" if value is None else str(value), style=style)
