"""Helpers shared by CLI commands: settings, catalog, JSON output."""
from __future__ import annotations

import json
import os
import sys
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


def plain(value: Any, style: str = ""):
    """A table cell or title from data (file names, reasons, KB names, model ids) as a rich Text: never
    read as markup or emoji codes, so `zhida[ocr]` prints as written and a folder named `a[` with a
    `x]` below it cannot end a command with MarkupError after its work is committed."""
    from rich.text import Text

    return Text("" if value is None else str(value), style=style)
