"""Helpers shared by CLI commands: settings, catalog, JSON output."""
from __future__ import annotations

import json
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

    return Console(soft_wrap=False, highlight=False, width=None if sys.stdout.isatty() else 160)
