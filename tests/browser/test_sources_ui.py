"""Sources you can see, in headless Chromium against a real `zhida serve`: a citation opens the viewer
beside the chat on its highlighted PDF page (previous/next page, download link), a DOCX citation opens
its section with the passage marked and its table as a table.

Screenshots go to the test's tmp dir and /tmp/zhida_screens/ (docs/screens/ keeps the README's copies).
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from tests.app.test_sources import civil_code_pages
from tests.browser.test_ui_flow import ARGS, CHROMIUM, SCREENS, browser_page, launch, need_chromium
from tests.conftest import SHARED_DOCS

pytestmark = pytest.mark.browser


def policy_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("差旅报销制度", level=1)
    d.add_heading("住宿标准", level=2)
    d.add_paragraph("出差人员的住宿费用按城市等级报销，超出标准的部分由个人承担。")
    table = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("城市", "每晚上限"), ("北京、上海", "八百元"), ("其他城市", "五百元")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    d.add_heading("报销时限", level=2)
    d.add_paragraph("差旅费用需要在出差结束后三十天内提交报销申请。")
    d.save(str(path))
    return path


def _setup_kb(base: str, tmp_path: Path) -> None:
    import httpx

    pdf = civil_code_pages(tmp_path / "民法典.pdf")
    doc = policy_docx(tmp_path / "差旅报销.docx")
    with httpx.Client(base_url=base, timeout=60) as c:
        assert c.post("/api/kbs", json={"name": "laws"}).status_code == 201
        files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in (pdf, doc)]
        r = c.post("/api/kbs/laws/documents", files=files)
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 90
        while True:
            job = c.get(f"/api/jobs/{r.json()['job_id']}").json()
            if job["status"] in ("done", "failed"):
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "done" and not job["summary"]["failed"], job


def test_citation_opens_the_viewer_on_its_highlighted_page(server, tmp_path):
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    _setup_kb(server, tmp_path)
    shots = tmp_path / "screens"
    shots.mkdir()
    SCREENS.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str) -> None:
        path = shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        shutil.copy(path, SCREENS / path.name)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            # /docs and /redoc render with no network: every request off this server is refused
            ctx = browser.new_context(locale="en-US", viewport={"width": 1300, "height": 900})
            outside: list[str] = []

            def only_local(route):
                if route.request.url.startswith(server):
                    return route.continue_()
                outside.append((route.request.resource_type, route.request.url))
                return route.abort()

            ctx.route("**/*", only_local)
            docs = ctx.new_page()
            docs.goto(server + "/docs")
            expect(docs.locator(".swagger-ui .info .title")).to_contain_text("Zhida", timeout=30_000)
            expect(docs.locator(".opblock-summary-path", has_text="/api/kbs/{name}/chunks/{chunk_id}/source")
                   ).to_be_visible()
            docs.screenshot(path=str(shots / "docs_offline.png"))
            shutil.copy(shots / "docs_offline.png", SCREENS / "sources_00_docs_offline.png")
            docs.goto(server + "/redoc")
            expect(docs.locator("h1", has_text="Zhida")).to_be_visible(timeout=30_000)
            # nothing the pages need comes from outside (ReDoc's footer asks for its logo, an image, and
            # is refused: cosmetic)
            assert not [u for kind, u in outside if kind in ("script", "stylesheet", "fetch", "xhr")], outside
            ctx.close()

            page = browser.new_context(locale="zh-CN", viewport={"width": 1500, "height": 1000}).new_page()
            page.set_default_timeout(30_000)
            page.goto(server + "/?kb=laws")
            expect(page.locator("#kb-info")).to_contain_text("laws")
            expect(page.locator("#viewer")).to_be_hidden()  # nothing open yet: the chat has the width

            page.locator("#question textarea").fill("财产代管人不履行代管职责怎么办？")
            page.locator("#send").click()
            expect(page.locator("#answer-mode")).not_to_be_empty()  # the answer is complete
            cite = page.locator("#chatbot details.zhida-cite", has_text="民法典.pdf").first
            expect(cite).to_be_visible()
            cite.locator("summary").click()
            link = cite.locator("a.zhida-open")
            expect(link).to_be_visible()
            link.click()
            expect(page.locator("#viewer")).to_be_visible()
            frame = page.frame_locator("#zhida-viewer-frame")
            img = frame.locator("img#page")
            expect(img).to_be_visible()
            page.wait_for_function("""() => { const f = document.querySelector('#zhida-viewer-frame');
                const i = f && f.contentDocument && f.contentDocument.querySelector('img#page');
                return i && i.complete && i.naturalWidth > 0; }""")
            expect(frame.locator("header")).to_contain_text("民法典.pdf")
            expect(frame.locator("header")).to_contain_text("第")  # "第 N 页"
            expect(frame.locator("a.download")).to_have_attribute("href", "../../documents/1/file")
            assert len(page.context.pages) == 1, "the citation opened a new tab instead of the side viewer"
            shot(page, "sources_01_pdf_citation_viewer")

            # next/previous page inside the viewer
            pos = frame.locator(".pos").inner_text()
            frame.locator("a.next, a.prev").first.click()
            expect(frame.locator(".pos")).not_to_have_text(pos)
            shot(page, "sources_02_pdf_other_page")

            # a DOCX citation: the section with the passage marked, its table as a table
            page.locator("#question textarea").fill("北京出差住宿每晚上限是多少？")
            page.locator("#send").click()
            expect(page.locator('#chatbot [data-testid="bot"]')).to_have_count(2)
            expect(page.locator('#chatbot [data-testid="bot"]').last.locator("details.zhida-cite").first).to_be_visible()
            dcite = page.locator('#chatbot [data-testid="bot"]').last.locator("details.zhida-cite",
                                                                              has_text="差旅报销.docx").first
            expect(dcite).to_be_visible()
            dcite.locator("summary").click()
            expect(dcite.locator("table.zhida-table")).to_be_visible()  # the citation's table, not pipes
            assert "|" not in dcite.locator("blockquote").inner_text()
            dcite.locator("a.zhida-open").click()
            expect(frame.locator("mark").first).to_be_visible()
            expect(frame.locator("header")).to_contain_text("差旅报销制度 > 住宿标准")
            expect(frame.locator("main > .section table.zhida-table")).to_be_visible()
            shot(page, "sources_03_docx_citation_viewer")

            # the chunk browser lists a document's chunks in order; its search box narrows them
            page.get_by_role("tab", name="文档").click()
            page.locator("#chunk-doc input").click()
            page.get_by_role("option", name="民法典.pdf", exact=False).click()
            rows = page.locator("#chunk-list tr.zhida-chunk")
            expect(rows.first).to_be_visible()
            n_all = rows.count()
            assert n_all >= 5, n_all
            expect(page.locator("#chunk-list")).to_contain_text("第四十四条")
            expect(page.locator("#chunk-list")).to_contain_text(f"{n_all} / {n_all}")
            page.locator("#chunk-browser").scroll_into_view_if_needed()
            shot(page, "sources_04_chunk_browser")
            page.locator("#chunk-find textarea, #chunk-find input").first.fill("宣告死亡")
            page.locator("#chunk-find textarea, #chunk-find input").first.press("Enter")
            expect(page.locator("#chunk-list")).not_to_contain_text(f"{n_all} / {n_all}")
            assert 0 < rows.count() < n_all
            for text in rows.all_inner_texts():
                assert "宣告死亡" in text

            # retrieval test: ranked chunks with their dense/BM25/final scores and who found each
            page.get_by_role("tab", name="检索测试").click()
            page.locator("#rt-query textarea, #rt-query input").first.fill("财产代管人的职责")
            page.click("#rt-run")
            hits = page.locator("#rt-results tr.zhida-hit")
            expect(hits.first).to_be_visible()
            first = hits.first.inner_text()
            assert "向量" in first or "BM25" in first, first
            cells = hits.first.locator("td")
            assert float(cells.nth(1).inner_text()) > 0  # the final score
            assert cells.nth(2).inner_text().strip() or cells.nth(3).inner_text().strip()  # dense or BM25
            shot(page, "sources_05_retrieval_test")
            hits.first.locator("a.zhida-open").click()
            expect(frame.locator("header")).to_be_visible()
            page.click(".zhida-viewer-close")  # the panel closes and the tab gets its width back
            expect(page.locator("#viewer")).to_be_hidden()

            # the upload form's password field opens the encrypted sample PDF
            locked = SHARED_DOCS / "bad_encrypted_password_test.pdf"
            page.get_by_role("tab", name="文档").click()
            page.set_input_files("#upload-files input[type=file]", [str(locked)])
            expect(page.locator("#upload-files tr", has_text="bad_encrypted")).to_have_count(1)
            page.locator("#upload-password input").fill("test")
            page.click("#upload-btn")
            expect(page.locator("#job-status")).to_contain_text("完成", timeout=60_000)
            row = page.locator("#job-results [role=row]", has_text="bad_encrypted_password_test.pdf").first
            expect(row).to_contain_text("新增")
            expect(page.locator("#documents")).to_contain_text("bad_encrypted_password_test.pdf")
            page.locator("#job-results").scroll_into_view_if_needed()
            shot(page, "sources_08_encrypted_pdf_with_password")
        finally:
            browser.close()




def test_conversation_survives_reload_and_restart_and_scope_limits_answers(tmp_path):
    need_chromium()
    from playwright.sync_api import expect

    SCREENS.mkdir(parents=True, exist_ok=True)
    first = launch(tmp_path)
    base = next(first)
    _setup_kb(base, tmp_path)

    def shot(page, name: str) -> None:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path))
        shutil.copy(path, SCREENS / path.name)

    bots = '#chatbot [data-testid="bot"]'
    with browser_page(locale="zh-CN", width=1500) as page:
        page.goto(base + "/?kb=laws")
        expect(page.locator("#kb-info")).to_contain_text("laws")
        page.locator("#question textarea").fill("财产代管人不履行代管职责怎么办？")
        page.locator("#send").click()
        expect(page.locator(bots).first.locator("details.zhida-cite").first).to_be_visible()
        expect(page.locator("#conv-select input")).to_have_value(re.compile("^财产代管人不履行代管职责怎么办？ · laws"))
        page.locator("#conv-title textarea, #conv-title input").first.fill("代管人问答")
        page.click("#conv-rename")
        expect(page.locator("#conv-select input")).to_have_value(re.compile("^代管人问答 · laws"))

        # limited to the DOCX, the same question cites only it
        page.locator("#scope input").click()
        page.get_by_role("option", name="差旅报销.docx", exact=False).click()
        page.keyboard.press("Escape")
        page.locator("#question textarea").fill("财产代管人不履行代管职责怎么办？")
        page.locator("#send").click()
        expect(page.locator(bots)).to_have_count(2)
        expect(page.locator(bots).last.locator("details.zhida-cite").first).to_be_visible()
        names = page.locator(bots).last.locator("details.zhida-cite summary").all_inner_texts()
        assert names and all("差旅报销.docx" in n for n in names), names
        shot(page, "sources_06_scoped_answer")

        page.reload()
        expect(page.locator(bots)).to_have_count(2)  # the conversation came back after the reload
        expect(page.locator(bots).first).to_contain_text("财产代管人")
        expect(page.locator("#conv-title textarea, #conv-title input").first).to_have_value("代管人问答")
    first.close()  # stops the server

    second = launch(tmp_path)  # same ZHIDA_HOME, new process, new port
    base = next(second)
    try:
        with browser_page(locale="zh-CN", width=1500) as page:
            page.goto(base + "/?kb=laws")
            expect(page.locator(bots)).to_have_count(2)
            expect(page.locator(bots).first.locator("details.zhida-cite").first).to_be_visible()
            expect(page.locator("#conv-title textarea, #conv-title input").first).to_have_value("代管人问答")
            shot(page, "sources_07_conversation_after_restart")
            # a new conversation starts empty and the old one stays listed
            page.click("#conv-new")
            expect(page.locator(bots)).to_have_count(0)
            page.locator("#conv-select input").click()
            expect(page.get_by_role("option", name="代管人问答", exact=False)).to_be_visible()
    finally:
        second.close()
