"""`zhida ingest PATH... --kb NAME`: add or refresh files and folders."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from app.commands._common import catalog, plain, print_json, settings, stdout_console


def ingest(
    paths: List[Path] = typer.Argument(..., help="Files and/or folders (folders are walked recursively)."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base to ingest into."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Only files matching this glob (repeatable)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Skip files matching this glob (repeatable)."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-parse and re-embed everything, e.g. to change the "
                                 "embedding model or chunk size (give them with --embedding/--chunk-size)."),
    follow_links: Optional[bool] = typer.Option(None, "--follow-links/--no-follow-links", help="Also read symbolic "
                                                "links whose target lies outside the folders given (default: skip "
                                                "them with a reason; config ingest.follow_links)."),
    password: Optional[str] = typer.Option(None, "--password", help="Password for encrypted PDFs."),
    embedding: Optional[str] = typer.Option(None, "--embedding", help="Embedding model for a new KB or a --rebuild."),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="Chunk size for a new KB or a --rebuild."),
    chunk_overlap: Optional[int] = typer.Option(None, "--chunk-overlap", help="Chunk overlap for a new KB or a --rebuild."),
    create: bool = typer.Option(True, "--create/--no-create", help="Create the knowledge base if it does not exist."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    watch: bool = typer.Option(False, "--watch", help="After the first sync, keep watching the folders and sync "
                               "each change (new, edited, renamed, deleted files), one line per change; Ctrl-C "
                               "stops. With --json each change is one JSON object a line. Config: ingest.watch (debounce_s, "
                               "settle_s, polling)."),
    poll: Optional[bool] = typer.Option(None, "--poll/--no-poll", help="With --watch: poll the folders instead "
                                        "of kernel events (network file systems; config ingest.watch.polling)."),
) -> None:
    """Add files and folders to a knowledge base, incrementally.

    New and changed files (by content hash) are parsed and embedded, files deleted from an
    ingested folder are removed, unchanged files cost nothing. Ends with a per-file table;
    exits 1 if any file failed.
    """
    from app import services

    s = settings()
    cat = catalog(s)
    wanted = None
    if embedding or chunk_size or chunk_overlap is not None:
        wanted = services.index_settings(s, embedding, chunk_size, chunk_overlap)
    if not cat.exists(kb):
        if not create:
            cat.open(kb)  # raises the "no knowledge base" error
        cat.create(kb, wanted or services.index_settings(s))
        typer.echo(f"created knowledge base '{kb}'", err=True)
    base = cat.open(kb)
    if wanted is not None and rebuild:
        pass
    elif wanted is not None:
        base.check_settings(wanted)
    watcher = None
    if watch:  # started before the first sync, so a change made during it is not missed
        from app.watching import watcher_for

        folders = [p for p in paths if p.is_dir()]
        if not folders:
            raise typer.BadParameter("--watch needs at least one folder", param_hint="PATH")
        watcher = watcher_for(folders, s, exclude, poll)
    bar = _progress_bar(json_out)
    try:
        report = base.ingest(paths, include=tuple(include or ()), exclude=tuple(exclude) if exclude else None,
                             rebuild=rebuild, password=password, progress=bar.update if bar else None,
                             index_settings=wanted, follow_links=follow_links)
    finally:
        if bar:
            bar.close()
    if json_out:
        print_json({"kb": kb, "summary": report.summary(), "embedded_chunks": report.embedded_chunks,
                    "seconds": round(report.seconds, 3),
                    "files": [{"path": f.path, "status": f.status, "chunks": f.chunks, "reason": f.reason,
                               "error_kind": f.error_kind, "warnings": f.warnings} for f in report.files]})
    else:
        _print_report(report)
    if watcher is not None:
        from app import watching

        def sync():
            return base.ingest(paths, include=tuple(include or ()), exclude=tuple(exclude) if exclude else None,
                               password=password, follow_links=follow_links)

        watching.run(watcher, sync, typer.echo, lambda line: typer.echo(line, err=True),
                     watching.change_json if json_out else watching.change_line)
        return
    if report.count("failed"):
        raise typer.Exit(1)


class _Bar:
    def __init__(self):
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="file", desc="ingesting", disable=None, leave=False)

    def update(self, done: int, total: int, path: str) -> None:
        self._bar.total = total
        self._bar.n = done
        self._bar.set_postfix_str(Path(path).name[-40:] if path else "", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _progress_bar(json_out: bool):
    return None if json_out else _Bar()


def _print_report(report) -> None:
    from rich.table import Table

    interesting = [f for f in report.files if f.status != "unchanged"]
    if interesting:
        table = Table("file", "status", "chunks", "reason")
        style = {"failed": "red", "added": "green", "updated": "yellow", "removed": "magenta", "skipped": "cyan"}
        for f in interesting:
            reason = f.reason or ("; ".join(f.warnings) if f.warnings else "")
            table.add_row(plain(f.path), plain(f.status, style.get(f.status, "")), str(f.chunks), plain(reason))
        stdout_console().print(table)
    s = report.summary()
    skipped = report.count("skipped")
    typer.echo(f"added {s['added']}, updated {s['updated']}, removed {s['removed']}, unchanged {s['unchanged']}, "
               f"failed {s['failed']}" + (f", skipped {skipped}" if skipped else "")
               + f"; embedded {report.embedded_chunks} chunks in {report.seconds:.1f}s")


def register(cli: typer.Typer) -> None:
    cli.command("ingest")(ingest)
