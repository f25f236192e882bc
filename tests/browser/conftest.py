"""Fixtures shared by the browser tests."""
import pytest

from tests.browser.test_ui_flow import launch


@pytest.fixture
def server(tmp_path):
    """A real `zhida serve` on a free port with its own ZHIDA_HOME; its base URL."""
    yield from launch(tmp_path)
