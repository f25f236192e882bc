"""Command groups of the `zhida` CLI, one module each; `register` wires them onto the root app."""
from __future__ import annotations

import importlib
import logging

import typer

log = logging.getLogger(__name__)

# Each module exposes `register(cli: typer.Typer) -> None`.
_MODULES = ["parse", "kb", "ingest", "search", "eval", "eval_qa", "ask", "serve", "sample", "mcp"]


def register(cli: typer.Typer) -> None:
    for name in _MODULES:
        try:
            module = importlib.import_module(f"app.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"app.commands.{name}":
                continue  # not written yet
            raise
        module.register(cli)
