"""Errors the CLI/API report as a one-line reason rather than a traceback."""
from __future__ import annotations


class UserError(Exception):
    exit_code = 2
