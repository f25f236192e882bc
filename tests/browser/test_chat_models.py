"""In the browser, against one real `zhida serve`: a follow-up question is rewritten with the chat's
history and its citation shows the heading path."""
from __future__ import annotations

import shutil
import time

import pytest

from tests.browser.test_ui_flow import ARGS, CHROMIUM, SCREENS, launch

pytestmark = pytest.mark.browser

HANDBOOK = ("# 员工手册\n\n## 年假\n\n员工工作满一年后每年享有十天带薪年假。\n\n"
            "## 病假\n\n员工每年享有十二天带薪病假，超过两天需要诊断证明。\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat_models")
    for base in launch(tmp):
        import httpx

        assert httpx.post(base + "/api/kbs", json={"name": "hr"}).status_code in (200, 201)
        job = httpx.post(base + "/api/kbs/hr/documents",
                         files=[("files", ("员工手册.md", HANDBOOK.encode(), "text/markdown"))]).json()["job_id"]
        for _ in range(300):
            if httpx.get(f"{base}/api/jobs/{job}").json()["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        yield {"base": base, "tmp": tmp}


@pytest.fixture
def page(served):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium not found: `make test` installs it with apt-get (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            pg = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000}).new_page()
            pg.set_default_timeout(30_000)
            pg.goto(served["base"] + "/")
            yield pg
        finally:
            browser.close()


def _shot(page, served, name: str) -> None:
    path = served["tmp"] / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / f"{name}.png")


def test_a_follow_up_in_the_ui_is_answered_from_the_previous_subject(page, served):
    from playwright.sync_api import expect

    expect(page.locator("#kb-info")).to_contain_text("hr")
    page.locator("#question textarea").fill("年假有几天？")
    page.locator("#send").click()
    expect(page.locator("#chatbot details.zhida-cite")).to_have_count(1)
    expect(page.locator('#chatbot [data-testid="bot"]').last).to_contain_text("十天")
    page.locator("#question textarea").fill("那病假呢？")
    page.locator("#send").click()
    bot = page.locator('#chatbot [data-testid="bot"]').nth(1)
    expect(page.locator("#answer-mode")).to_contain_text("病假有几天？")  # the rewrite, shown under the chat
    expect(bot).to_contain_text("十二天")
    summary = bot.locator("details.zhida-cite summary").first
    expect(summary).to_contain_text("员工手册.md")
    expect(summary).to_contain_text("员工手册 > 病假")  # the heading path reaches the UI
    _shot(page, served, "08_follow_up")
