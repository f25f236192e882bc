"""Sources you can see: a chunk's page or section, the viewer page around it, a document's chunks and file.

    GET /api/kbs/{name}/chunks/{chunk_id}/source   PDF: image/png of the page, passage highlighted
                                                   (?page=N, ?zoom=0.5-3); other formats: text/html of
                                                   the section with the passage in <mark>
    GET /api/kbs/{name}/chunks/{chunk_id}/view     the viewer page the UI opens beside the chat
    GET /api/kbs/{name}/documents/{doc_id}/chunks  a document's chunks in order (?q= filters)
    GET /api/kbs/{name}/documents/{doc_id}/file    the original file, as a download

What may be served is decided in app.api.source_files; rendering is app.sources.
"""
from __future__ import annotations

import html
import time
from typing import Any, Optional
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.api import source_files
from app.api.errors import ApiError
from app.i18n import detect_lang, t
from app.sources import PdfLocked, render_pdf_page, section_from_chunks, text_html

# document text is data: no script runs in these pages, they load images from this server only
CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'"
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

VIEW_CSS = """
body { font: 15px/1.6 system-ui, "Noto Sans CJK SC", sans-serif; margin: 0; color: #1f2937; background: #f3f4f6; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #e5e7eb; padding: .5em .8em; }
.where { font-size: .95em; } .where .heading { color: #4b5563; }
nav { display: flex; gap: .8em; align-items: center; margin-top: .3em; font-size: .9em; flex-wrap: wrap; }
nav a { color: #2563eb; text-decoration: none; } nav .off { color: #9ca3af; }
main { padding: .8em; } main img { max-width: 100%; box-shadow: 0 1px 4px rgba(0,0,0,.2); background: #fff; }
.section { background: #fff; padding: .8em 1em; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
mark { background: #fde68a; padding: 0 .1em; }
table.zhida-table { border-collapse: collapse; margin: .5em 0; } .zhida-table td, .zhida-table th { border: 1px solid #d1d5db; padding: .2em .5em; }
.note { color: #92400e; background: #fef3c7; padding: .4em .6em; border-radius: 4px; margin-bottom: .6em; }
details { margin-top: .8em; }
"""


def _page_bounds(chunk: dict[str, Any]) -> tuple[int | None, int | None]:
    first = chunk.get("page")
    return first, chunk.get("page_end") or first


def _section_html(ctx, src: source_files.ChunkSource) -> str:
    c = src.chunk
    siblings = source_files.document_chunks(ctx, src.kb, str(c["doc_id"]), c.get("section_index"))
    view = section_from_chunks(c, siblings)
    return text_html(view.text, view.mark)


def _lang(request: Request, lang: Optional[str]) -> str:
    return lang if lang in ("zh", "en") else detect_lang(request.headers.get("accept-language"))


def build_router(ctx) -> APIRouter:
    r = APIRouter(prefix="/api")

    @r.get("/kbs/{name}/chunks/{chunk_id}/source", summary="A chunk's page (PDF: PNG, passage highlighted) or "
           "section (other formats: HTML, passage in <mark>)",
           responses={200: {"content": {"image/png": {}, "text/html": {}}}})
    def chunk_source(name: str, chunk_id: str, request: Request, page: Optional[int] = Query(None, ge=1),
                     zoom: float = Query(1.5, gt=0, le=10, description="capped at 3")):
        src = source_files.chunk_source(ctx, name, chunk_id)
        path = source_files.checked_file(src.document)
        first, last = _page_bounds(src.chunk)
        if src.format == "pdf":
            want = page or first or 1
            highlight = first is not None and first <= want <= (last or first)
            t0 = time.perf_counter()
            try:
                img = render_pdf_page(path, want, src.chunk["text"] if highlight else None, zoom)
            except PdfLocked:
                raise ApiError(409, f"{src.document.get('name')!r} is password-protected; the server does not "
                                    "keep passwords, so its pages cannot be shown (the indexed text can: "
                                    "open the viewer)", "encrypted") from None
            except ValueError as exc:
                raise ApiError(400, str(exc), "bad_request") from None
            ms = (time.perf_counter() - t0) * 1000
            return Response(img.png, media_type="image/png", headers={
                **HEADERS, "X-Zhida-Page": str(img.page), "X-Zhida-Pages": str(img.pages),
                "X-Zhida-Highlight": f"{img.coverage:.2f}", "X-Zhida-Render-Ms": f"{ms:.1f}"})
        body = _section_html(ctx, src)
        lg = _lang(request, None)
        return HTMLResponse(f"<!doctype html><meta charset='utf-8'><title>{html.escape(src.document.get('name') or '')}"
                            f"</title><style>{VIEW_CSS}</style><div class='section' lang='{lg}'>{body}</div>",
                            headers=HEADERS)

    @r.get("/kbs/{name}/chunks/{chunk_id}/view", response_class=HTMLResponse,
           summary="The source viewer: the page (or section) with the passage, its heading path and page, "
                   "previous/next page and a download link")
    def chunk_view(name: str, chunk_id: str, request: Request, page: Optional[int] = Query(None, ge=1),
                   lang: Optional[str] = None):
        lg = _lang(request, lang)
        src = source_files.chunk_source(ctx, name, chunk_id)
        c, doc = src.chunk, src.document
        first, last = _page_bounds(c)
        where = [f"<b>{html.escape(doc.get('name') or '')}</b>"]
        if c.get("heading_path"):
            where.append(f"<span class='heading'>{html.escape(' > '.join(c['heading_path']))}</span>")
        if first:
            shown = f"{first}-{last}" if last and last != first else str(first)
            where.append(html.escape(t("page", lg, page=shown)))
        download = f"../../documents/{quote(str(doc['id']))}/file"
        nav: list[str] = []
        notes: list[str] = []
        try:
            path = source_files.checked_file(doc)
        except ApiError as exc:
            path = None
            notes.append(exc.message)
        main = ""
        passage = f"<details><summary>{t('indexed_text', lg)}</summary><div class='section'>" \
                  f"{text_html(c.get('parent_text') or c.get('text') or '')}</div></details>"
        if path is not None and src.format == "pdf":
            from app.sources import pdf_page_count

            try:
                pages = pdf_page_count(path)
            except PdfLocked:
                pages = 0
                notes.append(t("viewer_locked", lg))
            if pages:
                want = min(max(1, page or first or 1), pages)
                prev = (f"<a class='prev' href='?page={want - 1}&lang={lg}'>‹ {t('prev_page', lg)}</a>"
                        if want > 1 else f"<span class='off'>‹ {t('prev_page', lg)}</span>")
                nxt = (f"<a class='next' href='?page={want + 1}&lang={lg}'>{t('next_page', lg)} ›</a>"
                       if want < pages else f"<span class='off'>{t('next_page', lg)} ›</span>")
                nav += [prev, f"<span class='pos'>{want} / {pages}</span>", nxt]
                main = f"<img id='page' alt='{html.escape(t('page', lg, page=want))}' src='source?page={want}'>"
                if not (first and first <= want <= (last or first)):  # no highlight here: the text is
                    passage = passage.replace("<details>", "<details open>")
        elif path is not None:
            main = f"<div class='section'>{_section_html(ctx, src)}</div>"
        if path is not None:
            nav.append(f"<a class='download' href='{download}' download>⤓ {t('download', lg)}</a>")
        here = f"?page={page or first or 1}&lang={lg}" if src.format == "pdf" else f"?lang={lg}"
        nav.append(f"<a class='newtab' href='{here}' target='_blank' rel='noopener'>⤢ {t('new_tab', lg)}</a>")
        if not main:
            passage = passage.replace("<details>", "<details open>")
        note = "".join(f"<div class='note'>{html.escape(n)}</div>" for n in notes)
        body = (f"<header><div class='where'>{' · '.join(where)}</div><nav>{''.join(nav)}</nav></header>"
                f"<main>{note}{main}{passage}</main>")
        return HTMLResponse(f"<!doctype html><html lang='{lg}'><meta charset='utf-8'>"
                            f"<title>{html.escape(doc.get('name') or '')}</title><style>{VIEW_CSS}</style>"
                            f"<body>{body}</body></html>", headers=HEADERS)

    @r.get("/kbs/{name}/documents/{doc_id}/chunks", summary="A document's chunks in order: page, heading path, "
           "kind, length, text (?q= keeps those containing it)")
    def list_chunks(name: str, doc_id: str, q: Optional[str] = None):
        from app.api.shapes import stored_chunk_dict

        doc = source_files.document_row(ctx, name, doc_id)
        rows = source_files.document_chunks(ctx, name, doc_id)
        needle = (q or "").strip().lower()
        out = [stored_chunk_dict(c, doc) for c in rows]
        if needle:
            out = [c for c in out if needle in c["text"].lower() or needle in c["heading"].lower()]
        return {"kb": name, "document": {"id": str(doc["id"]), "name": doc.get("name"), "pages": doc.get("pages"),
                                         "format": doc.get("format"), "chunks": doc.get("chunks")},
                "total": len(rows), "chunks": out}

    @r.get("/kbs/{name}/documents/{doc_id}/file", summary="Download the original file of a document")
    def download(name: str, doc_id: str):
        doc = source_files.document_row(ctx, name, doc_id)
        path = source_files.checked_file(doc)
        return FileResponse(path, filename=doc.get("name") or path.name,
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Content-Security-Policy": "default-src 'none'; sandbox"},
                            content_disposition_type="attachment")

    return r


def view_url(kb: str, chunk_id: str, lang: str = "en") -> str:
    """Where the UI opens a citation (one place builds it)."""
    return f"/api/kbs/{quote(kb, safe='')}/chunks/{quote(chunk_id, safe='')}/view?lang={lang}"

