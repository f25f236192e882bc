"""JSON shapes the API and UI share: a retrieved chunk, an answer with citations, a server URL's identity."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def url_key(url: str) -> tuple[str, str, int | None, str]:
    """What makes two base URLs the same server: scheme, host, port (default made explicit), path."""
    from urllib.parse import urlsplit

    try:
        p = urlsplit(url.strip())
        port = p.port or {"http": 80, "https": 443}.get(p.scheme.lower())
        return p.scheme.lower(), (p.hostname or "").lower(), port, p.path.rstrip("/")
    except ValueError:
        return ("", url, None, "")


def chunk_dict(c: Any) -> dict[str, Any]:
    """A retrieved chunk or a citation as JSON. Both have `heading` (RetrievedChunk joins its heading path;
    a Citation stores the joined string): reading `heading_path` lost every citation's heading."""
    hit = getattr(c, "hit", None)
    source = str(getattr(c, "source", ""))
    out = {
        "chunk_id": str(getattr(c, "chunk_id", "")),
        "text": getattr(c, "text", ""),
        "source": source,
        "name": Path(source.replace("\\", "/")).name or source,
        "page": getattr(c, "page", None),
        "page_end": getattr(c, "page_end", None),
        "heading": str(getattr(c, "heading", "") or ""),
        "score": float(getattr(c, "score", 0.0)),
    }
    if hit is not None:
        out["found_by"] = list(getattr(hit, "found_by", ()) or ())
        out["scores"] = {k: getattr(hit, k) for k in ("dense_score", "sparse_score", "fused_score", "rerank_score")
                         if getattr(hit, k, None) is not None}
        out["ranks"] = {k: getattr(hit, f"{k}_rank") for k in ("dense", "sparse")
                        if getattr(hit, f"{k}_rank", None) is not None}
    return out


def stored_chunk_dict(c: dict[str, Any], doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """A chunk as stored (chunk browser, knowledge.db.document_chunks' rows) in the same keys a retrieved
    chunk has, plus where it sits: position, kind, length."""
    doc = doc or {}
    source = str(doc.get("path") or doc.get("source") or "")
    heading_path = list(c.get("heading_path") or [])
    return {"chunk_id": str(c.get("chunk_id", "")), "text": c.get("text", ""), "source": source,
            "name": doc.get("name") or Path(source.replace("\\", "/")).name or source,
            "doc_id": str(c.get("doc_id", doc.get("id", ""))), "page": c.get("page"), "page_end": c.get("page_end"),
            "heading": " > ".join(heading_path), "heading_path": heading_path, "position": c.get("position"),
            "kind": c.get("kind") or "text", "length": len(c.get("text") or ""), "unit": c.get("unit") or ""}


def answer_dict(ans: Any) -> dict[str, Any]:
    """The `zhida ask --json` shape from an Answer value (or a dict already in that shape)."""
    if isinstance(ans, dict):
        data = dict(ans)
    elif hasattr(ans, "to_dict"):
        data = ans.to_dict()
    else:
        data = {"answer": getattr(ans, "text", ""), "mode": getattr(ans, "mode", ""),
                "refused": bool(getattr(ans, "refused", False)),
                "citations": list(getattr(ans, "citations", []) or []),
                "timings_ms": dict(getattr(ans, "timings_ms", {}) or {})}
    if "answer" not in data and "text" in data:
        data["answer"] = data.pop("text")
    cites = []
    for i, c in enumerate(data.get("citations") or [], 1):
        if not isinstance(c, dict):
            cd = chunk_dict(getattr(c, "chunk", c))
            cd["n"] = getattr(c, "n", None) or getattr(c, "number", None) or i
            c = cd
        c = dict(c)
        c.setdefault("n", i)
        src = str(c.get("source", ""))
        c.setdefault("name", Path(src.replace("\\", "/")).name or src)
        cites.append(c)
    return {"answer": data.get("answer", ""), "mode": data.get("mode", ""), "refused": bool(data.get("refused")),
            "citations": cites, "timings_ms": dict(data.get("timings_ms") or {})}
