"""Knowledge bases: incremental sync, caches, locks, settings, deletion."""
from __future__ import annotations

import json
import sqlite3

import pytest

from knowledge import (Catalog, IndexSettings, IngestSettings, InvalidName, KBBusy, KBExists, KBNotFound,
                       SettingsMismatch)
from retrieval import HashingEmbedder


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting how many texts reach it."""

    def __init__(self, dim: int = 64):
        super().__init__(dim)
        self.model_id = "hashing"
        self.embedded = 0
        self.calls = 0

    def embed_documents(self, texts, *, show_progress=False):
        self.embedded += len(texts)
        self.calls += 1
        return super().embed_documents(texts)


@pytest.fixture()
def embedder():
    return CountingEmbedder()


@pytest.fixture()
def catalog(tmp_path, embedder):
    return Catalog(tmp_path / "home", embedder_loader=lambda name: embedder,
                   defaults=IndexSettings("hashing"), ingest=IngestSettings(lock_timeout_s=0.5))


def write_corpus(folder, n=12):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"doc{i:02d}.txt").write_text(f"第{i}号文档。知识库问答系统的第{i}条规定是关于检索的。\n\n"
                                                f"Document {i} talks about topic{i} in English.", encoding="utf-8")
    return folder


def test_reingest_unchanged_folder_embeds_nothing(catalog, embedder, tmp_path):
    folder = write_corpus(tmp_path / "docs")
    kb = catalog.create("kb")
    first = kb.ingest([folder])
    assert first.summary()["added"] == 12 and embedder.embedded > 0
    embedder.embedded = 0
    again = kb.ingest([folder])
    assert again.summary() == {"added": 0, "updated": 0, "removed": 0, "unchanged": 12, "failed": 0}
    assert embedder.embedded == 0


def test_changed_and_removed_files_are_updated_and_deleted(catalog, embedder, tmp_path):
    folder = write_corpus(tmp_path / "docs")
    kb = catalog.create("kb")
    kb.ingest([folder])
    (folder / "doc03.txt").write_text("全新的内容：量子计算。", encoding="utf-8")
    (folder / "doc04.txt").unlink()
    embedder.embedded = 0
    report = kb.ingest([folder])
    assert report.summary()["updated"] == 1 and report.summary()["removed"] == 1
    assert embedder.embedded == 1  # only the changed file's single chunk
    assert {d["path"].rsplit("/", 1)[-1] for d in kb.documents()} == {f"doc{i:02d}.txt" for i in range(12) if i != 4}
    hits = kb.search("量子计算", k=1)
    assert hits and hits[0].source.endswith("doc03.txt")
    assert not any(h.source.endswith("doc04.txt") for h in kb.search("第4号文档", k=12))


def test_renamed_file_reuses_stored_vectors(catalog, embedder, tmp_path):
    folder = write_corpus(tmp_path / "docs", n=2)
    kb = catalog.create("kb")
    kb.ingest([folder])
    (folder / "doc00.txt").rename(folder / "renamed.txt")
    embedder.embedded = 0
    report = kb.ingest([folder])
    assert report.summary()["added"] == 1 and report.summary()["removed"] == 1
    assert embedder.embedded == 0


def test_bad_files_fail_with_reasons_and_the_rest_ingest(catalog, tmp_path):
    folder = write_corpus(tmp_path / "docs", n=3)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 10)
    (folder / "fake.docx").write_bytes(b"not a zip at all")
    kb = catalog.create("kb")
    report = kb.ingest([folder, tmp_path / "missing.txt"])
    failed = {f.path.rsplit("/", 1)[-1]: f for f in report.files if f.status == "failed"}
    assert set(failed) == {"empty.txt", "broken.pdf", "fake.docx", "missing.txt"}
    assert all(f.reason for f in failed.values())
    assert report.summary()["added"] == 3
    assert kb.search("知识库", k=3)


def test_changing_index_settings_is_refused_with_rebuild_hint(catalog, tmp_path):
    folder = write_corpus(tmp_path / "docs", n=2)
    kb = catalog.create("kb")
    kb.ingest([folder])
    with pytest.raises(SettingsMismatch, match="--rebuild"):
        kb.ingest([folder], index_settings=IndexSettings("hashing:32"))


def test_rebuild_switches_embedding_model_and_keeps_documents(tmp_path):
    models = {}

    def loader(name):
        return models.setdefault(name, HashingEmbedder(int(name.split(":")[1]) if ":" in name else 256))

    cat = Catalog(tmp_path / "home", embedder_loader=loader, defaults=IndexSettings("hashing"))
    folder = write_corpus(tmp_path / "docs", n=3)
    kb = cat.create("kb")
    kb.ingest([folder])
    report = kb.ingest([folder], rebuild=True, index_settings=IndexSettings("hashing:32"))
    assert report.summary()["added"] == 3
    assert kb.stats()["embedding_model"] == "hashing:32" and kb.stats()["dim"] == 32
    assert kb.search("知识库", k=1, mode="dense")


def test_second_writer_fails_with_a_clear_busy_message(catalog, tmp_path):
    from filelock import FileLock

    kb = catalog.create("kb")
    holder = FileLock(str(kb.path / ".lock"))
    holder.acquire()
    try:
        with pytest.raises(KBBusy, match="busy"):
            kb.ingest([write_corpus(tmp_path / "docs", n=1)])
    finally:
        holder.release()


@pytest.mark.parametrize("damage", ["delete", "truncate", "stale"])
def test_caches_are_rebuilt_from_sqlite_when_missing_corrupt_or_stale(catalog, embedder, tmp_path, damage):
    folder = write_corpus(tmp_path / "docs")
    kb = catalog.create("kb")
    kb.ingest([folder])
    expected = [h.chunk_id for h in kb.search("第5号文档", k=3)]
    cache = kb.path / "cache"
    stamp = json.loads((cache / "stamp.json").read_text())
    if damage == "delete":
        for p in cache.iterdir():
            p.unlink() if p.is_file() else None
    elif damage == "truncate":
        dense = cache / stamp["dense"]
        dense.write_bytes(dense.read_bytes()[:100])
    else:
        stamp["generation"] -= 1
        (cache / "stamp.json").write_text(json.dumps(stamp))
    embedder.embedded = 0
    fresh = Catalog(catalog.home, embedder_loader=lambda name: embedder, defaults=IndexSettings("hashing"))
    assert [h.chunk_id for h in fresh.open("kb").search("第5号文档", k=3)] == expected
    assert embedder.embedded == 0  # vectors come from SQLite, never re-embedded
    assert json.loads((cache / "stamp.json").read_text())["generation"] == kb.stats()["generation"]


def test_reader_sees_new_documents_after_another_writer_commits(catalog, tmp_path, embedder):
    kb = catalog.create("kb")
    kb.ingest([write_corpus(tmp_path / "a", n=2)])
    reader = Catalog(catalog.home, embedder_loader=lambda name: embedder).open("kb")
    assert len(reader.search("Document", k=10, mode="sparse")) == 2
    kb.ingest([write_corpus(tmp_path / "b", n=3)])
    assert len(reader.search("Document", k=10, mode="sparse")) == 5


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/b", "a\\b", "..", "nul\x00", "CON", "x" * 65, ".hidden", ""])
def test_hostile_kb_names_are_refused(catalog, name):
    with pytest.raises(InvalidName):
        catalog.create(name)
    assert not any(p.name != "kbs" for p in catalog.home.iterdir() if p.name not in ("kbs",))


def test_chinese_names_work_and_delete_removes_everything(catalog, tmp_path):
    kb = catalog.create("公司制度")
    kb.ingest([write_corpus(tmp_path / "docs", n=1)])
    with pytest.raises(KBExists):
        catalog.create("公司制度")
    assert catalog.names() == ["公司制度"]
    catalog.delete("公司制度")
    assert catalog.names() == [] and not (catalog.root / "公司制度").exists()
    with pytest.raises(KBNotFound, match="zhida kb create"):
        catalog.open("公司制度")


def test_delete_document_removes_its_chunks(catalog, tmp_path):
    kb = catalog.create("kb")
    kb.ingest([write_corpus(tmp_path / "docs", n=3)])
    doc = kb.documents()[0]
    kb.delete_document(doc["id"])
    conn = sqlite3.connect(kb.path / "kb.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM chunks WHERE doc_id=?", (doc["id"],)).fetchone()[0] == 0
    assert all(h.source != doc["path"] for h in kb.search("Document", k=10))


def test_search_results_carry_citation_fields_and_evidence(catalog, tmp_path):
    folder = tmp_path / "md"
    folder.mkdir()
    (folder / "guide.md").write_text("# 安装\n\n运行 make run 即可安装。\n\n# 使用\n\n用 zhida ask 提问。", encoding="utf-8")
    kb = catalog.create("kb")
    kb.ingest([folder])
    hit = kb.search("如何安装", k=1)[0]
    assert hit.heading_path == ("安装",) and hit.source.endswith("guide.md")
    assert hit.hit is not None and set(hit.hit.found_by) <= {"dense", "sparse"}


def test_catalog_reopens_a_knowledge_base_its_caller_closed(catalog, tmp_path):
    """A caller that closes a KB (a script, the benchmark harness) must get a working one from the next open()."""
    kb = catalog.create("kb")
    kb.ingest([write_corpus(tmp_path / "docs", n=2)])
    kb.close()
    again = catalog.open("kb")
    assert again is not kb
    assert again.stats()["documents"] == 2 and again.search("检索", k=1)


def test_noop_reingest_does_not_load_the_index_caches(catalog, tmp_path, monkeypatch):
    """An unchanged folder must not pay for loading a large FAISS/BM25 cache it would throw away."""
    from knowledge import caches

    folder = write_corpus(tmp_path / "docs", n=3)
    catalog.create("kb").ingest([folder])
    fresh = Catalog(catalog.home, embedder_loader=catalog.embedder_loader, defaults=IndexSettings("hashing"))
    calls = []
    real_load = caches.load
    monkeypatch.setattr(caches, "load", lambda *a, **kw: calls.append(a) or real_load(*a, **kw))
    kb = fresh.open("kb")
    assert kb.ingest([folder]).summary()["unchanged"] == 3
    assert calls == []
    (folder / "doc00.txt").write_text("改过的内容。关于检索。", encoding="utf-8")
    assert kb.ingest([folder]).summary()["updated"] == 1
    assert kb.search("改过的内容", k=1)[0].source.endswith("doc00.txt")


def test_small_files_are_embedded_together_and_reported_in_order(embedder, tmp_path):
    """Per-file model calls dominate ingest time for small files: while the model works, the parser runs
    ahead and what it parsed goes to the model in one call. The report still follows the input order."""
    import time

    slow = CountingEmbedder()
    real = slow.embed_documents
    slow.embed_documents = lambda texts, **kw: (time.sleep(0.3), real(texts, **kw))[1]
    catalog = Catalog(tmp_path / "home", embedder_loader=lambda name: slow, defaults=IndexSettings("hashing"),
                      ingest=IngestSettings(isolate_parsers=False))
    folder = write_corpus(tmp_path / "docs", n=12)
    (folder / "doc05.txt").write_bytes(b"")  # a failure in the middle keeps its place
    report = catalog.create("kb").ingest([folder])
    assert slow.embedded == 11 and slow.calls <= 2, slow.calls
    names = [f.path.rsplit("/", 1)[-1] for f in report.files]
    assert names == sorted(names) and report.files[5].status == "failed"
    kb = catalog.open("kb")
    for i in (0, 6, 11):
        assert kb.search(f"topic{i}", k=1, mode="sparse")[0].source.endswith(f"doc{i:02d}.txt")


def test_a_cache_built_with_another_vector_layout_is_rebuilt_once_from_kb_sqlite(embedder, tmp_path, monkeypatch):
    """Changing the setting that picks flat or HNSW (or their storage) takes effect on the next open: the
    cache built the old way is rebuilt from the stored vectors, nothing is embedded again."""
    from knowledge import QuerySettings, caches
    from retrieval.dense import layout_of

    folder = write_corpus(tmp_path / "docs", n=12)
    Catalog(tmp_path / "home", embedder_loader=lambda _: embedder, defaults=IndexSettings("hashing")
            ).create("kb").ingest([folder])
    flat = Catalog(tmp_path / "home", embedder_loader=lambda _: embedder).open("kb")
    assert layout_of(flat.refresh_indexes().dense.cpu_index) == "flat-float32"
    flat.close()
    embedded = embedder.embedded
    builds = []
    real_build = caches.build
    monkeypatch.setattr(caches, "build", lambda *a, **kw: builds.append(1) or real_build(*a, **kw))

    def reopen():
        return Catalog(tmp_path / "home", embedder_loader=lambda _: embedder,
                       query=QuerySettings(hnsw_threshold=5)).open("kb")

    kb = reopen()
    assert layout_of(kb.refresh_indexes().dense.cpu_index) == "hnsw-fp16-m32" and builds == [1]
    assert kb.search("第7号文档。知识库问答系统的第7条规定是关于检索的。", k=1, mode="dense")[0].source.endswith("doc07.txt")
    kb.close()
    again = reopen()
    again.refresh_indexes()
    assert builds == [1] and embedder.embedded == embedded  # the new cache loads as it is; no re-embedding


def test_a_bm25_cache_weighted_with_older_parameters_is_rebuilt_without_re_tokenising(catalog, tmp_path,
                                                                                      monkeypatch):
    """A KB indexed before BM25's k1 changed (1.5 -> 0.9) gets the new weights on its next open, from the
    term counts its cache saved: nothing is tokenised or embedded again."""
    import json

    from retrieval.sparse import K1
    from retrieval.tokenize import Tokenizer

    kb = catalog.create("kb")
    kb.ingest([write_corpus(tmp_path / "docs", n=6)])
    cache = kb.path / "cache"
    stamp = json.loads((cache / "stamp.json").read_text())
    params_file = cache / stamp["sparse"] / "params.json"
    params = json.loads(params_file.read_text())
    assert params["k1"] == K1
    params_file.write_text(json.dumps({**params, "k1": 1.5}))  # as an older Zhida wrote it
    kb.close()
    seen = []
    real = Tokenizer.tokenize
    monkeypatch.setattr(Tokenizer, "tokenize", lambda self, text: seen.append(text) or real(self, text))
    again = catalog.open("kb")
    assert again.refresh_indexes().sparse.k1 == K1
    assert not [t for t in seen if "规定" in t]  # the chunks' saved term counts were reused
    assert again.search("topic3", k=1, mode="sparse")[0].source.endswith("doc03.txt")


def test_adding_a_file_tokenises_only_its_chunks_for_bm25(catalog, tmp_path, monkeypatch):
    """BM25 caches carry term counts over: an ingest into a big KB re-tokenises what changed, not everything."""
    from retrieval.tokenize import Tokenizer

    folder = write_corpus(tmp_path / "docs", n=10)
    kb = catalog.create("kb")
    kb.ingest([folder])
    seen = []
    real = Tokenizer.tokenize
    monkeypatch.setattr(Tokenizer, "tokenize", lambda self, text: seen.append(text) or real(self, text))
    (folder / "extra.txt").write_text("新增的文件，讲的是召回率。", encoding="utf-8")
    kb.ingest([folder])
    indexed = [t for t in seen if "召回率" in t or "规定" in t]
    assert indexed and all("召回率" in t for t in indexed), indexed
    hit = kb.search("召回率", k=1, mode="sparse")[0]
    assert hit.source.endswith("extra.txt")
    assert kb.search("topic3", k=1, mode="sparse")[0].source.endswith("doc03.txt")


def test_new_kb_stems_english_and_a_kb_without_the_fact_keeps_its_old_tokens(catalog, tmp_path):
    docs = tmp_path / "en"
    docs.mkdir()
    (docs / "refunds.txt").write_text("Refunds are issued within 14 days of the return.", encoding="utf-8")
    kb = catalog.create("new")
    kb.ingest([docs])
    assert kb.manifest["tokenizer"] == {"stem_english": True}
    assert [c.text[:7] for c in kb.search("how long does a refund take", mode="sparse")] == ["Refunds"]
    kb.close()
    # a KB made before stemming existed has no tokenizer fact: it keeps matching words as written
    conn = sqlite3.connect(tmp_path / "home" / "kbs" / "new" / "kb.sqlite")
    conn.execute("DELETE FROM manifest WHERE key='tokenizer'")
    conn.commit()
    conn.close()
    old = Catalog(tmp_path / "home", embedder_loader=lambda name: CountingEmbedder(),
                  defaults=IndexSettings("hashing")).open("new")
    assert old.search("how long does a refund take", mode="sparse") == []
    assert len(old.search("refunds", mode="sparse")) == 1
    old.close()


def test_two_chunk_kb_finds_a_word_only_one_chunk_holds(catalog, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "a.txt").write_text("知识库问答系统的检索规定。", encoding="utf-8")
    (folder / "b.txt").write_text("今天天气很好，我们去公园散步。", encoding="utf-8")
    kb = catalog.create("two")
    kb.ingest([folder])
    hits = kb.search("公园", k=3, mode="sparse")
    assert [h.source.rsplit("/", 1)[-1] for h in hits] == ["b.txt"]


@pytest.mark.parametrize("k", [-3, 0, 2.5, "3"])
def test_search_refuses_a_count_below_one_or_not_whole(catalog, tmp_path, k):
    kb = catalog.create("kb")
    kb.ingest([write_corpus(tmp_path / "docs", n=3)])
    with pytest.raises(ValueError, match="at least 1"):
        kb.search("知识库", k=k)
    assert len(kb.search("知识库", k=2)) == 2


def test_full_width_and_case_variants_of_a_name_are_one_name(catalog, tmp_path):
    catalog.create("a")
    for twin in ("ａ", "A", "Ａ"):
        with pytest.raises(KBExists, match="'a'"):
            catalog.create(twin)
    kb = catalog.create("Ｒｅｐｏｒｔ２０２４")  # stored under its NFKC name and found by either spelling
    assert kb.path.name == "Report2024"
    assert catalog.open("Report2024") is catalog.open("Ｒｅｐｏｒｔ２０２４")
    assert catalog.names() == ["Report2024", "a"]


def test_a_kb_made_under_a_full_width_name_by_an_older_version_still_opens(catalog, tmp_path):
    import shutil

    catalog.create("old")
    shutil.move(str(catalog.root / "old"), str(catalog.root / "ｏｌｄ"))  # NFC kept full-width letters
    assert catalog.open("ｏｌｄ").path.name == "ｏｌｄ"
    assert catalog.exists("ｏｌｄ")


def test_cache_build_read_in_small_batches_answers_like_one_batch(catalog, tmp_path, monkeypatch):
    """The cache build streams kb.sqlite in batches; 3-row batches must give the one-batch indexes."""
    import shutil

    from knowledge import caches

    kb = catalog.create("kb")
    kb.ingest([write_corpus(tmp_path / "docs")])
    queries = ("第7条规定", "topic3 English", "知识库检索")
    want = {(q, m): [(c.chunk_id, round(c.score, 5)) for c in kb.search(q, k=4, mode=m)]
            for q in queries for m in ("dense", "sparse", "hybrid")}
    assert all(want.values())
    kb.close()
    shutil.rmtree(tmp_path / "home" / "kbs" / "kb" / "cache")
    monkeypatch.setattr(caches, "BATCH_ROWS", 3)
    kb = catalog.open("kb")
    got = {(q, m): [(c.chunk_id, round(c.score, 5)) for c in kb.search(q, k=4, mode=m)]
           for q in queries for m in ("dense", "sparse", "hybrid")}
    assert got == want


def test_a_file_that_failed_under_older_loaders_is_tried_again_once(catalog, embedder, tmp_path):
    """A failure is recorded with the loaders' version (ingest.PARSERS_VERSION). A text file with a few
    DOS end-of-file marks was refused as binary before version 2; a KB that recorded it so tries it again
    on its next ingest and now holds it, while a file that fails under today's loaders stays failed
    without being read again."""
    import ingest
    import ingest.encoding

    folder = tmp_path / "docs"
    folder.mkdir()
    page = "荔枝酒的功效与作用。\x1a⑨⑨③③\x1a 荔枝酒含有多种氨基酸、矿物质和多种维生素，适度饮用可以滋补身体。" * 4
    assert 0.01 < page.count("\x1a") / len(page) < ingest.encoding.MAX_CONTROL_SHARE
    (folder / "page.txt").write_text(page, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    kb = catalog.create("kb")
    kb.ingest([folder])
    conn = sqlite3.connect(kb.path / "kb.sqlite")
    with conn:  # what an older Zhida left behind: the page failed, with no loaders' version
        conn.execute("UPDATE documents SET status='failed', error_kind='undecodable', error='looks like binary "
                     "data', chunks=0, parsers=NULL WHERE name='page.txt'")
        conn.execute("DELETE FROM chunks WHERE doc_id=(SELECT id FROM documents WHERE name='page.txt')")
    conn.close()
    docs = {d["name"]: d for d in kb.documents()}
    assert docs["page.txt"]["status"] == "failed"
    read_before = embedder.embedded

    report = {f.path.rsplit("/", 1)[-1]: f for f in kb.ingest([folder]).files}
    assert report["page.txt"].status == "updated", report["page.txt"]
    assert embedder.embedded > read_before
    assert report["empty.txt"].status == "failed"
    docs = {d["name"]: d for d in kb.documents()}
    assert docs["page.txt"]["status"] == "ok" and docs["page.txt"]["chunks"] >= 1
    assert kb.search("荔枝酒 滋补", k=1)[0].source.endswith("page.txt")
    row = sqlite3.connect(kb.path / "kb.sqlite").execute(
        "SELECT parsers FROM documents WHERE name='empty.txt'").fetchone()
    assert row == (ingest.PARSERS_VERSION,)

    embedded = embedder.embedded
    again = {f.path.rsplit("/", 1)[-1]: f for f in kb.ingest([folder]).files}
    assert again["page.txt"].status == "unchanged" and again["empty.txt"].status == "failed"
    assert embedder.embedded == embedded


def test_the_vocabulary_check_knows_a_compound_the_documents_write_in_parts(catalog, tmp_path):
    """The refusal's "asks for a word the documents never use" rule: 文件格式 is used when 文件 and 格式 are
    (a guide saying 支持的格式 … 文件 answers 支持哪些文件格式？); 许可证 is not covered by 许可 alone."""
    from knowledge.base import covered_by_parts

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.md").write_text("支持的格式：PDF、DOCX。损坏的文件会列出原因。未经许可不得转载。", encoding="utf-8")
    kb = catalog.create("vocab")
    kb.ingest([folder])
    assert kb.knows("格式") and kb.knows("文件格式")
    assert not kb.knows("许可证") and not kb.knows("刑罚")
    assert covered_by_parts("文件格式", ["文件", "格式", "文件格式"], {"文件", "格式"})
    assert not covered_by_parts("许可证", ["许可", "许可证"], {"许可"})
