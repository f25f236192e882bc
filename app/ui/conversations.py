"""Saved conversations in the web UI: a list in the sidebar, new / rename / delete, and every answered
question saved as it is shown. On load the newest conversation of the chosen KB reopens, so a reload or
a server restart brings back what was on screen; choosing a conversation of another KB switches to it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from app.conversations import conversation_store
from app.i18n import t

log = logging.getLogger(__name__)


@dataclass
class Panel:
    dropdown: Any
    new_btn: Any
    title: Any
    rename_btn: Any
    delete_btn: Any
    current: Any  # gr.State: the open conversation's id ("" = a new one, made on the first answer)
    saved: Any  # gr.State: how many plain turns of `history` are saved


def build_panel(i18n: Callable) -> Panel:
    """The sidebar's conversation controls (placed where this is called)."""
    with gr.Accordion(i18n("conversations"), open=True, elem_id="conversations"):
        dd = gr.Dropdown(label=i18n("conversation"), choices=[], value=None, elem_id="conv-select")
        with gr.Row():
            new_btn = gr.Button(i18n("conv_new"), size="sm", elem_id="conv-new")
            delete_btn = gr.Button(i18n("conv_delete"), size="sm", variant="stop", elem_id="conv-delete")
        with gr.Row():
            title = gr.Textbox(label=i18n("conv_title"), scale=3, elem_id="conv-title")
            rename_btn = gr.Button(i18n("conv_rename"), size="sm", scale=1, min_width=60, elem_id="conv-rename")
    return Panel(dd, new_btn, title, rename_btn, delete_btn, gr.State(""), gr.State(0))


def _text(content: Any) -> str:
    """A chatbot message's content as one string (Gradio hands messages back as lists of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return "".join(_text(part) for part in content)
    return ""


def _label(c: dict[str, Any], lang: str) -> str:
    when = time.strftime("%m-%d %H:%M", time.localtime(c["updated"]))
    return f"{c['title'] or t('conv_untitled', lang)} · {c['kb']} · {when}"


def _choices(lang: str, current: str = ""):
    convs = conversation_store().list()
    ids = {c["id"] for c in convs}
    return gr.Dropdown(choices=[(_label(c, lang), c["id"]) for c in convs], value=current if current in ids else None)


def _restore(cid: str) -> tuple[list[dict], list[dict], str, str]:
    """(chatbot messages, plain history, kb, title) of a saved conversation."""
    conv = conversation_store().get(cid)
    chat = [{"role": m["role"], "content": m["display"] or m["content"]} for m in conv["messages"]]
    hist = [{"role": m["role"], "content": m["content"]} for m in conv["messages"]]
    return chat, hist, conv["kb"], conv["title"]


def wire(ctx, p: Panel, *, answer_events: list, kb_dd, chatbot, history, lang, mode_md, load_event, clear_event,
         kb_outputs: list, kb_view: Callable) -> None:
    """Connect the panel: save after each answer, reset on a new chat or KB, reopen on load and choice."""

    def after_answer(cid, saved, name, hist, chat, lg):
        """Save the turns added since the last save (the answer as the chat shows it)."""
        hist, chat = list(hist or []), list(chat or [])
        if not name or len(hist) <= saved:
            return cid, saved, gr.skip()
        store = conversation_store()
        try:
            if not cid:
                cid = store.create(name)["id"]
            new = hist[saved:]
            display = _text(chat[-1].get("content")) if chat and chat[-1].get("role") == "assistant" else ""
            rows = [{"role": m["role"], "content": _text(m.get("content"))} for m in new]
            if rows and rows[-1]["role"] == "assistant":
                rows[-1]["display"] = display
            store.add_messages(cid, rows)
        except Exception:  # saving must never lose the answer on screen
            log.warning("could not save the conversation", exc_info=True)
            return cid, saved, gr.skip()
        return cid, len(hist), _choices(lg, cid)

    outs = [p.current, p.saved, p.dropdown]
    for ev in answer_events:
        ev.then(after_answer, [p.current, p.saved, kb_dd, history, chatbot, lang], outs, show_progress="hidden")

    def fresh(lg):
        return "", 0, _choices(lg), ""

    clear_event(fresh, [lang], [p.current, p.saved, p.dropdown, p.title])
    p.new_btn.click(lambda lg: ([], [], "", *fresh(lg)), [lang],
                    [chatbot, history, mode_md, p.current, p.saved, p.dropdown, p.title])
    kb_dd.input(fresh, [lang], [p.current, p.saved, p.dropdown, p.title])

    reopen_outs = [chatbot, history, mode_md, p.title, p.current, p.saved, p.dropdown] + kb_outputs

    def choose_full(cid, name, lg):
        """Reopen a chosen conversation; one of another KB switches the KB selector to it."""
        if not cid:
            return (gr.skip(),) * (len(reopen_outs) + 1)
        try:
            chat, hist, kb, title = _restore(cid)
        except Exception:
            return (gr.skip(),) * 4 + ("", 0, _choices(lg)) + (gr.skip(),) * (len(kb_outputs) + 1)
        head = (chat, hist, "", title, cid, len(hist), _choices(lg, cid))
        names = [k["name"] for k in ctx.list_kbs()]
        if kb in names and kb != name:
            return head + tuple(kb_view(kb, lg)) + (gr.Dropdown(value=kb),)
        return head + (gr.skip(),) * len(kb_outputs) + (gr.skip(),)

    p.dropdown.input(choose_full, [p.dropdown, kb_dd, lang], reopen_outs + [kb_dd])

    def latest(name, lg):
        """On load: the newest conversation of the chosen KB comes back."""
        convs = conversation_store().list(name) if name else []
        if not convs:
            return (gr.skip(),) * 6 + (_choices(lg),)
        chat, hist, _, title = _restore(convs[0]["id"])
        return chat, hist, "", title, convs[0]["id"], len(hist), _choices(lg, convs[0]["id"])

    load_event.then(latest, [kb_dd, lang], [chatbot, history, mode_md, p.title, p.current, p.saved, p.dropdown])

    def rename(cid, title, lg):
        if not cid or not (title or "").strip():
            return gr.skip()
        try:
            conversation_store().rename(cid, title)
        except Exception:
            return gr.skip()
        return _choices(lg, cid)

    p.rename_btn.click(rename, [p.current, p.title, lang], [p.dropdown])
    p.title.submit(rename, [p.current, p.title, lang], [p.dropdown])

    def delete(cid, lg):
        if cid:
            try:
                conversation_store().delete(cid)
            except Exception:
                pass
        return [], [], "", *fresh(lg)

    p.delete_btn.click(delete, [p.current, lang], [chatbot, history, mode_md, p.current, p.saved, p.dropdown,
                                                    p.title])
