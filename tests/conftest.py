"""Shared fixtures: an isolated ZHIDA_HOME and offline model settings for every test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DOCS = SHARED / "data" / "docs"
SHARED_EVAL = SHARED / "data" / "eval"


def require_shared(path: Path) -> Path:
    """Skip (with the reason) when ../shared is absent, as in a user's clone."""
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared is only beside CI and developer checkouts")
    return path


@pytest.fixture(autouse=True)
def zhida_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("zhida_home")
    monkeypatch.setenv("ZHIDA_HOME", str(home))
    return home


@pytest.fixture
def server_settings(monkeypatch, zhida_home) -> dict:
    """The settings a server test starts from (its own copy to change): the hashing embedder, so no model
    loads, and no API token or LLM taken from the environment of whoever runs the tests."""
    monkeypatch.setenv("ZHIDA_EMBEDDING_MODEL", "hashing")
    monkeypatch.delenv("ZHIDA_TOKEN", raising=False)
    monkeypatch.delenv("ZHIDA_LLM", raising=False)
    from app.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Folders of tiny random-weight models (embedder, cross-encoder, Qwen2, GLM)."""
    import torch

    from tests import models

    torch.manual_seed(0)  # the same random weights on every run, so a model-dependent failure reproduces
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "embedder": models.tiny_sentence_transformer(root / "emb"),
        "reranker": models.tiny_cross_encoder(root / "rr"),
        "qwen2": models.tiny_qwen2(root / "lm"),
        "glm": models.tiny_glm(root / "lm"),
    }
