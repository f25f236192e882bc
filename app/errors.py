"""Errors the CLI/API report as a one-line reason rather than a traceback."""
from __future__ import annotations


class UserError(Exception):
    exit_code = 2


class ModelFailed(UserError):
    """The language model (a server that is down, timed out, answered an error) failed to answer."""

    exit_code = 1
