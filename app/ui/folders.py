"""The web UI's watched folders (app.folder_sync): add the folder typed above, see each one's last
sync and failed files, stop syncing one. The table refreshes on a timer, since syncs run in the
background whenever a folder changes."""
from __future__ import annotations

import time
from typing import Any, Callable

import gradio as gr
import pandas as pd

from app.i18n import status_label, t

REFRESH_S = 3.0


def frame(rows: list[dict[str, Any]], lang: str) -> pd.DataFrame:
    cols = [t("col_folder", lang), t("col_watch", lang), t("col_last_sync", lang), t("col_failures", lang)]
    out = []
    for r in rows:
        state = t("watch_missing", lang) if not r.get("exists") else t("watch_on" if r.get("watching") else
                                                                        "watch_off", lang)
        if r.get("error"):
            state += f" — {r['error']}"
        last = r.get("last_sync")
        if last:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last["finished"])) if last.get("finished") else ""
            s = last.get("summary") or {}
            counts = ", ".join(f"{status_label(k, lang)} {v}" for k, v in s.items() if v)
            shown = f"{when} {status_label(last.get('status', ''), lang)}" + (f" ({counts})" if counts else "")
            if last.get("error"):
                shown += f": {last['error']}"
        else:
            shown = t("never", lang)
        fails = "; ".join(f"{str(f.get('path', '')).rsplit('/', 1)[-1]}: {f.get('reason', '')}"
                          for f in r.get("failures") or [])
        out.append([r["path"], state, shown, fails])
    return pd.DataFrame(out, columns=cols)


def build(ctx, i18n: Callable[[str], Any], lang, kb_dd, on_error: Callable[[Exception, str], str],
          kb_view: Callable[[Any, str], tuple], kb_outputs: list) -> None:
    """Components and events of the panel, at the end of the documents tab. When a background sync has
    finished since the last refresh, `kb_view(name, lang)` refreshes `kb_outputs` (the KB summary and
    document list) too."""
    from app import folder_sync

    sync = folder_sync.for_context(ctx)
    seen = gr.State("")  # the newest finished sync shown, so the document list refreshes only after one
    with gr.Row():
        folder_box = gr.Textbox(label=i18n("watch_path"), placeholder="/path/to/documents", scale=4,
                                elem_id="watch-path")
        watch_btn = gr.Button(i18n("watch_folder"), elem_id="watch-folder", scale=1)
    table = gr.Dataframe(label=i18n("watched"), interactive=False, wrap=True, elem_id="watched-folders",
                         value=frame([], "en"), column_widths=["34%", "14%", "30%", "22%"])
    with gr.Row():
        pick = gr.Dropdown(label=i18n("unwatch_pick"), choices=[], scale=4, elem_id="unwatch-pick")
        unwatch_btn = gr.Button(i18n("unwatch"), variant="stop", scale=1, elem_id="unwatch-btn")
    message = gr.Markdown(elem_id="watch-status")
    timer = gr.Timer(REFRESH_S)

    def view(name, lg):
        if not name:
            return frame([], lg), gr.Dropdown(choices=[], value=None)
        try:
            rows = sync.status(name)
        except Exception:
            return frame([], lg), gr.Dropdown(choices=[], value=None)
        return frame(rows, lg), gr.Dropdown(choices=[r["path"] for r in rows])

    def refresh(name, lg, last_seen):
        if not name:
            return gr.skip(), last_seen, *[gr.skip()] * len(kb_outputs)
        try:
            rows = sync.status(name)
        except Exception:
            return gr.skip(), last_seen, *[gr.skip()] * len(kb_outputs)
        stamp = max((f"{(r['last_sync'] or {}).get('finished') or ''}" for r in rows), default="")
        if stamp == last_seen:
            return frame(rows, lg), last_seen, *[gr.skip()] * len(kb_outputs)
        return frame(rows, lg), stamp, *kb_view(name, lg)

    def add(name, path, lg):
        path = (path or "").strip()
        if not name:
            return gr.skip(), gr.skip(), t("pick_kb", lg)
        try:
            sync.set_folders(name, sync.folders(name) + [path])
        except Exception as exc:
            return gr.skip(), gr.skip(), on_error(exc, lg)
        return (*view(name, lg), "✔ " + t("watch_added", lg, path=path))

    def remove(name, path, lg):
        if not name or not path:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            sync.set_folders(name, [f for f in sync.folders(name) if f != path])
        except Exception as exc:
            return gr.skip(), gr.skip(), on_error(exc, lg)
        return (*view(name, lg), "✔ " + t("watch_removed", lg, path=path))

    kb_dd.change(view, [kb_dd, lang], [table, pick], show_progress="hidden")
    watch_btn.click(add, [kb_dd, folder_box, lang], [table, pick, message])
    unwatch_btn.click(remove, [kb_dd, pick, lang], [table, pick, message])
    timer.tick(refresh, [kb_dd, lang, seen], [table, seen, *kb_outputs], show_progress="hidden")
