"""retrieval.* settings as the knowledge layer gets them: the per-model fusion calibration."""
from __future__ import annotations

import pytest

from app.config import default_settings
from app.services import query_settings


def test_the_shipped_config_calibrates_fusion_for_both_offline_models():
    q = query_settings(default_settings())
    assert q.confidence_mid_for("e5-small") == 4.2 and q.confidence_mid_for("use-multilingual") == 7.0
    assert q.confidence_mid_for("m3e-small") == 5.5
    assert q.confidence_mid_for("BAAI/bge-small-zh-v1.5") is None  # not calibrated: the gate's own midpoint


def test_per_model_midpoints_are_read_as_numbers_and_a_bare_number_is_refused():
    q = query_settings({"retrieval": {"fusion_confidence_mid": {"use-multilingual": "7"}}})
    assert q.confidence_mid_for("use-multilingual") == 7.0
    assert query_settings({"retrieval": {}}).fusion_confidence_mid == ()
    for bad in (7.0, {"use-multilingual": "high"}):
        with pytest.raises(ValueError, match="retrieval.fusion_confidence_mid"):
            query_settings({"retrieval": {"fusion_confidence_mid": bad}})
