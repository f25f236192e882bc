"""Errors the CLI/API report as a one-line reason rather than a traceback."""
from __future__ import annotations


class UserError(Exception):
    exit_code = 2


class ModelFailed(UserError):
    """The language model (a server that is down, timed out, answered an error) failed to answer."""

    exit_code = 1


def is_user_error(exc: BaseException) -> bool:
    """Errors of the layers below whose message is a complete answer for the user (no traceback): the
    CLI prints them as one line, the MCP server returns them as the tool's error text."""
    from app.config import ConfigError
    from app.llms.base import LLMError
    from knowledge.errors import KBError
    from retrieval.errors import ModelLoadError

    return isinstance(exc, (KBError, ModelLoadError, LLMError, ConfigError, FileNotFoundError, PermissionError, ValueError))
