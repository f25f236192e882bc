"""`zhida kb create|list|show|delete`."""
from __future__ import annotations

import typer

from app.commands._common import catalog, plain, print_json, settings, stdout_console

kb_app = typer.Typer(help="Create, list, inspect and delete knowledge bases.", no_args_is_help=True)


@kb_app.command("create")
def create(
    name: str = typer.Argument(..., help="Name of the knowledge base (letters, digits, Chinese, '-', '_')."),
    embedding: str = typer.Option(None, "--embedding", help="Embedding model: use-multilingual (offline default), "
                                  "a sentence-transformers hub id such as BAAI/bge-small-zh-v1.5, or a local folder."),
    chunk_size: int = typer.Option(None, "--chunk-size", help="Chunk size in characters (default from config)."),
    chunk_overlap: int = typer.Option(None, "--chunk-overlap", help="Overlap between chunks in characters."),
    store: str = typer.Option(None, "--store", help="local (kb.sqlite + FAISS/BM25, the default) or milvus "
                              "(shared by every Zhida pointed at the same --uri; needs `pip install -e .[milvus]`)."),
    uri: str = typer.Option(None, "--uri", help="Milvus URI: a Milvus Lite file such as ./kb.db, or "
                            "http://host:19530 (default from config store.milvus.uri)."),
    json_out: bool = typer.Option(False, "--json", help="Print the new knowledge base as JSON."),
) -> None:
    """Create an empty knowledge base. Its embedding model and chunking are fixed from now on.
    With --store milvus and a URI where another machine already created NAME, this one joins it."""
    from app import services

    s = settings()
    if store not in (None, "local", "milvus"):
        raise typer.BadParameter("choose local or milvus", param_hint="--store")
    if uri and not store:
        store = "milvus"
    if embedding:  # refused now when it cannot load here, not at the first ingest
        services.check_embedding(s, embedding.strip())
    kb = catalog(s).create(name, services.index_settings(s, embedding, chunk_size, chunk_overlap),
                           store=services.store_settings(s, store, uri))
    if json_out:
        print_json(kb.stats())
    else:
        st = kb.stats()
        where = f"Milvus {st['uri']} (collections {st['collection']}_*)" if st.get("store") == "milvus" else st["path"]
        verb = "joined" if st.get("documents") else "created"
        typer.echo(f"{verb} knowledge base '{st['name']}' (embedding {st['embedding_model']}, chunks "
                   f"{st['chunk_size']}/{st['chunk_overlap']}) at {where}")


@kb_app.command("list")
def list_(json_out: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List knowledge bases with their document and chunk counts."""
    rows = catalog().list()
    if json_out:
        print_json(rows)
        return
    if not rows:
        typer.echo("no knowledge bases yet; create one with `zhida ingest PATH --kb NAME`")
        return
    from rich.table import Table

    table = Table("name", "documents", "failed", "chunks", "embedding model")
    for r in rows:
        table.add_row(plain(r["name"]), str(r.get("documents", "?")), str(r.get("failed", "?")),
                      str(r.get("chunks", "?")), plain(r.get("embedding_model", r.get("error", ""))))
    stdout_console().print(table)


@kb_app.command("show")
def show(name: str = typer.Argument(...), json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a knowledge base: settings, counts, every document and why any failed."""
    kb = catalog().open(name)
    st, docs = kb.stats(), kb.documents()
    if json_out:
        print_json({**st, "documents_list": docs})
        return
    typer.echo(f"{st['name']}  ({st['path']})" + (f"  store: Milvus {st['uri']}, collections {st['collection']}_*"
                                                  if st.get("store") == "milvus" else ""))
    typer.echo(f"  embedding model: {st['embedding_model']} (dim {st['dim']}); chunks {st['chunk_size']}/"
               f"{st['chunk_overlap']}; chunker {st.get('chunker', 1)}; schema {st['schema_version']}")
    typer.echo(f"  documents: {st['documents']} ({st['failed']} failed); chunks: {st['chunks']}")
    if docs:
        from rich.table import Table

        table = Table("id", "document", "status", "chunks", "reason")
        for d in docs:
            table.add_row(str(d["id"]), plain(d["path"]), plain(d["status"]), str(d["chunks"]), plain(d["error"]))
        stdout_console().print(table)


@kb_app.command("delete")
def delete(name: str = typer.Argument(...),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete a knowledge base and everything in it (your original files are not touched)."""
    cat = catalog()
    if not cat.exists(name):
        cat.open(name)  # a clear error for an unknown name before asking (a damaged KB can still go)
    if not yes and not typer.confirm(f"Delete knowledge base '{name}' and its index?"):
        raise typer.Exit(1)
    cat.delete(name)
    typer.echo(f"deleted knowledge base '{name}'")


def register(cli: typer.Typer) -> None:
    cli.add_typer(kb_app, name="kb")
