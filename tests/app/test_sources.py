"""The source viewer's endpoints against a real KB: a highlighted Civil Code PDF page, a Markdown section
with the passage in <mark>, the chunk browser, the download, and everything it must refuse."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.app.test_api import client, settings, upload, wait_job  # noqa: F401 (fixtures)
from tests.conftest import SHARED_DOCS

MD = """# 公司制度

## 年假

员工每年享有十五天带薪年假，<script>alert(1)</script> 未休完的年假可以顺延。

## 报销

| 项目 | 标准 |
| --- | --- |
| 住宿 | 每晚五百元 |
| 餐费 | 每天一百元 |
"""


def civil_code_pages(path: Path) -> Path:
    """Pages 10-11 of the shared Civil Code PDF (the whole book takes too long to index in a fast test)."""
    import pymupdf

    src = SHARED_DOCS / "zh_civil_code.pdf"
    if not src.exists():
        pytest.skip(f"{src} is missing (../shared/data is not checked out)")
    out = pymupdf.open()
    with pymupdf.open(str(src)) as doc:
        out.insert_pdf(doc, from_page=9, to_page=10)
    out.save(str(path))
    out.close()
    return path


@pytest.fixture
def kb(client, tmp_path):  # noqa: F811
    assert client.post("/api/kbs", json={"name": "laws"}).status_code == 201
    pdf = civil_code_pages(tmp_path / "民法典.pdf")
    r = upload(client, "laws", [("民法典.pdf", pdf.read_bytes()), ("制度.md", MD.encode())])
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "done" and not job["summary"]["failed"], job
    return "laws"


def search(client, kb, query, **extra):  # noqa: F811
    r = client.post(f"/api/kbs/{kb}/search", json={"query": query, "k": 3, **extra})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_pdf_chunk_source_is_its_page_with_the_passage_highlighted(client, kb):  # noqa: F811
    from PIL import Image

    hit = next(c for c in search(client, kb, "财产代管人不履行代管职责") if c["name"] == "民法典.pdf")
    assert hit["chunk_id"] and hit["page"] in (1, 2)
    r = client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/source")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert float(r.headers["x-zhida-highlight"]) > 0.8, r.headers
    img = Image.open(io.BytesIO(r.content)).convert("RGB")
    yellow = sum(1 for p in img.getdata() if p[0] > 230 and p[1] > 180 and p[2] < 120)
    assert yellow > 2000, "the passage must be painted on the page"
    # another page of the same document renders, without the highlight; zoom is capped
    other = 2 if hit["page"] == 1 else 1
    r2 = client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/source", params={"page": other, "zoom": 9})
    assert r2.status_code == 200 and r2.headers["x-zhida-highlight"] == "0.00"
    assert max(Image.open(io.BytesIO(r2.content)).size) <= 842 * 3 + 1
    assert client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/source", params={"page": 99}).status_code == 400


def test_markdown_chunk_source_is_its_section_with_the_passage_marked_and_escaped(client, kb):  # noqa: F811
    hit = next(c for c in search(client, kb, "带薪年假 十五天") if c["name"] == "制度.md")
    r = client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/source")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<mark>" in r.text and "十五天带薪年假" in r.text.split("<mark>", 1)[1]
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text
    assert "script-src" not in r.headers["content-security-policy"] and "default-src 'none'" in \
        r.headers["content-security-policy"]
    table = next(c for c in search(client, kb, "住宿 每晚五百元") if c["name"] == "制度.md")
    r = client.get(f"/api/kbs/{kb}/chunks/{table['chunk_id']}/source")
    assert "<table" in r.text and "<td><mark>每晚五百元</mark></td>" in r.text and "| 住宿" not in r.text


def test_viewer_page_has_heading_page_navigation_and_download(client, kb):  # noqa: F811
    hit = next(c for c in search(client, kb, "财产代管人不履行代管职责") if c["name"] == "民法典.pdf")
    r = client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/view", params={"lang": "zh"})
    assert r.status_code == 200, r.text
    assert f"src='source?page={hit['page']}'" in r.text and "民法典.pdf" in r.text
    assert "下一页" in r.text and "下载原文件" in r.text and f"{hit['page']} / 2" in r.text
    docs = client.get(f"/api/kbs/{kb}/documents").json()["documents"]
    pdf = next(d for d in docs if d["name"] == "民法典.pdf")
    f = client.get(f"/api/kbs/{kb}/documents/{pdf['id']}/file")
    assert f.status_code == 200 and f.content.startswith(b"%PDF") and "attachment" in f.headers["content-disposition"]
    md = next(c for c in search(client, kb, "带薪年假") if c["name"] == "制度.md")
    v = client.get(f"/api/kbs/{kb}/chunks/{md['chunk_id']}/view", params={"lang": "en"})
    assert "<mark>" in v.text and "公司制度 &gt; 年假" in v.text and "Download original" in v.text


def test_chunk_browser_lists_a_documents_chunks_in_order(client, kb):  # noqa: F811
    docs = client.get(f"/api/kbs/{kb}/documents").json()["documents"]
    md = next(d for d in docs if d["name"] == "制度.md")
    r = client.get(f"/api/kbs/{kb}/documents/{md['id']}/chunks")
    assert r.status_code == 200, r.text
    body = r.json()
    chunks = body["chunks"]
    assert body["total"] == len(chunks) == md["chunks"] and [c["position"] for c in chunks] == sorted(
        c["position"] for c in chunks)
    assert {"chunk_id", "page", "heading", "kind", "length", "text"} <= set(chunks[0])
    assert any(c["kind"] == "table" for c in chunks)
    only = client.get(f"/api/kbs/{kb}/documents/{md['id']}/chunks", params={"q": "五百元"}).json()["chunks"]
    assert len(only) == 1 and "五百元" in only[0]["text"]
    assert client.get(f"/api/kbs/{kb}/documents/9999/chunks").status_code == 404
    assert client.get(f"/api/kbs/{kb}/documents/..%2F..%2Fetc/chunks").status_code == 404


def test_unknown_or_hostile_chunk_ids_are_404(client, kb):  # noqa: F811
    for hostile in ["nope", "../../../etc/passwd", "..%2F..%2Fkb.sqlite", "%2e%2e%2fkb.sqlite", "%00",
                    "' OR 1=1 --", "a" * 300, "*"]:
        for what in ("source", "view"):
            r = client.get(f"/api/kbs/{kb}/chunks/{hostile}/{what}")
            assert r.status_code == 404, (hostile, r.text)
            assert "root:" not in r.text and "SQLite" not in r.text


def test_chunk_of_another_kb_and_a_deleted_file_are_refused(client, kb, zhida_home):  # noqa: F811
    hit = next(c for c in search(client, kb, "带薪年假") if c["name"] == "制度.md")
    assert client.post("/api/kbs", json={"name": "other"}).status_code == 201
    r = client.get(f"/api/kbs/other/chunks/{hit['chunk_id']}/source")
    assert r.status_code == 404 and "no chunk" in r.json()["error"]["message"]
    # the uploaded file is deleted behind the KB's back: 404 that says so; the text stays searchable
    stored = Path(hit["source"])
    assert stored.is_file()
    stored.unlink()
    r = client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/source")
    assert r.status_code == 404 and "gone" in r.json()["error"]["message"]
    assert client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/view").status_code == 200  # says why, shows text
    # a file swapped for another one (a link to a file outside the KB) is never served
    os.symlink("/etc/hostname" if Path("/etc/hostname").exists() else "/etc/passwd", stored)
    r = client.get(f"/api/kbs/{kb}/chunks/{hit['chunk_id']}/source")
    assert r.status_code == 409 and "changed" in r.json()["error"]["message"]
    docs = client.get(f"/api/kbs/{kb}/documents").json()["documents"]
    md = next(d for d in docs if d["name"] == "制度.md")
    assert client.get(f"/api/kbs/{kb}/documents/{md['id']}/file").status_code == 409


def test_every_citation_carries_its_chunk_id(client, kb):  # noqa: F811
    """REST chat, SSE chat and /v1 (the CLI's --json is tests/app/test_ask_cli.py)."""
    r = client.post(f"/api/kbs/{kb}/chat", json={"question": "财产代管人不履行代管职责怎么办？"})
    assert r.status_code == 200, r.text
    ids = [c["chunk_id"] for c in r.json()["citations"]]
    assert ids and all(ids)
    with client.stream("POST", f"/api/kbs/{kb}/chat", json={"question": "带薪年假几天？", "stream": True}) as s:
        body = "".join(s.iter_text())
    assert '"chunk_id": "' in body or '"chunk_id":"' in body
    v1 = client.post("/v1/chat/completions", json={"model": f"zhida:{kb}", "messages": [
        {"role": "user", "content": "带薪年假几天？"}]})
    assert v1.status_code == 200 and all(c["chunk_id"] for c in v1.json()["citations"])
    for cid in ids:  # and each opens
        assert client.get(f"/api/kbs/{kb}/chunks/{cid}/view").status_code == 200


def test_chat_shows_tables_as_tables():
    """A table an answer flattened onto one line, and a citation's Markdown table, become HTML tables."""
    from app.ui.render import citations_html, unflatten_tables

    flat = "见下表：| 城市 | 每晚上限 | |---|---| | 北京 | 八百元 | | 其他 | 五百元 |[1]"
    assert unflatten_tables(flat) == "见下表：\n\n| 城市 | 每晚上限 |\n|---|---|\n| 北京 | 八百元 |\n| 其他 | 五百元 |\n\n[1]"
    assert unflatten_tables("a | b and c | d") == "a | b and c | d"
    html = citations_html([{"n": 1, "chunk_id": "abc", "name": "x.docx", "text": "| a | b |\n|---|---|\n| <i>1</i> | 2 |"}],
                          "en", kb="知识库")
    assert "<table class='zhida-table'><tr><th>a</th>" in html and "<td>&lt;i&gt;1&lt;/i&gt;</td>" in html
    assert "|" not in html.split("<blockquote>")[1].split("<a ")[0]
    assert "href='/api/kbs/%E7%9F%A5%E8%AF%86%E5%BA%93/chunks/abc/view?lang=en'" in html


def test_retrieval_test_results_carry_each_retrievers_scores(client, kb):  # noqa: F811
    """What the retrieval-test tab shows: dense, BM25 and fused scores, ranks and who found each chunk."""
    hits = search(client, kb, "财产代管人不履行代管职责", mode="hybrid")
    top = hits[0]
    assert set(top["found_by"]) <= {"dense", "sparse"} and top["found_by"]
    assert "fused_score" in top["scores"] and ("dense_score" in top["scores"] or "sparse_score" in top["scores"])
    assert all(isinstance(v, int) for v in top["ranks"].values()) and top["ranks"]
    sparse_only = search(client, kb, "财产代管人不履行代管职责", mode="sparse")
    assert all(h["found_by"] == ["sparse"] and "dense_score" not in h["scores"] for h in sparse_only)
    from app.ui.explore import hits_table

    page = hits_table(kb, hits, "en")
    assert page.count("<tr class='zhida-hit'>") == len(hits) and "zhida-open" in page


def _doc_id(client, kb, name):  # noqa: F811
    return next(d["id"] for d in client.get(f"/api/kbs/{kb}/documents").json()["documents"] if d["name"] == name)


def test_questions_limited_to_chosen_documents_in_both_retrievers(client, kb):  # noqa: F811
    pdf, md = _doc_id(client, kb, "民法典.pdf"), _doc_id(client, kb, "制度.md")
    q = "员工 带薪年假 财产代管人"
    assert {c["name"] for c in search(client, kb, q, k=10)} == {"民法典.pdf", "制度.md"}
    for mode in ("dense", "sparse", "hybrid"):
        only = search(client, kb, q, k=10, mode=mode, documents=[md])
        assert only and {c["name"] for c in only} == {"制度.md"}, mode
    r = client.post(f"/api/kbs/{kb}/chat", json={"question": "带薪年假有几天？", "documents": [pdf]})
    assert r.status_code == 200 and r.json()["citations"]
    assert {c["name"] for c in r.json()["citations"]} == {"民法典.pdf"}
    bad = client.post(f"/api/kbs/{kb}/search", json={"query": q, "documents": ["424242"]})
    assert bad.status_code == 404 and "424242" in bad.json()["error"]["message"]


def test_cli_doc_limits_search_and_ask(client, kb, zhida_home):  # noqa: F811
    import json
    import subprocess
    import sys

    env = dict(os.environ, ZHIDA_HOME=str(zhida_home), ZHIDA_EMBEDDING_MODEL="hashing")
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, cwd=Path(__file__).resolve().parents[2])
    out = run("search", "员工 带薪年假 财产代管人", "--kb", kb, "--doc", "民法典.pdf", "--json", "-k", "10")
    assert out.returncode == 0, out.stderr
    assert {Path(r["source"]).name for r in json.loads(out.stdout)["results"]} == {"民法典.pdf"}
    out = run("ask", "带薪年假有几天？", "--kb", kb, "--doc", "制度.md", "--json")
    assert out.returncode == 0, out.stderr
    assert {Path(c["source"]).name for c in json.loads(out.stdout)["citations"]} == {"制度.md"}
    out = run("ask", "带薪年假有几天？", "--kb", kb, "--doc", "nope.pdf")
    assert out.returncode != 0 and "no document 'nope.pdf'" in out.stderr and "Traceback" not in out.stderr


def test_every_text_format_opens_as_its_section_with_the_passage_marked(client, tmp_path):  # noqa: F811
    import openpyxl
    import pptx

    wb = openpyxl.Workbook()
    wb.active.append(["项目", "标准"])
    wb.active.append(["住宿", "每晚五百元"])
    wb.save(tmp_path / "t.xlsx")
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "年假制度"
    slide.placeholders[1].text = "员工每年享有十五天带薪年假。"
    deck.save(tmp_path / "t.pptx")
    files = [("t.txt", "员工每年享有十五天带薪年假。\n\n报销需在三十天内提交。".encode()),
             ("t.html", "<html><body><h1>制度</h1><p>员工每年享有十五天带薪年假 &lt;b&gt;。</p></body></html>".encode()),
             ("t.csv", "项目,标准\n住宿,每晚五百元\n".encode()),
             ("t.xlsx", (tmp_path / "t.xlsx").read_bytes()), ("t.pptx", (tmp_path / "t.pptx").read_bytes())]
    assert client.post("/api/kbs", json={"name": "fmt"}).status_code == 201
    r = upload(client, "fmt", files)
    job = wait_job(client, r.json()["job_id"])
    assert job["summary"]["failed"] == 0, job
    for d in client.get("/api/kbs/fmt/documents").json()["documents"]:
        first = client.get(f"/api/kbs/fmt/documents/{d['id']}/chunks").json()["chunks"][0]
        src = client.get(f"/api/kbs/fmt/chunks/{first['chunk_id']}/source")
        assert src.status_code == 200 and src.headers["content-type"].startswith("text/html"), d["name"]
        assert "<mark>" in src.text and "<script" not in src.text, (d["name"], src.text[:300])


def test_a_huge_section_is_shown_around_the_passage_only():
    from app.sources import SECTION_WINDOW, section_from_chunks

    chunks = [{"text": f"{i:05d}" * 20, "char_start": i * 100, "char_end": i * 100 + 100} for i in range(10_000)]
    view = section_from_chunks(chunks[5000], chunks)
    assert len(view.text) <= 2 * SECTION_WINDOW + 200
    assert view.text[view.mark[0]:view.mark[1]] == chunks[5000]["text"]


def test_a_passage_across_a_page_break_highlights_its_part_on_each_page(tmp_path):
    import pymupdf

    from app.sources import render_pdf_page

    first = "员工每年享有十五天带薪年假，未休完的年假可以顺延到下一年，但最多顺延五天。"
    second = "顺延的年假必须在次年三月底之前休完，逾期作废，公司不予折算工资。"
    doc = pymupdf.open()
    for text in (first, second):
        doc.new_page().insert_textbox(pymupdf.Rect(50, 700, 550, 800), text, fontname="china-s", fontsize=11)
    doc.save(str(tmp_path / "break.pdf"))
    passage = first + second
    one, two = (render_pdf_page(tmp_path / "break.pdf", p, passage) for p in (1, 2))
    assert 0.35 < one.coverage < 0.65 and 0.35 < two.coverage < 0.65, (one.coverage, two.coverage)
    assert one.rects and two.rects and one.pages == 2
