"""The UI's model-server panel: a picker of the models that servers on this machine list, base URL,
model and key fields, "test connection" and "save and use" (app.api.model_servers does the work, the
same functions /api/models/* call)."""
from __future__ import annotations

from typing import Any, Callable

import gradio as gr

from app.api import model_servers
from app.discovery import discovery_ports
from app.i18n import t

SEP = " | "


def _choices(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f"{m} · {s['name']} ({s['base_url']})", f"{s['base_url']}{SEP}{m}") for s in found for m in s["models"]]


def build_models_panel(ctx, lang: gr.State, llm_dd: gr.Dropdown, i18n: Callable,
                       err: Callable[[Exception, str], str]) -> Callable[[Any], Any]:
    """Components inside the current layout block; returns `discover_on(event)`, which chains discovery
    after an event (the page load, once the language is known)."""
    now = model_servers.current(ctx)
    with gr.Accordion(i18n("model_server"), open=False, elem_id="model-server"):
        picker = gr.Dropdown(label=i18n("model_picker"), choices=[], value=None, elem_id="model-picker",
                             interactive=True)
        find_btn = gr.Button(i18n("find_servers"), size="sm", elem_id="find-servers")
        url = gr.Textbox(label=i18n("base_url"), value=now["base_url"], elem_id="llm-base-url")
        model = gr.Textbox(label=i18n("model_name"), value=now["model"], elem_id="llm-model")
        key = gr.Textbox(label=i18n("api_key"), type="password", elem_id="llm-key")
        with gr.Row():
            test_btn = gr.Button(i18n("test_connection"), size="sm", elem_id="test-connection")
            save_btn = gr.Button(i18n("save_model"), size="sm", variant="primary", elem_id="save-model")
        status = gr.Markdown(elem_id="model-status")

    def find(lg):
        found = model_servers.servers(ctx)
        if found:
            names = ", ".join(f"{s['name']} ({len(s['models'])})" for s in found)
            note = t("found_servers", lg, n=len(found), names=names)
        else:
            note = t("no_servers", lg, ports=", ".join(str(p) for p in discovery_ports(ctx.settings).values()))
        return gr.Dropdown(choices=_choices(found), value=None), note

    def pick(value):
        if not value or SEP not in value:
            return gr.skip(), gr.skip()
        base, _, name = value.partition(SEP)
        return base, name

    def test(u, m, k, lg):
        try:
            res = model_servers.check(ctx, u, m, k)
        except Exception as exc:
            return err(exc, lg)
        return ("✔ " if res["ok"] else "✖ ") + res["message"]

    def save(u, m, k, lg):
        try:
            now = model_servers.save(ctx, u, m, k or None)
        except Exception as exc:
            return err(exc, lg), gr.skip(), gr.skip()
        from app.config import zhida_home

        note = "✔ " + t("saved_model", lg, path=zhida_home() / "config.yaml", model=now["model"], url=now["base_url"])
        return note, gr.Dropdown(value="openai"), ""

    find_btn.click(find, [lang], [picker, status])
    picker.input(pick, [picker], [url, model])
    test_btn.click(test, [url, model, key, lang], [status])
    save_btn.click(save, [url, model, key, lang], [status, llm_dd, key])
    return lambda event: event.then(find, [lang], [picker, status])
