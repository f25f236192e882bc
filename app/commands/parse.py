"""`zhida parse FILE...`: show what the ingest layer reads from files, without touching a knowledge base."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import typer


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _page_label(page: int | None, page_end: int | None) -> str:
    if page is None:
        return ""
    if page_end is not None and page_end != page:
        return f"p.{page}-{page_end}"
    return f"p.{page}"


def parse(
    files: list[Path] = typer.Argument(..., help="Files to parse (PDF, docx, pptx, xlsx, txt, md, html, csv ...).",
                                       show_default=False),
    chunks: bool = typer.Option(False, "--chunks", help="Show the chunks that would be indexed instead of sections."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line (for scripts)."),
    password: str | None = typer.Option(None, "--password", help="Password for encrypted PDFs."),
    chunk_size: int | None = typer.Option(None, "--chunk-size", min=50, help="Chunk size in characters (with --chunks)."),
    chunk_overlap: int | None = typer.Option(None, "--chunk-overlap", min=0,
                                             help="Overlap between chunks in characters (with --chunks)."),
    no_ocr: bool = typer.Option(False, "--no-ocr", help="Do not OCR scanned pages even when OCR is installed."),
) -> None:
    """Parse files and print their sections (or chunks) with page and heading path.

    Warnings go to stderr. A file that cannot be read prints
    `error: FILE: KIND: REASON` on stderr; the other files are still parsed and
    the exit status is 1.
    """
    from dataclasses import asdict, replace

    import ingest

    settings = ingest.ChunkSettings()
    if chunk_size is not None:
        settings = replace(settings, chunk_size=chunk_size)
    if chunk_overlap is not None:
        settings = replace(settings, chunk_overlap=chunk_overlap)
    if settings.chunk_overlap >= settings.chunk_size:
        typer.echo("error: --chunk-overlap must be smaller than --chunk-size", err=True)
        raise SystemExit(2)
    options = ingest.LoadOptions(password=password, ocr=not no_ocr)

    failed = 0
    out = sys.stdout
    for path in files:
        try:
            doc = ingest.load_document(path, options)
        except ingest.IngestError as exc:
            failed += 1
            typer.echo(f"error: {path}: {exc.kind}: {exc.reason}", err=True)
            continue
        for warning in doc.warnings:
            typer.echo(f"warning: {path}: {warning}", err=True)
        if chunks:
            try:
                items = ingest.chunk_document(doc, settings, _sha256(path))
            except OSError as exc:
                failed += 1
                typer.echo(f"error: {path}: missing: {exc.strerror or exc}", err=True)
                continue
            records = [asdict(c) for c in items]
        else:
            records = []
            for index, section in enumerate(doc.sections):
                record = asdict(section)
                record["section_index"] = index
                record["source"] = doc.source
                record.pop("page_spans", None)
                records.append(record)
        if as_json:
            for record in records:
                record["heading_path"] = list(record["heading_path"])
                record.pop("page_spans", None)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            continue
        pages = f", {doc.pages} pages" if doc.pages else ""
        kind = "chunks" if chunks else "sections"
        out.write(f"== {doc.source} ({doc.format}{pages}, {len(records)} {kind})\n")
        for record in records:
            label = [_page_label(record["page"], record["page_end"])]
            if record["heading_path"]:
                label.append(" > ".join(record["heading_path"]))
            if record.get("kind") in ("table", "toc"):
                label.append(f"[{record['kind']}]")  # a toc section is shown here but never chunked
            if record.get("unit"):
                piece = " (piece)" if record.get("parent_text") else ""
                label.append(f"[{record['unit']}{piece}]")
            if chunks:
                label.insert(0, f"#{record['position']}")
            out.write("-- " + "  ".join(x for x in label if x) + "\n")
            out.write(record["text"].rstrip() + "\n\n")
    out.flush()
    if failed:
        # SystemExit, not typer.Exit: app.cli runs click with standalone_mode=False, which turns
        # typer.Exit into a return value that main() drops (the exit status would be 0).
        raise SystemExit(1)


def register(cli: typer.Typer) -> None:
    cli.command("parse")(parse)
