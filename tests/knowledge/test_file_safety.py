"""What an ingest reads: regular files inside the folders it was given. Real symlinks, FIFOs and devices."""
from __future__ import annotations

import os
import time

import pytest

from knowledge import Catalog, IndexSettings, IngestSettings
from retrieval import HashingEmbedder

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX links and FIFOs")


@pytest.fixture()
def catalog(tmp_path):
    return Catalog(tmp_path / "home", embedder_loader=lambda name: HashingEmbedder(64),
                   defaults=IndexSettings("hashing"), ingest=IngestSettings(lock_timeout_s=0.5))


@pytest.fixture()
def layout(tmp_path):
    """docs/ with a plain file, a link inside docs/ and links out of it (to a file and to a folder)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOPSECRET the password of the outside file", encoding="utf-8")
    (outside / "more").mkdir()
    (outside / "more" / "deep.txt").write_text("DEEPSECRET in a linked folder", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "real.txt").write_text("知识库的普通文件 ordinary", encoding="utf-8")
    os.symlink(outside / "secret.txt", docs / "passwd.txt")
    os.symlink(docs / "real.txt", docs / "alias.txt")
    os.symlink(outside / "more", docs / "linked")
    os.symlink(docs, docs / "loop")  # a link back up must not make the walk endless
    return docs


def _by_name(report):
    return {os.path.basename(f.path): f for f in report.files}


def _sources(kb, query):
    return {os.path.basename(h.source) for h in kb.search(query, k=10, mode="sparse")}


def test_links_out_of_the_folder_are_skipped_with_a_reason_and_never_read(catalog, layout):
    kb = catalog.create("kb")
    report = kb.ingest([layout])
    files = _by_name(report)
    assert files["passwd.txt"].status == "skipped" and "outside the folders" in files["passwd.txt"].reason
    assert "--follow-links" in files["passwd.txt"].reason
    assert files["linked"].status == "skipped" and files["linked"].error_kind == "link_outside"
    assert files["real.txt"].status == "added" and files["alias.txt"].status == "added"  # a link inside is fine
    assert "loop" not in files
    assert not _sources(kb, "TOPSECRET") and not _sources(kb, "DEEPSECRET")
    assert {os.path.basename(d["path"]) for d in kb.documents()} == {"real.txt", "alias.txt"}
    assert report.count("failed") == 0


def test_follow_links_reads_them_and_going_back_removes_what_they_brought(catalog, layout):
    kb = catalog.create("kb")
    report = kb.ingest([layout], follow_links=True)
    files = _by_name(report)
    assert files["passwd.txt"].status == "added" and files["deep.txt"].status == "added"
    assert not [f.path for f in report.files if "/loop/" in f.path]  # a link back up is not walked again
    assert _sources(kb, "TOPSECRET") == {"passwd.txt"}
    # without the option again (an index made by an older version looks the same): skipped and removed
    again = kb.ingest([layout])
    removed = {os.path.basename(f.path) for f in again.files if f.status == "removed"}
    assert {"passwd.txt", "deep.txt"} <= removed
    assert not _sources(kb, "TOPSECRET") and not _sources(kb, "DEEPSECRET")


def test_rebuild_does_not_bring_back_a_link_out_of_the_folder(catalog, layout):
    kb = catalog.create("kb")
    kb.ingest([layout], follow_links=True)
    (layout / "real.txt").unlink()  # the rebuild re-reads stored documents, not only the folder given
    report = kb.ingest([layout / "alias.txt"], rebuild=True)
    assert "passwd.txt" in {os.path.basename(f.path) for f in report.files if f.status == "skipped"}
    assert not _sources(kb, "TOPSECRET")


def test_the_ingest_setting_follows_links_too(tmp_path, layout):
    cat = Catalog(tmp_path / "home2", embedder_loader=lambda name: HashingEmbedder(64),
                  defaults=IndexSettings("hashing"), ingest=IngestSettings(follow_links=True))
    kb = cat.create("kb")
    assert _by_name(kb.ingest([layout]))["passwd.txt"].status == "added"


@pytest.mark.timeout(30)
def test_a_fifo_in_a_folder_is_skipped_not_read_forever(catalog, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.txt").write_text("一个普通文件", encoding="utf-8")
    os.mkfifo(docs / "pipe.txt")  # nobody ever writes: open() for reading blocked the ingest for good
    kb = catalog.create("kb")
    started = time.monotonic()
    report = kb.ingest([docs])
    assert time.monotonic() - started < 20
    files = _by_name(report)
    assert files["pipe.txt"].status == "skipped" and "FIFO" in files["pipe.txt"].reason
    assert files["ok.txt"].status == "added"
    assert report.count("failed") == 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null"])
def test_special_files_named_directly_are_skipped_with_what_they_are(catalog, tmp_path, special):
    if special == "fifo":
        special = tmp_path / "named.md"
        os.mkfifo(special)
    elif not os.path.exists(special):
        pytest.skip(f"{special} is absent here")
    kb = catalog.create("kb")
    report = kb.ingest([special])
    [result] = report.files
    assert result.status == "skipped" and result.error_kind == "not_regular"
    assert ("FIFO" if str(special).endswith(".md") else "character device") in result.reason
    assert kb.documents() == []


@pytest.mark.timeout(30)
def test_a_followed_link_to_a_device_is_skipped_not_spun_on(catalog, tmp_path):
    """/dev/zero never ends: hashing it spun at 100% CPU forever."""
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    docs = tmp_path / "docs"
    docs.mkdir()
    os.symlink("/dev/zero", docs / "zero.txt")
    kb = catalog.create("kb")
    files = _by_name(kb.ingest([docs], follow_links=True))
    assert files["zero.txt"].status == "skipped" and "character device" in files["zero.txt"].reason


@pytest.mark.timeout(30)
def test_a_file_swapped_for_a_fifo_after_the_walk_is_refused_when_opened(tmp_path):
    from knowledge.collecting import NotRegularFile, file_sha256

    pipe = tmp_path / "swapped.txt"
    os.mkfifo(pipe)
    with pytest.raises(NotRegularFile, match="FIFO"):
        file_sha256(pipe)
