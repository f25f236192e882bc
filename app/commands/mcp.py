"""`zhida mcp [--kb NAME]`: the knowledge bases as Model Context Protocol tools, over stdio.

A desktop assistant or editor starts this command and talks JSON-RPC on its stdin/stdout, so stdout
belongs to the protocol: everything else (logs, warnings, model loading noise) goes to stderr.
"""
from __future__ import annotations

from typing import Optional

import typer

from app.commands._common import catalog, settings


def mcp(
    kb: Optional[str] = typer.Option(None, "--kb", help="Serve only this knowledge base: the tools then take no "
                                     "`kb` argument."),
    llm: Optional[str] = typer.Option(None, "--llm", help="Backend for the ask tool: extractive | openai | "
                                      "transformers | llamacpp (default from config: answer.llm)."),
) -> None:
    """Run an MCP server over stdio with three tools: list_knowledge_bases, search and ask.

    Point a desktop MCP client at it with command `zhida` and args `["mcp", "--kb", "NAME"]`.
    """
    from app.commands.serve import _warm_up
    from app.mcp_server import build_server

    s = settings()
    if kb:
        catalog(s).open(kb)  # a wrong name is the CLI's one-line error now, not a server that fails every call
    _warm_up(s)  # models, indexes and the refusal check's word weights load while the client starts up
    build_server(s, kb=kb, llm=llm).run("stdio")


def register(cli: typer.Typer) -> None:
    cli.command("mcp")(mcp)
