"""The source viewer beside the chat: a panel with an iframe, opened by any "open source" link.

Citations (chat), retrieved chunks (retrieval test) and chunk lists (Documents) are HTML with links to
`/api/kbs/{kb}/chunks/{chunk_id}/view` (app.api.routes_sources). One document-level click handler,
installed through the page head, loads such a link into the panel's iframe instead of following it, so
it works for HTML Gradio re-renders at any time; without JavaScript the link opens the viewer page.
"""
from __future__ import annotations

import html

from app.i18n import t

FRAME_ID = "zhida-viewer-frame"
PANEL_ID = "viewer"

HEAD = """<script>
(function () {
  function panel() { return document.getElementById('%(panel)s'); }
  document.addEventListener('click', function (e) {
    var el = e.target && e.target.closest ? e.target : null;
    if (!el) return;
    if (el.closest('.zhida-viewer-close')) {
      e.preventDefault();
      var p0 = panel(); if (p0) p0.classList.remove('zhida-shown');
      return;
    }
    var a = el.closest('a.zhida-open, a[href*="/chunks/"][href*="/view"]');
    var frame = document.getElementById('%(frame)s');
    if (!a || !frame) return;
    e.preventDefault(); e.stopPropagation();
    frame.removeAttribute('srcdoc');  // srcdoc wins over src while it is there
    frame.src = a.getAttribute('href');
    var p = panel(); if (p) p.classList.add('zhida-shown');
  }, true);
})();
</script>""" % {"panel": PANEL_ID, "frame": FRAME_ID}

CSS = """
#viewer:not(.zhida-shown) { display: none !important; }
#viewer iframe { width: 100%; height: 78vh; border: 1px solid #e5e7eb; border-radius: 6px; background: #f3f4f6; }
.zhida-viewer-bar { display: flex; justify-content: space-between; align-items: center; font-weight: 600; }
.zhida-viewer-close { cursor: pointer; border: none; background: none; font-size: 1.2em; }
a.zhida-open { font-size: .9em; margin-left: .4em; }
.zhida-table { border-collapse: collapse; margin: .3em 0; font-size: .95em; }
.zhida-table td, .zhida-table th { border: 1px solid #d1d5db; padding: .15em .45em; }
"""


def panel_html(lang: str) -> str:
    """The panel's contents: a title bar with a close button and the (empty) iframe."""
    empty = f"<p style='font:14px sans-serif;color:#6b7280'>{html.escape(t('viewer_empty', lang))}</p>"
    return (f"<div class='zhida-viewer-bar'><span>{html.escape(t('viewer', lang))}</span>"
            f"<button class='zhida-viewer-close' title='×' aria-label='close'>×</button></div>"
            f"<iframe id='{FRAME_ID}' name='zhida-viewer' title='{html.escape(t('viewer', lang))}' "
            f"srcdoc='{html.escape(empty)}'>"
            f"</iframe>")


def open_link(kb: str, chunk_id: str, lang: str) -> str:
    """An "open source" link for a chunk ('' without a chunk id or KB)."""
    from app.api.routes_sources import view_url

    if not kb or not chunk_id:
        return ""
    return (f"<a class='zhida-open' href='{html.escape(view_url(kb, chunk_id, lang))}' target='zhida-viewer'>"
            f"{html.escape(t('open_source', lang))} ↗</a>")
