"""In the browser, against one real `zhida serve`: a follow-up question is rewritten with the chat's
history and its citation shows the heading path; the model picker lists the models of an
OpenAI-compatible server on 127.0.0.1 (discovery pointed at its port), tests the connection and saves
the choice, and the next answer comes from that server."""
from __future__ import annotations

import shutil
import time

import pytest

from tests.browser.test_ui_flow import SCREENS, _free_port, browser_page, launch, need_chromium
from tests.fake_openai import fake_openai

pytestmark = pytest.mark.browser

HANDBOOK = ("# 员工手册\n\n## 年假\n\n员工工作满一年后每年享有十天带薪年假。\n\n"
            "## 病假\n\n员工每年享有十二天带薪病假，超过两天需要诊断证明。\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat_models")
    with fake_openai(lambda messages: "病假有十二天[1]。", models=("qwen2.5:7b", "glm4:9b")) as llm:
        yield from _serve(tmp, llm)


def _serve(tmp, llm):
    ports = f"Fake={llm['port']},Nobody={_free_port()}"
    for base in launch(tmp, ZHIDA_DISCOVERY_PORTS=ports):
        import httpx

        assert httpx.post(base + "/api/kbs", json={"name": "hr"}).status_code in (200, 201)
        job = httpx.post(base + "/api/kbs/hr/documents",
                         files=[("files", ("员工手册.md", HANDBOOK.encode(), "text/markdown"))]).json()["job_id"]
        for _ in range(300):
            if httpx.get(f"{base}/api/jobs/{job}").json()["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        yield {"base": base, "tmp": tmp, "llm": llm}


@pytest.fixture
def page(served):
    need_chromium()
    with browser_page() as pg:
        pg.goto(served["base"] + "/")
        yield pg


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


def test_the_model_picker_lists_a_local_servers_models_and_saves_the_choice(page, served):
    from playwright.sync_api import expect

    log = (served["tmp"] / "server.log").read_text(errors="replace")
    assert f"model server found: Fake at {served['llm']['url']} (qwen2.5:7b, glm4:9b)" in log  # zhida serve says so
    expect(page.locator("#kb-info")).to_contain_text("hr")
    page.locator("#model-server").get_by_text("Model server").first.click()
    expect(page.locator("#model-status")).to_contain_text("Found 1 model server(s): Fake (2)")
    page.get_by_role("combobox", name="Models found on this machine").click()
    expect(page.get_by_role("option", name="qwen2.5:7b · Fake")).to_be_visible()
    expect(page.get_by_role("option", name="glm4:9b · Fake")).to_be_visible()
    _shot(page, served, "09_model_picker")
    page.get_by_role("option", name="glm4:9b · Fake").click()
    expect(page.locator("#llm-model textarea")).to_have_value("glm4:9b")
    expect(page.locator("#llm-base-url textarea")).to_have_value(served["llm"]["url"])
    page.locator("#test-connection").click()
    expect(page.locator("#model-status")).to_contain_text("✔")
    expect(page.locator("#model-status")).to_contain_text("glm4:9b is served")
    page.locator("#save-model").click()
    expect(page.locator("#model-status")).to_contain_text("Saved to")
    page.locator("#question textarea").fill("病假有几天？")
    page.locator("#send").click()
    expect(page.locator("#answer-mode")).to_contain_text("openai:glm4:9b")
    expect(page.locator('#chatbot [data-testid="bot"]').last).to_contain_text("病假有十二天")
    _shot(page, served, "10_model_saved")
    chat = [b for p, b in served["llm"]["requests"] if p == "/v1/chat/completions"]
    assert chat and chat[-1]["model"] == "glm4:9b"
