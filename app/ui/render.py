"""Turning API values (jobs, documents, answers) into what the Gradio components show."""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

from app.citations import where
from app.i18n import status_label, t


def results_frame(job: dict[str, Any] | None, lang: str) -> pd.DataFrame:
    cols = [t("col_file", lang), t("col_status", lang), t("col_chunks", lang), t("col_reason", lang)]
    rows = []
    for f in (job or {}).get("files") or []:
        rows.append([f.get("name") or f.get("path", ""), status_label(f.get("status", ""), lang),
                     int(f.get("chunks") or 0), f.get("reason") or ""])
    return pd.DataFrame(rows, columns=cols)


def documents_frame(docs: list[dict[str, Any]], lang: str) -> pd.DataFrame:
    cols = [t("col_file", lang), t("col_status", lang), t("col_chunks", lang), t("col_reason", lang)]
    rows = [[d.get("name", ""), status_label(str(d.get("status", "")), lang), int(d.get("chunks") or 0),
             d.get("error") or ""] for d in docs]
    return pd.DataFrame(rows, columns=cols)


def document_choices(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f"{d.get('name', '')}  ·  {d.get('chunks') or 0}", str(d["id"])) for d in docs]


def job_status(job: dict[str, Any] | None, lang: str) -> str:
    if not job:
        return ""
    status = job.get("status")
    if status == "queued":
        return "… " + t("job_queued", lang)
    if status == "running":
        current = job.get("current") or ""
        if job.get("total"):
            return "⟳ " + t("job_running", lang, done=job.get("processed", 0), total=job["total"], current=current)
        return "⟳ " + t("job_running_n", lang, current=current)
    if status == "failed":
        return "✖ " + t("job_failed", lang, error=job.get("error") or "?")
    s = job.get("summary") or {}
    seconds = (job.get("finished") or 0) - (job.get("started") or job.get("finished") or 0)
    icon = "⚠" if s.get("failed") else "✔"
    return icon + " " + t("job_done", lang, added=s.get("added", 0), updated=s.get("updated", 0),
                          unchanged=s.get("unchanged", 0), removed=s.get("removed", 0), failed=s.get("failed", 0),
                          seconds=max(0.0, seconds))


def kb_summary(kb: dict[str, Any] | None, lang: str) -> str:
    if not kb:
        return t("no_kb", lang)
    parts = [f"**{html.escape(kb['name'])}**"]
    if kb.get("documents") is not None:
        parts.append(f"{kb['documents']} {'个文档' if lang == 'zh' else 'documents'}")
    if kb.get("chunks") is not None:
        parts.append(f"{kb['chunks']} {'个分块' if lang == 'zh' else 'chunks'}")
    if kb.get("embedding_model"):
        parts.append(f"`{kb['embedding_model']}`")
    return " · ".join(parts)


def mode_label(mode: str, lang: str) -> str:
    return t("extractive", lang) if mode == "extractive" else mode


def _where(c: dict[str, Any], lang: str) -> str:
    return html.escape(where(c, lang))


def citations_html(citations: list[dict[str, Any]], lang: str) -> str:
    """Numbered citations that expand to the quoted passage."""
    if not citations:
        return ""
    items = []
    for c in citations:
        text = html.escape(c.get("text") or "").replace("\n", "<br>")
        items.append(
            f"<details class='zhida-cite'><summary>[{c.get('n')}] {_where(c, lang)}</summary>"
            f"<blockquote>{text}</blockquote></details>"
        )
    return f"\n\n<div class='zhida-sources'><b>{t('sources', lang)}</b>{''.join(items)}</div>"


def final_message(done: dict[str, Any], lang: str) -> str:
    """The assistant message once the answer is complete: text, refusal badge, citations, mode."""
    text = done.get("answer") or ""
    if done.get("refused"):
        text = f"<span class='zhida-refused'>⚠ {t('not_found', lang)}</span>\n\n" + text
    text += citations_html(done.get("citations") or [], lang)
    text += f"\n\n<sub class='zhida-mode'>{html.escape(t('mode_in_use', lang, mode=mode_label(done.get('mode', ''), lang)))}</sub>"
    return text


def mode_line(done: dict[str, Any], lang: str, question: str = "") -> str:
    """Mode and timings under the chat, and the standalone query when a follow-up was rewritten."""
    tm = done.get("timings_ms") or {}
    line = t("mode_in_use", lang, mode=mode_label(done.get("mode", ""), lang))
    query = done.get("query") or ""
    if question and query and query != question:
        shown = html.escape(query).replace("*", "\\*").replace("_", "\\_")  # user text in Markdown
        line += " · " + t("searched_for", lang, query=shown)
    if tm:
        line += " · " + t("timings", lang, retrieve=float(tm.get("retrieve", 0) or 0),
                          generate=float(tm.get("generate", 0) or 0))
    return line


CSS = """
.zhida-sources { margin-top: .4em; font-size: .92em; }
.zhida-cite summary { cursor: pointer; }
.zhida-cite blockquote { margin: .3em 0 .6em .6em; padding-left: .6em; border-left: 3px solid #ccc; white-space: normal; }
.zhida-refused { color: #b45309; font-weight: 600; }
.zhida-mode { opacity: .7; }
"""
