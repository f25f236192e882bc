"""Seeing what the index holds: a document's chunks (Documents tab) and a retrieval test (its own tab).

Both list chunks as HTML tables whose rows open in the source viewer (app.ui.viewer); both go through
the same calls as the REST API (GET .../documents/{id}/chunks, POST .../search), with the JSON shapes of
app.api.shapes.
"""
from __future__ import annotations

import html
from typing import Any

import gradio as gr

from app.api.errors import ApiError
from app.i18n import t
from app.ui.render import passage_html
from app.ui.viewer import open_link

MAX_ROWS = 300  # a 140-page PDF has ~1,300 chunks: the list shows this many, the search box narrows it


def _fmt(x: Any) -> str:
    return "" if x is None else f"{float(x):.3f}"


def _where(c: dict[str, Any], lang: str, with_name: bool) -> str:
    bits = [f"<b>{html.escape(c.get('name') or '')}</b>"] if with_name else []
    if c.get("page"):
        end = c.get("page_end")
        bits.append(html.escape(t("page", lang, page=f"{c['page']}-{end}" if end and end != c["page"] else c["page"])))
    if c.get("heading"):
        bits.append(f"<span class='zhida-heading'>{html.escape(c['heading'])}</span>")
    return " · ".join(bits)


def chunks_table(kb: str, chunks: list[dict[str, Any]], lang: str, total: int | None = None) -> str:
    """A document's chunks in order: #, page, heading path, kind, length, text, open link."""
    if not chunks:
        return f"<p class='zhida-empty'>{html.escape(t('no_chunks', lang))}</p>"
    head = "".join(f"<th>{html.escape(t(k, lang))}</th>" for k in
                   ("col_pos", "col_where", "col_kind", "col_len", "col_text"))
    rows = []
    for c in chunks[:MAX_ROWS]:
        rows.append(f"<tr class='zhida-chunk'><td class='zhida-num'>{int(c.get('position') or 0) + 1}</td>"
                    f"<td class='zhida-where'>{_where(c, lang, False)}</td>"
                    f"<td class='zhida-num'>{html.escape(c.get('kind') or '')}</td>"
                    f"<td class='zhida-num'>{int(c.get('length') or 0)}</td><td class='zhida-body'>{passage_html(c.get('text') or '')}"
                    f"{open_link(kb, c.get('chunk_id') or '', lang)}</td></tr>")
    shown = min(len(chunks), MAX_ROWS)
    note = t("chunks_shown", lang, shown=shown, total=total if total is not None else len(chunks))
    return (f"<p class='zhida-count'>{html.escape(note)}</p><table class='zhida-list'><tr>{head}</tr>"
            f"{''.join(rows)}</table>")


def hits_table(kb: str, hits: list[dict[str, Any]], lang: str, ms: float | None = None) -> str:
    """Ranked chunks with the evidence: fused/dense/sparse/rerank scores and ranks, which retriever found it."""
    if not hits:
        return f"<p class='zhida-empty'>{html.escape(t('no_hits', lang))}</p>"
    head = "".join(f"<th>{html.escape(t(k, lang))}</th>" for k in
                   ("col_rank", "col_fused", "col_dense", "col_sparse", "col_rerank", "col_found_by", "col_text"))
    rows = []
    for i, c in enumerate(hits, 1):
        s, r = c.get("scores") or {}, c.get("ranks") or {}
        found = " + ".join(t(f"by_{f}", lang) for f in c.get("found_by") or [])
        dense = _fmt(s.get("dense_score")) + (f" <sub>#{r['dense']}</sub>" if r.get("dense") else "")
        sparse = _fmt(s.get("sparse_score")) + (f" <sub>#{r['sparse']}</sub>" if r.get("sparse") else "")
        rows.append(f"<tr class='zhida-hit'><td class='zhida-num'>{i}</td>"
                    f"<td class='zhida-num'>{_fmt(s.get('fused_score', c.get('score')))}</td>"
                    f"<td class='zhida-num'>{dense}</td><td class='zhida-num'>{sparse}</td>"
                    f"<td class='zhida-num'>{_fmt(s.get('rerank_score'))}</td>"
                    f"<td class='zhida-found'>{html.escape(found)}</td>"
                    f"<td class='zhida-body'><div class='zhida-where'>{_where(c, lang, True)}</div>{passage_html(c.get('text') or '')}"
                    f"{open_link(kb, c.get('chunk_id') or '', lang)}</td></tr>")
    took = f" · {ms:.0f} ms" if ms is not None else ""
    return (f"<p class='zhida-count'>{html.escape(t('hits_shown', lang, n=len(hits)))}{took}</p>"
            f"<table class='zhida-list'><tr>{head}</tr>{''.join(rows)}</table>")


def _error(exc: Exception, lang: str) -> str:
    msg = exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}"
    return f"<p class='zhida-error'>✖ {html.escape(t('error', lang, error=msg))}</p>"


def document_chunks(ctx, kb: str, doc_id: str, query: str = "") -> tuple[list[dict[str, Any]], int]:
    """(chunks, total) of one document, those containing `query` when given (the REST list's rule)."""
    from app.api import source_files
    from app.api.shapes import stored_chunk_dict

    doc = source_files.document_row(ctx, kb, doc_id)
    rows = [stored_chunk_dict(c, doc) for c in source_files.document_chunks(ctx, kb, doc_id)]
    needle = (query or "").strip().lower()
    shown = [c for c in rows if not needle or needle in c["text"].lower() or needle in c["heading"].lower()]
    return shown, len(rows)


def bind_document_choices(ctx, dropdown, kb_dd, docs_df, multiselect: bool = False) -> None:
    """Keep a document dropdown's choices those of the chosen KB (documents with chunks). It follows the
    KB and the documents table, and re-reads them when opened (a Dataframe set by the page's load event
    fires no change event)."""

    def choices(name, current=None):
        empty = [] if multiselect else None
        if not name:
            return gr.Dropdown(choices=[], value=empty)
        try:
            docs = [d for d in ctx.documents(name) if d.get("chunks")]
        except Exception:
            return gr.Dropdown(choices=[], value=empty)
        ids = {str(d["id"]) for d in docs}
        if multiselect:
            value = [v for v in (current or []) if v in ids]
        else:
            value = current if current in ids else None
        return gr.Dropdown(choices=[(f"{d.get('name', '')}  ·  {d.get('chunks')}", str(d["id"])) for d in docs],
                           value=value)

    kb_dd.change(lambda name: choices(name), [kb_dd], [dropdown], show_progress="hidden")
    docs_df.change(choices, [kb_dd, dropdown], [dropdown], show_progress="hidden")
    dropdown.focus(choices, [kb_dd, dropdown], [dropdown], show_progress="hidden")


def build_chunk_browser(ctx, kb_dd, lang, docs_df, i18n) -> None:
    """Inside the Documents tab: pick a document, see its chunks; a search box keeps the matching ones."""
    with gr.Accordion(i18n("chunk_browser"), open=True, elem_id="chunk-browser"):
        with gr.Row():
            doc = gr.Dropdown(label=i18n("chunk_doc"), choices=[], value=None, scale=3, elem_id="chunk-doc")
            find = gr.Textbox(label=i18n("chunk_find"), scale=2, elem_id="chunk-find")
        out = gr.HTML(elem_id="chunk-list")

    def show(name, doc_id, q, lg):
        if not name or not doc_id:
            return ""
        try:
            chunks, total = document_chunks(ctx, name, doc_id, q)
        except Exception as exc:
            return _error(exc, lg)
        return chunks_table(name, chunks, lg, total)

    bind_document_choices(ctx, doc, kb_dd, docs_df)
    doc.change(show, [kb_dd, doc, find, lang], [out], show_progress="hidden")
    find.submit(show, [kb_dd, doc, find, lang], [out], show_progress="hidden")
    find.change(show, [kb_dd, doc, find, lang], [out], show_progress="hidden", trigger_mode="always_last")


def build_retrieval_tab(ctx, kb_dd, lang, i18n, modes: list[str], defaults: dict[str, Any], scope=None) -> None:
    """A tab for testing retrieval: query, mode, k, rerank -> the ranked chunks with their scores; `scope`
    (the chat's document multi-select) limits it the same way."""
    import time

    with gr.Tab(i18n("tab_retrieval"), id="retrieval", elem_id="retrieval-tab"):
        with gr.Row():
            query = gr.Textbox(label=i18n("rt_query"), scale=5, elem_id="rt-query")
            run = gr.Button(i18n("rt_run"), variant="primary", scale=1, min_width=80, elem_id="rt-run")
        with gr.Row():
            mode = gr.Radio(modes, value=defaults["mode"] if defaults["mode"] in modes else "hybrid",
                            label=i18n("mode"), elem_id="rt-mode")
            k = gr.Slider(1, 50, value=defaults["k"], step=1, label=i18n("top_k"), elem_id="rt-k")
            rerank = gr.Checkbox(value=defaults["rerank"], label=i18n("rerank"), elem_id="rt-rerank")
        out = gr.HTML(elem_id="rt-results")

    def go(name, q, md, kk, rr, lg, docs=None):
        if not name:
            return f"<p class='zhida-empty'>{html.escape(t('pick_kb', lg))}</p>"
        if not (q or "").strip():
            return ""
        t0 = time.perf_counter()
        try:
            extra = {"documents": list(docs)} if docs else {}
            hits, _ = ctx.search(name, q, k=int(kk), mode=md, rerank=bool(rr), **extra)
        except Exception as exc:
            return _error(exc, lg)
        return hits_table(name, hits, lg, (time.perf_counter() - t0) * 1000)

    inputs = [kb_dd, query, mode, k, rerank, lang] + ([scope] if scope is not None else [])
    run.click(go, inputs, [out])
    query.submit(go, inputs, [out])


CSS = """
.zhida-list { border-collapse: collapse; width: 100%; font-size: .92em; }
.zhida-list th, .zhida-list > tbody > tr > td { border-bottom: 1px solid #e5e7eb; padding: .3em .4em; vertical-align: top; text-align: left; }
.zhida-list th { background: #f9fafb; font-weight: 600; }
.zhida-list td.zhida-num { width: 1%; white-space: nowrap; font-variant-numeric: tabular-nums; }
.zhida-list td.zhida-body { min-width: 55%; }
.zhida-list td p { margin: 0 0 .3em 0; }
.zhida-heading { color: #4b5563; } .zhida-where { font-size: .9em; margin-bottom: .2em; }
.zhida-found { width: 1%; } .zhida-count, .zhida-empty { color: #6b7280; font-size: .9em; }
.zhida-error { color: #b91c1c; }
"""
