"""Fixtures for the ingest tests: generated documents, and shared documents parsed once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DOCS, require_shared


@pytest.fixture(scope="session")
def parsed_shared():
    """Parse a shared document once per session (the civil code takes about a second)."""
    import ingest

    cache: dict[tuple[str, bool], object] = {}

    def get(name: str, ocr: bool = False):
        key = (name, ocr)
        if key not in cache:
            path = require_shared(SHARED_DOCS / name)
            cache[key] = ingest.load_document(path, ingest.LoadOptions(ocr=ocr))
        return cache[key]

    return get


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    return d
