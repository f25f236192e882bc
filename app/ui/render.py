"""Turning API values (jobs, documents, answers) into what the Gradio components show."""
from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from app.citations import where
from app.i18n import status_label, t


_REASON_KINDS = ("unsupported", "corrupt", "empty", "too_large", "undecodable", "lost")


def reason_text(f: dict[str, Any], lang: str) -> str:
    """A file's failure reason in the user's language (the loader's English detail kept where it names
    something: a suffix, a parser message), then its warnings (OCR missing, pages recovered ...)."""
    reason, kind = str(f.get("reason") or ""), str(f.get("error_kind") or "")
    if kind == "encrypted":  # the loader's hint names the CLI flag; the web form has a field for it
        reason = t("reason_wrong_password" if "wrong password" in reason else "reason_encrypted", lang)
    elif lang == "zh" and kind in _REASON_KINDS and reason:
        reason = f"{t('reason_' + kind, lang)}（{reason}）"
    warnings = [str(w) for w in f.get("warnings") or [] if w]
    if warnings:
        reason = (reason + " " if reason else "") + "⚠ " + "; ".join(warnings)
    return reason


def results_frame(job: dict[str, Any] | None, lang: str) -> pd.DataFrame:
    cols = [t("col_file", lang), t("col_status", lang), t("col_chunks", lang), t("col_reason", lang)]
    rows = []
    for f in (job or {}).get("files") or []:
        rows.append([f.get("name") or f.get("path", ""), status_label(f.get("status", ""), lang),
                     int(f.get("chunks") or 0), reason_text(f, lang)])
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
        emb = (job.get("meta") or {}).get("embedding") or {}
        if emb.get("total"):
            current += " · " + t("job_embedding", lang, done=emb.get("done", 0), total=emb["total"])
        if job.get("total"):
            line = "⟳ " + t("job_running", lang, done=job.get("processed", 0), total=job["total"], current=current)
            done, started = int(job.get("processed") or 0), job.get("started")
            if started and 0 < done < int(job["total"]):  # files so far -> the rest at the same pace
                import time

                elapsed = max(0.0, time.time() - float(started))
                line += " · " + t("job_eta", lang, elapsed=elapsed, eta=elapsed / done * (int(job["total"]) - done))
            return line
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


def passage_html(text: str) -> str:
    """A quoted passage as one line of safe HTML (the chatbot's Markdown would split it at newlines),
    Markdown tables as tables."""
    from app.sources import text_html

    return text_html(text or "").replace("\n", "")


def citations_html(citations: list[dict[str, Any]], lang: str, kb: str = "") -> str:
    """Numbered citations that expand to the quoted passage, each with a link that opens its source."""
    from app.ui.viewer import open_link

    if not citations:
        return ""
    items = []
    for c in citations:
        items.append(
            f"<details class='zhida-cite'><summary>[{c.get('n')}] {_where(c, lang)}</summary>"
            f"<blockquote>{passage_html(c.get('text') or '')}{open_link(kb, str(c.get('chunk_id') or ''), lang)}"
            f"</blockquote></details>"
        )
    return f"\n\n<div class='zhida-sources'><b>{t('sources', lang)}</b>{''.join(items)}</div>"


_FLAT_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")
_ROW_JOIN = re.compile(r"\|[ \t]+\|")


def unflatten_tables(text: str) -> str:
    """A Markdown table whose rows an answer joined into one line ("| a | b | |---|---| | 1 | 2 |") back on
    its own lines, so the chat shows a table instead of pipes."""
    out = []
    for line in text.split("\n"):
        if _FLAT_TABLE.search(line) and line.count("|") >= 6:
            head, bar, rest = line.partition("|")
            rows = _ROW_JOIN.sub("|\n|", bar + rest)
            rows = re.sub(r"\|([^|\n]*[^|\s][^|\n]*)$", lambda m: "|\n\n" + m.group(1).strip(), rows)  # "[1]" after it
            line = (head.rstrip() + "\n\n" if head.strip() else "") + rows
        out.append(line)
    return "\n".join(out)


def final_message(done: dict[str, Any], lang: str, kb: str = "") -> str:
    """The assistant message once the answer is complete: text, refusal badge, citations, mode."""
    text = unflatten_tables(done.get("answer") or "")
    if done.get("refused"):
        text = f"<span class='zhida-refused'>⚠ {t('not_found', lang)}</span>\n\n" + text
    text += citations_html(done.get("citations") or [], lang, kb)
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
