"""In the browser: keep a server folder in sync, see its last sync and failed file, stop syncing it."""
from __future__ import annotations

import shutil

import pytest

from tests.browser.test_ui_flow import SCREENS, browser_page, need_chromium

pytestmark = pytest.mark.browser


def test_watch_a_folder_from_the_ui(server, tmp_path):
    need_chromium()
    pytest.importorskip("watchdog", reason="watchdog is not installed")
    import httpx
    from playwright.sync_api import expect

    folder = tmp_path / "shared docs"
    folder.mkdir()
    (folder / "leave.md").write_text("# 年假\n\n年假有十五天。", encoding="utf-8")
    assert httpx.post(server + "/api/kbs", json={"name": "hr"}).status_code == 201
    with browser_page(height=1200) as page:
        page.goto(server + "/")
        expect(page.locator("#kb-info")).to_contain_text("hr")
        page.get_by_role("tab", name="Documents").click()
        page.locator("#watch-path textarea, #watch-path input").first.fill(str(folder))
        page.click("#watch-folder")
        expect(page.locator("#watch-status")).to_contain_text("Now keeping")
        table = page.locator("#watched-folders")
        row = table.locator("[role=row]", has_text=str(folder)).first
        expect(row).to_contain_text("watching")
        expect(row).to_contain_text("done", timeout=30_000)  # the first sync, shown by the timer
        (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")  # a change: synced in the background
        expect(row).to_contain_text("broken.pdf", timeout=30_000)  # listed as a failed file
        expect(page.locator("#documents")).to_contain_text("leave.md")  # the list follows background syncs
        shot = tmp_path / "watched.png"
        page.screenshot(path=str(shot), full_page=True)
        SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENS / "08_watched_folders.png")
        docs = httpx.get(server + "/api/kbs/hr/documents").json()["documents"]
        assert {d["name"] for d in docs} >= {"leave.md"}

        page.locator("#unwatch-pick input").click()
        page.get_by_role("option", name=str(folder.resolve())).click()
        page.click("#unwatch-btn")
        expect(page.locator("#watch-status")).to_contain_text("Stopped syncing")
        expect(table.locator("[role=row]", has_text=str(folder))).to_have_count(0)
        assert httpx.get(server + "/api/kbs/hr/folders").json()["folders"] == []
