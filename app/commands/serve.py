"""`zhida serve`: the web UI at /, the REST API at /api, OpenAPI docs at /docs."""
from __future__ import annotations

from typing import Optional

import typer


def register(cli: typer.Typer) -> None:
    @cli.command("serve")
    def serve(
        host: Optional[str] = typer.Option(None, "--host", help="Address to bind (default server.host, 127.0.0.1). "
                                           "Anything but loopback needs an access token."),
        port: Optional[int] = typer.Option(None, "--port", help="Port (default server.port, 7860)."),
        token: Optional[str] = typer.Option(None, "--token", help="Access token (else ZHIDA_TOKEN or server.token). "
                                            "Browsers open /?token=...; API clients send Authorization: Bearer."),
    ) -> None:
        """Start the web UI and REST API (one process; Ctrl-C stops it).

        Opens http://HOST:PORT/ for the UI, /docs for the API reference, /v1/chat/completions for
        OpenAI-compatible clients (model name zhida:<kb>).
        """
        import uvicorn

        from app.config import load_settings
        from app.server import check_bind, create_app, resolve_token

        settings = load_settings()
        srv = settings.get("server") or {}
        host = host or srv.get("host") or "127.0.0.1"
        port = int(port or srv.get("port") or 7860)
        token = resolve_token(settings, token)
        check_bind(host, token)
        app = create_app(settings, token=token, bind_host=host)
        _warm_up(settings)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"Zhida serving on http://{shown}:{port}/  (API docs: /docs)" +
                   ("  — access token required" if token else ""), err=True)
        _announce_model_servers(settings)
        from app.api.serving import uvicorn_config

        config = uvicorn_config(app, settings, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
        uvicorn.Server(config).run()


def _announce_model_servers(settings) -> None:
    """Say which OpenAI-compatible servers run on this machine (GET /v1/models on the usual ports, under a
    second): the UI's model picker lists their models."""
    from app.discovery import discover

    found = discover(settings)
    for s in found:
        models = ", ".join(s["models"][:5]) + (" …" if len(s["models"]) > 5 else "")
        typer.echo(f"model server found: {s['name']} at {s['base_url']} ({models or 'no models listed'}); "
                   "choose it in the UI's Model server panel", err=True)


def _warm_up(settings) -> None:
    """Load each KB's embedding model, indexes and the tokeniser in the background, so the first
    question does not pay for them (seconds for the models and jieba; ~0.5 s for the IDF table the
    refusal check weighs words with)."""
    import logging
    import threading

    def run():
        try:
            from app import evidence, services

            evidence.warm_up()
            cat = services.catalog(settings)
            for name in cat.names():
                kb = cat.open(name)
                kb.search("warm up", k=1)
        except Exception as exc:  # warm-up is an optimisation only
            logging.getLogger(__name__).debug("warm-up skipped: %s", exc)

    threading.Thread(target=run, name="zhida-warm-up", daemon=True).start()
