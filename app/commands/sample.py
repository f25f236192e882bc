"""`zhida sample`: the `sample` knowledge base holding Zhida's own user guide (docs/)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.commands._common import catalog, settings

SAMPLE_KB = "sample"


def guide_folder() -> Path | None:
    """docs/ of the source checkout (the guide is ours to ship; an installed wheel has no docs/)."""
    here = Path(__file__).resolve().parents[2] / "docs"
    return here if here.is_dir() else None


def sample(
    source: Optional[Path] = typer.Option(None, "--from", help="Folder to build the sample from (default: docs/)."),
    name: str = typer.Option(SAMPLE_KB, "--kb", help="Name of the sample knowledge base."),
) -> None:
    """Build or refresh the sample knowledge base from Zhida's user guide (Chinese and English).

    Re-running it is cheap: only changed guide pages are re-indexed.
    """
    folder = source or guide_folder()
    if folder is None or not folder.is_dir():
        raise typer.BadParameter("the user guide folder docs/ was not found; give one with --from",
                                 param_hint="--from")
    s = settings()
    cat = catalog(s)
    kb = cat.open(name) if cat.exists(name) else cat.create(name)
    typer.echo(f"indexing the user guide into '{name}' (embedding {kb.embedding_model}) ...", err=True)
    report = kb.ingest([folder])
    st = kb.stats()
    summary = report.summary()
    typer.echo(f"sample knowledge base '{name}' ready: {st['documents']} documents, {st['chunks']} chunks "
               f"(added {summary['added']}, updated {summary['updated']}, unchanged {summary['unchanged']}). "
               f"Try: zhida ask \"如何导入扫描版PDF？\" --kb {name}")


def register(cli: typer.Typer) -> None:
    cli.command("sample")(sample)
