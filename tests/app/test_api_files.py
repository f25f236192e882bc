"""The REST API's folder ingest reads only regular files: a FIFO no longer keeps the job running for good
(and every later upload queued behind it)."""
from __future__ import annotations

import os

import pytest

from tests.app.test_api import EN_TEXT, client, settings, upload, wait_job  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")


@pytest.mark.timeout(90)
def test_a_fifo_in_a_server_folder_is_skipped_and_later_uploads_still_run(client, tmp_path):  # noqa: F811
    client.post("/api/kbs", json={"name": "k"})
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(EN_TEXT, encoding="utf-8")
    pipe = folder / "pipe.txt"
    os.mkfifo(pipe)
    try:
        job = wait_job(client, client.post("/api/kbs/k/ingest", json={"path": str(folder)}).json()["job_id"],
                       timeout=30)
        assert job["status"] == "done", job
        rows = {f["name"]: f for f in job["files"]}
        assert rows["pipe.txt"]["status"] == "skipped" and job["summary"]["added"] == 1, job
        later = wait_job(client, upload(client, "k", [("later.txt", b"remote work policy")]).json()["job_id"],
                         timeout=30)
        assert later["status"] == "done" and later["summary"]["added"] == 1, later
    finally:  # on the old code a job thread sits in open(pipe): a writer lets it go
        try:
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
