"""In the browser: a model server that is down shows as an error naming it, not as "not found"."""
from __future__ import annotations

import shutil
import socket
import time

import pytest

from tests.browser.test_ui_flow import SCREENS, browser_page, launch, need_chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def dead_llm_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    url = f"http://127.0.0.1:{port}/v1"
    for base in launch(tmp_path, ZHIDA_LLM="openai", ZHIDA_OPENAI_BASE_URL=url, ZHIDA_OPENAI_MODEL="qwen2.5:7b"):
        yield base, url


def test_a_dead_model_server_is_an_error_in_the_chat(dead_llm_server, tmp_path):
    need_chromium()
    import httpx
    from playwright.sync_api import expect

    base, url = dead_llm_server
    assert httpx.post(base + "/api/kbs", json={"name": "hr"}).status_code in (200, 201)
    job = httpx.post(base + "/api/kbs/hr/documents",
                     files=[("files", ("leave.txt", "年假有十五天。".encode(), "text/plain"))]).json()["job_id"]
    for _ in range(300):
        if httpx.get(f"{base}/api/jobs/{job}").json()["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    with browser_page(height=900) as page:
        page.goto(base + "/")
        expect(page.locator("#kb-info")).to_contain_text("hr")
        page.locator("#question textarea").fill("年假有几天？")
        page.locator("#send").click()
        bot = page.locator('#chatbot [data-testid="bot"]').last
        expect(bot).to_contain_text("✖")
        expect(bot).to_contain_text(url.rsplit("/v1", 1)[0])
        assert "知识库中没有找到" not in bot.inner_text() and "does not contain" not in bot.inner_text()
        shot = tmp_path / "model_error.png"
        page.screenshot(path=str(shot), full_page=True)
        SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENS / "07_model_error.png")
