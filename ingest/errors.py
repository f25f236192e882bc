"""Typed reasons a file could not be ingested.

Every error carries a one-line, user-facing `reason`; the CLI prints it next
to the file name and keeps going with the rest of the batch.
"""
from __future__ import annotations


class IngestError(Exception):
    """Base class: a file that cannot be turned into sections."""

    kind = "error"

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedFile(IngestError):
    kind = "unsupported"


class CorruptFile(IngestError):
    kind = "corrupt"


class EncryptedFile(IngestError):
    kind = "encrypted"


class EmptyFile(IngestError):
    kind = "empty"


class FileTooLarge(IngestError):
    kind = "too_large"


class UndecodableFile(IngestError):
    kind = "undecodable"
