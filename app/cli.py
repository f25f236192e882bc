"""The `zhida` command line: one root Typer app; each command group lives in app/commands/.

User errors (bad input, missing KB, a model that cannot load) print a one-line
reason on stderr and exit non-zero; tracebacks only appear with -v.
"""
from __future__ import annotations

import logging
import sys

import typer

from app.errors import UserError, is_user_error

cli = typer.Typer(
    name="zhida",
    help="Zhida (知答): ask questions of your own documents, locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"verbose": False}


@cli.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logs and full tracebacks."),
) -> None:
    """Zhida (知答): ask questions of your own documents, locally."""
    _state["verbose"] = verbose
    setup_logging(verbose)


def setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("jieba", "httpx", "urllib3", "filelock", "faiss", "sentence_transformers", "pdfminer"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.ERROR)


def _register_commands() -> None:
    # Imported here so a broken optional command module never breaks `zhida --help`.
    from app.commands import register

    register(cli)


def _is_usage_error(exc: BaseException) -> bool:
    """A bad option value or usage (`-k -3`): click's own message ("Invalid value for '-k'") and exit 2."""
    vendored = sys.modules.get("typer._click.exceptions")
    return vendored is not None and isinstance(exc, vendored.ClickException)


def main() -> None:
    import click

    _register_commands()
    try:
        rc = cli(standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        if _is_usage_error(exc):  # newer Typer raises its own vendored click's errors, not click's
            exc.show()
            sys.exit(exc.exit_code)
        if _state["verbose"]:
            raise
        if isinstance(exc, UserError):
            typer.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        if is_user_error(exc):
            typer.echo(f"error: {exc}", err=True)
            sys.exit(2)
        typer.echo(f"error: {type(exc).__name__}: {exc} (run with -v for details)", err=True)
        sys.exit(1)
    # standalone_mode=False turns `raise typer.Exit(n)` into a return value
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
