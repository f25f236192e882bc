"""The Gradio web UI: knowledge bases, documents (upload with progress) and chat with citations.

Every callback goes through the same `AppContext` as the REST API. Ingestion
runs as a background job and the page polls it with a `gr.Timer`, so uploads
never freeze the chat; answers stream into the chatbot token by token.
"""
from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from app.api.context import AppContext
from app.api.errors import ApiError
from app.i18n import PREFIX, detect_lang, gradio_i18n, t
from app.ui import conversations as conversations_ui
from app.ui import explore, render, viewer
from app.ui.models_panel import build_models_panel

log = logging.getLogger(__name__)

MODES = ["hybrid", "dense", "sparse"]


def _err(exc: Exception, lang: str) -> str:
    msg = exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}"
    return "✖ " + t("error", lang, error=msg)


def build_ui(ctx: AppContext) -> tuple[gr.Blocks, Any]:
    """The Blocks and the gr.I18n tables to pass to `gr.mount_gradio_app`."""
    tables = gradio_i18n()

    def i18n(key: str):
        return tables(PREFIX + key)

    d = ctx.defaults()
    with gr.Blocks(title="知答 Zhida", fill_width=True) as demo:
        lang = gr.State("en")
        job_id = gr.State("")
        history = gr.State([])  # plain {"role","content"} turns for the answerer (no HTML)

        gr.Markdown("## 知答 Zhida", elem_id="title")
        gr.Markdown(i18n("subtitle"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                with gr.Row():
                    kb_dd = gr.Dropdown(label=i18n("kb"), choices=[], value=None, interactive=True, scale=4,
                                        elem_id="kb-select")
                    refresh_btn = gr.Button(i18n("refresh"), size="sm", scale=1, min_width=60)
                kb_info = gr.Markdown(elem_id="kb-info")
                convs = conversations_ui.build_panel(i18n)
                with gr.Accordion(i18n("new_kb"), open=False, elem_id="new-kb") as new_kb_box:
                    new_name = gr.Textbox(label=i18n("kb_name"), elem_id="new-kb-name")
                    new_emb = gr.Textbox(label=i18n("embedding_model"), value=d["embedding_model"] or "")
                    with gr.Row():
                        new_cs = gr.Number(label=i18n("chunk_size"), value=d["chunk_size"], precision=0, minimum=50)
                        new_co = gr.Number(label=i18n("chunk_overlap"), value=d["chunk_overlap"], precision=0, minimum=0)
                    create_btn = gr.Button(i18n("create"), variant="primary", elem_id="create-kb")
                with gr.Accordion(i18n("settings"), open=True):
                    topk = gr.Slider(1, 20, value=d["k"], step=1, label=i18n("top_k"))
                    mode = gr.Radio(MODES, value=d["mode"] if d["mode"] in MODES else "hybrid", label=i18n("mode"))
                    rerank = gr.Checkbox(value=d["rerank"], label=i18n("rerank"))
                    llm = gr.Dropdown(ctx.llm_choices(), value=d["llm"], label=i18n("llm"), allow_custom_value=True)
                discover_on = build_models_panel(ctx, lang, llm, i18n, _err)
                delete_btn = gr.Button(i18n("delete_kb"), variant="stop", size="sm", elem_id="delete-kb")
                with gr.Group(visible=False) as confirm_box:
                    confirm_md = gr.Markdown()
                    with gr.Row():
                        confirm_btn = gr.Button(i18n("confirm_delete"), variant="stop", size="sm", elem_id="confirm-delete")
                        cancel_btn = gr.Button(i18n("cancel"), size="sm")
                notice = gr.Markdown(elem_id="notice")
            with gr.Column(scale=3):
                with gr.Tabs() as tabs:
                    with gr.Tab(i18n("tab_chat"), id="chat"):
                        chatbot = gr.Chatbot(height=520, elem_id="chatbot", show_label=False, buttons=["copy"],
                                             feedback_options=None, sanitize_html=True, render_markdown=True)
                        mode_md = gr.Markdown(elem_id="answer-mode")
                        with gr.Row():
                            question = gr.Textbox(label=i18n("question"), placeholder=i18n("question_ph"),
                                                  scale=6, lines=1, elem_id="question", show_label=False)
                            send_btn = gr.Button(i18n("send"), variant="primary", scale=1, min_width=80,
                                                 elem_id="send")
                        scope = gr.Dropdown(label=i18n("scope"), info=i18n("scope_info"), multiselect=True,
                                            choices=[], value=[], elem_id="scope")
                        clear_btn = gr.Button(i18n("clear"), size="sm", elem_id="clear")
                    with gr.Tab(i18n("tab_docs"), id="docs", elem_id="docs-tab"):
                        files = gr.File(label=i18n("upload"), file_count="multiple", elem_id="upload-files",
                                        file_types=ctx.supported_suffixes(), type="filepath")
                        pdf_password = gr.Textbox(label=i18n("pdf_password"), info=i18n("pdf_password_info"),
                                                  type="password", elem_id="upload-password", max_length=1024)
                        upload_btn = gr.Button(i18n("upload_btn"), variant="primary", elem_id="upload-btn")
                        job_md = gr.Markdown(elem_id="job-status")
                        results_df = gr.Dataframe(label=i18n("results"), interactive=False, wrap=True,
                                                  elem_id="job-results", value=render.results_frame(None, "en"))
                        with gr.Row():
                            folder = gr.Textbox(label=i18n("folder"), placeholder="/path/to/documents", scale=4)
                            reindex_btn = gr.Button(i18n("reindex"), scale=1)
                        docs_df = gr.Dataframe(label=i18n("documents"), interactive=False, wrap=True,
                                               elem_id="documents", value=render.documents_frame([], "en"))
                        with gr.Row():
                            doc_dd = gr.Dropdown(label=i18n("doc_pick"), choices=[], scale=4)
                            del_doc_btn = gr.Button(i18n("delete_doc"), variant="stop", scale=1)
                        _folders_panel(ctx, i18n, lang, kb_dd, lambda name, lg: kb_view(name, lg),
                                       [kb_info, docs_df, doc_dd])
                        explore.build_chunk_browser(ctx, kb_dd, lang, docs_df, i18n)
                    explore.build_retrieval_tab(ctx, kb_dd, lang, i18n, MODES, d, scope=scope)
            with gr.Column(scale=3, min_width=420, elem_id=viewer.PANEL_ID):  # shown by a citation's link
                viewer_html = gr.HTML(viewer.panel_html("en"), elem_id="viewer-panel")
        timer = gr.Timer(0.7, active=False)

        # ---- helpers ---------------------------------------------------------------
        def kb_view(name: str | None, lg: str):
            """(kb_info, docs_df, doc_dd) for the chosen KB."""
            if not name:
                return render.kb_summary(None, lg), render.documents_frame([], lg), gr.Dropdown(choices=[], value=None)
            try:
                info = ctx.kb_info(name)
                docs = ctx.documents(name)
            except Exception as exc:
                return _err(exc, lg), render.documents_frame([], lg), gr.Dropdown(choices=[], value=None)
            return (render.kb_summary(info, lg), render.documents_frame(docs, lg),
                    gr.Dropdown(choices=render.document_choices(docs), value=None))

        def kb_names() -> list[str]:
            return [k["name"] for k in ctx.list_kbs()]

        # ---- load: language, KB list -------------------------------------------------
        def on_load(request: gr.Request):
            lg = detect_lang(request.headers.get("accept-language") if request else None)
            names = kb_names()
            wanted = (dict(request.query_params).get("kb") if request else None) or None
            current = wanted if wanted in names else (names[0] if names else None)
            info, docs, dd = kb_view(current, lg)
            return (lg, gr.Dropdown(choices=names, value=current), info, docs, dd,
                    render.results_frame(None, lg), viewer.panel_html(lg))

        loaded = demo.load(on_load, None, [lang, kb_dd, kb_info, docs_df, doc_dd, results_df, viewer_html])
        discover_on(loaded)

        def on_refresh(name, lg):
            names = kb_names()
            current = name if name in names else (names[0] if names else None)
            return (gr.Dropdown(choices=names, value=current), *kb_view(current, lg))

        refresh_btn.click(on_refresh, [kb_dd, lang], [kb_dd, kb_info, docs_df, doc_dd])

        def on_switch(name, lg):
            return (*kb_view(name, lg), [], [], "", gr.Group(visible=False))

        kb_dd.input(on_switch, [kb_dd, lang], [kb_info, docs_df, doc_dd, chatbot, history, mode_md, confirm_box])

        # ---- create / delete KB --------------------------------------------------------
        def on_create(name, emb, cs, co, lg):
            name = (name or "").strip()
            try:
                ctx.create_kb(name, embedding_model=(emb or "").strip() or None,
                              chunk_size=int(cs) if cs else None, chunk_overlap=int(co) if co is not None else None)
            except Exception as exc:
                return gr.Dropdown(), gr.Textbox(), _err(exc, lg), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            names = kb_names()
            return (gr.Dropdown(choices=names, value=name), gr.Textbox(value=""), "✔ " + t("created", lg, name=name),
                    *kb_view(name, lg), gr.Accordion(open=False), [], [])

        create_btn.click(on_create, [new_name, new_emb, new_cs, new_co, lang],
                         [kb_dd, new_name, notice, kb_info, docs_df, doc_dd, new_kb_box, chatbot, history])

        def ask_delete(name, lg):
            if not name:
                return gr.Group(visible=False), "", t("pick_kb", lg)
            return gr.Group(visible=True), t("confirm_delete_q", lg, name=name), ""

        delete_btn.click(ask_delete, [kb_dd, lang], [confirm_box, confirm_md, notice])
        cancel_btn.click(lambda: gr.Group(visible=False), None, confirm_box)

        def do_delete(name, lg):
            try:
                ctx.delete_kb(name)
            except Exception as exc:
                return gr.Group(visible=False), _err(exc, lg), gr.Dropdown(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            names = kb_names()
            current = names[0] if names else None
            return (gr.Group(visible=False), "✔ " + t("deleted", lg, name=name),
                    gr.Dropdown(choices=names, value=current), *kb_view(current, lg), [], [])

        confirm_btn.click(do_delete, [kb_dd, lang],
                          [confirm_box, notice, kb_dd, kb_info, docs_df, doc_dd, chatbot, history])

        # ---- documents: upload, folder ingest, poll, delete ------------------------------
        def start_upload(name, paths, lg, password=""):
            if not name:
                return "", t("pick_kb", lg), gr.skip(), gr.Timer(active=False), gr.skip()
            if not paths:
                return "", t("no_files", lg), gr.skip(), gr.Timer(active=False), gr.skip()
            try:
                job = ctx.start_upload_job_from_paths(name, paths if isinstance(paths, list) else [paths],
                                                      password=(password or "").strip() or None)
            except Exception as exc:
                return "", _err(exc, lg), gr.skip(), gr.Timer(active=False), gr.skip()
            snap = job.to_dict()
            return job.id, render.job_status(snap, lg), render.results_frame(snap, lg), gr.Timer(active=True), None

        upload_btn.click(start_upload, [kb_dd, files, lang, pdf_password], [job_id, job_md, results_df, timer, files])

        def start_folder(name, path, lg):
            if not name:
                return "", t("pick_kb", lg), gr.skip(), gr.Timer(active=False)
            try:
                job = ctx.start_folder_job(name, (path or "").strip())
            except Exception as exc:
                return "", _err(exc, lg), gr.skip(), gr.Timer(active=False)
            snap = job.to_dict()
            return job.id, render.job_status(snap, lg), render.results_frame(snap, lg), gr.Timer(active=True)

        reindex_btn.click(start_folder, [kb_dd, folder, lang], [job_id, job_md, results_df, timer])

        def poll(jid, name, lg):
            snap = ctx.jobs.snapshot(jid) if jid else None
            if snap is None:
                return gr.skip(), gr.skip(), gr.Timer(active=False), gr.skip(), gr.skip(), gr.skip()
            finished = snap["status"] in ("done", "failed")
            if not finished:
                return (render.job_status(snap, lg), render.results_frame(snap, lg), gr.Timer(active=True),
                        gr.skip(), gr.skip(), gr.skip())
            info, docs, dd = kb_view(name if name == snap["kb"] else name, lg)
            return (render.job_status(snap, lg), render.results_frame(snap, lg), gr.Timer(active=False),
                    info, docs, dd)

        timer.tick(poll, [job_id, kb_dd, lang], [job_md, results_df, timer, kb_info, docs_df, doc_dd],
                   show_progress="hidden")

        def delete_doc(name, doc, lg):
            if not name or not doc:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            try:
                res = ctx.delete_document(name, doc)
            except Exception as exc:
                return _err(exc, lg), gr.skip(), gr.skip(), gr.skip()
            return ("✔ " + t("doc_deleted", lg, name=res.get("name", doc)), *kb_view(name, lg))

        del_doc_btn.click(delete_doc, [kb_dd, doc_dd, lang], [notice, kb_info, docs_df, doc_dd])

        # ---- chat ------------------------------------------------------------------------
        def respond(q, chat, hist, name, k, md, rr, model, lg, docs=None):
            """One queued event per question (no extra round trip): echo it, then stream the answer."""
            q = (q or "").strip()
            chat = list(chat or [])
            if not q:
                yield gr.skip(), chat, hist, gr.skip()
                return
            chat.append({"role": "user", "content": q})
            if not name:
                chat.append({"role": "assistant", "content": t("pick_kb", lg)})
                yield "", chat, hist, gr.skip()
                return
            chat.append({"role": "assistant", "content": "… " + t("thinking", lg)})
            yield "", chat, hist, gr.skip()
            text = ""
            try:
                events = ctx.chat_events(name, q, history=hist, k=int(k), mode=md, rerank=bool(rr), llm=model or None,
                                         documents=list(docs or []) or None)
                for ev in events:
                    if ev["type"] == "token":
                        text += ev["text"]
                        chat[-1] = {"role": "assistant", "content": text}
                        yield gr.skip(), chat, hist, gr.skip()
                    elif ev["type"] == "done":
                        chat[-1] = {"role": "assistant", "content": render.final_message(ev, lg, name)}
                        hist = list(hist) + [{"role": "user", "content": q},
                                             {"role": "assistant", "content": ev.get("answer", "")}]
                        yield gr.skip(), chat, hist, render.mode_line(ev, lg, q)
            except Exception as exc:
                log.debug("chat failed", exc_info=True)
                chat[-1] = {"role": "assistant", "content": _err(exc, lg)}
                yield gr.skip(), chat, hist, gr.skip()

        answered = [trigger(respond, [question, chatbot, history, kb_dd, topk, mode, rerank, llm, lang, scope],
                            [question, chatbot, history, mode_md], show_progress="minimal", concurrency_limit=8)
                    for trigger in (send_btn.click, question.submit)]
        clear_btn.click(lambda: ([], [], ""), None, [chatbot, history, mode_md], queue=False)
        explore.bind_document_choices(ctx, scope, kb_dd, docs_df, multiselect=True)
        conversations_ui.wire(ctx, convs, answer_events=answered, kb_dd=kb_dd, chatbot=chatbot, history=history,
                              lang=lang, mode_md=mode_md, load_event=loaded, clear_event=clear_btn.click,
                              kb_outputs=[kb_info, docs_df, doc_dd], kb_view=kb_view)
    return demo, tables


def _folders_panel(ctx, i18n, lang, kb_dd, kb_view, kb_outputs) -> None:
    """Watched folders (app.ui.folders), where watchdog is installed; kb_view is called only once the
    page is built."""
    try:
        import watchdog  # noqa: F401
    except ModuleNotFoundError:
        return
    from app.ui import folders

    folders.build(ctx, i18n, lang, kb_dd, _err, kb_view, kb_outputs)
