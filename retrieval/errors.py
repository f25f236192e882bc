"""Errors of the retrieval layer."""


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded; the message says why and what works offline."""
