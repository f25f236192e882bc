"""Parent units in a KB: a retrieved piece of an article brings the whole article, and a KB made
before the parent columns opens, answers and gains them."""
from __future__ import annotations

import sqlite3

from ingest.types import ChunkSettings
from knowledge import Catalog, IndexSettings, IngestSettings, db
from retrieval import HashingEmbedder

ART_367 = ("第三百六十七条\u3000设立居住权，当事人应当采用书面形式订立居住权合同。\n\n"
           "居住权合同一般包括下列条款：\n\n（一）当事人的姓名或者名称和住所；\n\n（二）住宅的位置；\n\n"
           "（三）居住的条件和要求；\n\n（四）居住权期限；\n\n（五）解决争议的方法。")
STATUTE = "第三百六十六条\u3000居住权人有权按照合同约定，对他人的住宅享有占有、使用的用益物权。\n\n" + ART_367


def _catalog(tmp_path, chunk_size=80):
    embedder = HashingEmbedder(64)
    embedder.model_id = "hashing"
    settings = IndexSettings("hashing", ChunkSettings(chunk_size=chunk_size, chunk_overlap=10))
    return Catalog(tmp_path / "home", embedder_loader=lambda name: embedder, defaults=settings,
                   ingest=IngestSettings(lock_timeout_s=0.5, isolate_parsers=False))


def _statute(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    (folder / "civil.txt").write_text(STATUTE, encoding="utf-8")
    return folder


def test_a_retrieved_piece_of_an_article_brings_the_whole_article(tmp_path):
    kb = _catalog(tmp_path).create("kb")
    kb.ingest([_statute(tmp_path)])
    hit = kb.search("解决争议的方法", k=1, mode="sparse")[0]
    assert hit.unit == "第三百六十七条"
    assert "（五）解决争议的方法" in hit.text and "（一）" not in hit.text  # the piece ...
    assert hit.text.startswith("第三百六十七条")  # ... led by the article's head
    assert hit.unit_text == ART_367 == hit.parent_text  # ... and the whole article to cite
    whole = kb.search("用益物权", k=1, mode="sparse")[0]
    assert whole.unit == "第三百六十六条" and whole.parent_text == "" and whole.unit_text == whole.text


def _drop_parent_columns(path):
    conn = sqlite3.connect(str(path))
    for name, _ in db.ADDED_CHUNK_COLUMNS:
        conn.execute(f"ALTER TABLE chunks DROP COLUMN {name}")
    for name, _ in db.ADDED_DOCUMENT_COLUMNS:
        conn.execute(f"ALTER TABLE documents DROP COLUMN {name}")
    conn.execute("DELETE FROM manifest WHERE key='chunker'")
    conn.commit()
    conn.close()


def test_a_kb_made_before_the_parent_columns_opens_answers_and_gains_them(tmp_path):
    catalog = _catalog(tmp_path)
    kb = catalog.create("kb")
    folder = _statute(tmp_path)
    kb.ingest([folder])
    kb.close()
    path = kb.path / "kb.sqlite"
    _drop_parent_columns(path)  # what a KB written by the previous version holds
    old = db.connect(path)
    assert "parent_text" not in db.chunk_columns(old)
    rows = db.chunk_rows(old, [r["row_id"] for r in old.execute("SELECT row_id FROM chunks")])
    assert rows and all(r["unit"] is None and r["parent_text"] is None for r in rows.values())  # reads fall back
    assert all(d.parsers is None for d in db.documents(old))
    old.close()

    fresh = _catalog(tmp_path).open("kb")
    assert {name for name, _ in db.ADDED_CHUNK_COLUMNS} <= db.chunk_columns(fresh.conn)
    assert {name for name, _ in db.ADDED_DOCUMENT_COLUMNS} <= db._columns(fresh.conn, "documents")
    assert fresh.stats()["chunker"] == 1 and fresh.stats()["schema_version"] == db.SCHEMA_VERSION
    hit = fresh.search("解决争议的方法", k=1, mode="sparse")[0]
    assert hit.unit == "" and hit.unit_text == hit.text  # old rows: no parent, same answer text
    (folder / "civil.txt").write_text(STATUTE + "\n\n第三百六十八条\u3000居住权无偿设立。", encoding="utf-8")
    report = fresh.ingest([folder], index_settings=IndexSettings("hashing", ChunkSettings(80, 10)))
    assert report.summary()["updated"] == 1  # the chunker changed: not a settings mismatch
    assert fresh.search("解决争议的方法", k=1, mode="sparse")[0].unit_text == ART_367
