"""TXT, Markdown, HTML and CSV loaders."""
from __future__ import annotations

import ingest


def test_markdown_headings_become_the_heading_path_and_code_stays_fenced(docs_dir):
    md = docs_dir / "guide.md"
    md.write_text(
        "# Guide\n\nIntro text.\n\n## Install\n\nRun it:\n\n```bash\n# not a heading\npip install zhida\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\nSetext title\n============\n\nBody.\n",
        encoding="utf-8",
    )
    doc = ingest.load_document(md)
    paths = [s.heading_path for s in doc.sections]
    assert ("Guide",) in paths and ("Guide", "Install") in paths and ("Setext title",) in paths
    install = "\n".join(s.text for s in doc.sections if s.heading_path == ("Guide", "Install"))
    assert "```bash\n# not a heading\npip install zhida\n```" in install
    tables = [s for s in doc.sections if s.kind == "table"]
    assert tables and tables[0].text.startswith("| a | b |")


def test_txt_keeps_paragraphs_and_recognises_chinese_chapter_headings(docs_dir):
    txt = docs_dir / "law.txt"
    txt.write_bytes("第一章 总则\r\n\r\n第一条 为了规范管理，制定本办法。\r\n\r\n第二章 附则\r\n本办法自发布之日起施行。\r\n".encode("gbk"))
    doc = ingest.load_document(txt)
    assert [s.heading_path for s in doc.sections] == [("第一章 总则",), ("第二章 附则",)]
    assert doc.sections[0].text.startswith("第一条")
    assert any("gb18030" in w for w in doc.warnings)


def test_html_keeps_main_text_and_drops_script_nav_footer(docs_dir):
    page = docs_dir / "page.html"
    page.write_text(
        "<html><head><title>T</title><style>p{}</style><script>var tracking=1;</script></head><body>"
        "<nav>Home | About</nav><header>Site header</header><main><h1>Title</h1><p>First <b>para</b>.</p>"
        "<h2>Sub</h2><ul><li>one</li><li>two</li></ul><table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>"
        "</main><aside>Ads</aside><footer>Copyright</footer></body></html>",
        encoding="utf-8",
    )
    doc = ingest.load_document(page)
    text = "\n".join(s.text for s in doc.sections)
    for gone in ("tracking", "Home | About", "Site header", "Ads", "Copyright", "p{}"):
        assert gone not in text
    assert "First para." in text and "- one" in text
    assert ("Title", "Sub") in [s.heading_path for s in doc.sections]
    assert any(s.kind == "table" and "| k | v |" in s.text for s in doc.sections)


def test_csv_becomes_a_markdown_table(docs_dir):
    f = docs_dir / "data.csv"
    f.write_text("name,score\nAda,10\nLin,9\n", encoding="utf-8")
    doc = ingest.load_document(f)
    assert doc.sections[0].kind == "table"
    assert doc.sections[0].text.splitlines()[:3] == ["| name | score |", "|---|---|", "| Ada | 10 |"]


def test_markdown_with_a_240kb_hostile_line_parses_in_seconds_not_minutes(docs_dir):
    """Heading and table patterns are linear: before, one long line of blanks inside a heading or under a
    table row cost ~0.2 s per 10 KB squared (240 KB: minutes, past the parser timeout). Linear, it takes
    ~0.05 s; the bound is loose so a loaded 2-core CI machine cannot fail it, and still far below minutes."""
    import time

    md = docs_dir / "hostile.md"
    md.write_text("# a" + " " * 240_000 + "x\n\n" + "# " + " #" * 120_000 + "y\n\n"
                  "| a | b |\n" + " " * 240_000 + "x\n\n# Real ## \n\nbody\n", encoding="utf-8")
    started = time.perf_counter()
    doc = ingest.load_document(md)
    assert time.perf_counter() - started < 10.0
    assert ("Real",) in [s.heading_path for s in doc.sections]  # closing #s still stripped
