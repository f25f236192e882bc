"""Watched folders in `zhida serve`: GET/PUT /api/kbs/{name}/folders, background sync as folder jobs,
failures shown, and the watching resumed (with a catch-up sync) after a restart."""
from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("watchdog", reason="watchdog is not installed")


@pytest.fixture
def settings(server_settings):
    s = server_settings
    s["ingest"]["watch"] = {"debounce_s": 0.3, "settle_s": 0.3}
    return s


def _client(settings):
    from app.server import create_app

    return TestClient(create_app(settings, ui=False))


def _names(c, kb="w") -> set[str]:
    return {d["name"] for d in c.get(f"/api/kbs/{kb}/documents").json()["documents"]}


def _until(cond, timeout=20.0, what="condition"):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"{what} not met within {timeout} s"
        time.sleep(0.1)


def _docs(tmp_path):
    """A folder holding a.md."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("apples", encoding="utf-8")
    return folder


def _watch(c, folder) -> None:
    """KB "w" watching `folder`, its first sync done."""
    c.post("/api/kbs", json={"name": "w"})
    c.put("/api/kbs/w/folders", json={"folders": [str(folder)]})
    _until(lambda: _names(c) == {"a.md"}, what="the first sync")


def test_put_folders_syncs_now_and_on_change_and_reports_failures(settings, tmp_path, zhida_home):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\napples", encoding="utf-8")
    with _client(settings) as c:
        assert c.post("/api/kbs", json={"name": "w"}).status_code == 201
        assert c.get("/api/kbs/w/folders").json() == {"kb": "w", "folders": []}
        r = c.put("/api/kbs/w/folders", json={"folders": [str(folder)]})
        assert r.status_code == 200, r.text
        assert [f["path"] for f in r.json()["folders"]] == [str(folder.resolve())]
        _until(lambda: _names(c) == {"a.md"}, what="the first sync")

        (folder / "b.md").write_text("pears", encoding="utf-8")
        (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
        _until(lambda: "b.md" in _names(c), what="a new file synced")
        (folder / "a.md").unlink()
        _until(lambda: "a.md" not in _names(c), what="a deleted file removed")

        def row():
            return c.get("/api/kbs/w/folders").json()["folders"][0]

        _until(lambda: (row()["last_sync"] or {}).get("status") == "done" and row()["failures"], what="failures")
        f = row()
        assert f["watching"] is True and f["exists"] is True and f["error"] is None
        assert [x["path"] for x in f["failures"]] == [str(folder.resolve() / "broken.pdf")] and f["failures"][0]["reason"]
        job = c.get(f"/api/jobs/{f['last_sync']['job_id']}").json()  # the same job records as uploads
        assert job["kind"] == "folder" and job["meta"]["path"] == str(folder.resolve())

        for bad, why in (([str(tmp_path / "nope")], "not a folder"), (["relative/dir"], "absolute"),
                         ([str(folder / "b.md")], "not a folder"), ([str(zhida_home / "kbs")], "own data folder")):
            r = c.put("/api/kbs/w/folders", json={"folders": bad})
            assert r.status_code == 400 and why in r.json()["error"]["message"]
        assert c.put("/api/kbs/nope/folders", json={"folders": []}).status_code == 404
        assert len(c.get("/api/kbs/w/folders").json()["folders"]) == 1  # refused input changed nothing

        assert c.put("/api/kbs/w/folders", json={"folders": []}).json()["folders"] == []  # stop watching
        (folder / "c.md").write_text("cherries", encoding="utf-8")
        time.sleep(1.5)
        assert "c.md" not in _names(c)


def test_watching_survives_a_restart_and_catches_up(settings, tmp_path):
    folder = _docs(tmp_path)
    with _client(settings) as c:
        _watch(c, folder)
    # changed while the server is down
    (folder / "b.md").write_text("pears", encoding="utf-8")
    (folder / "a.md").unlink()
    from app import services

    services._catalogs.clear()  # a fresh process would open the KB anew
    with _client(settings) as c:
        _until(lambda: _names(c) == {"b.md"}, what="the catch-up sync after the restart")
        assert c.get("/api/kbs/w/folders").json()["folders"][0]["watching"] is True
        (folder / "c.md").write_text("cherries", encoding="utf-8")
        _until(lambda: _names(c) == {"b.md", "c.md"}, what="a change after the restart")


def test_a_deleted_and_recreated_kb_does_not_inherit_the_watch(settings, tmp_path):
    folder = _docs(tmp_path)
    with _client(settings) as c:
        _watch(c, folder)
        _until(lambda: not any(j["status"] in ("queued", "running") for j in c.get("/api/jobs?kb=w").json()["jobs"]),
               what="the sync jobs to end")
        assert c.delete("/api/kbs/w").status_code == 200
        assert c.post("/api/kbs", json={"name": "w"}).status_code == 201
        (folder / "b.md").write_text("pears", encoding="utf-8")
        time.sleep(2)
        assert _names(c) == set() and c.get("/api/kbs/w/folders").json()["folders"] == []
