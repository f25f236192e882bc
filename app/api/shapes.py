"""JSON shapes the API and UI share: a retrieved chunk, an answer with citations (app.citations), a server URL's identity."""
from __future__ import annotations

from typing import Any

from app.citations import location_dict


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
    """A retrieved chunk as JSON: where it is (app.citations.location_dict, the same fields a citation
    has), its text, score and the retriever's evidence."""
    hit = getattr(c, "hit", None)
    out = {"chunk_id": str(getattr(c, "chunk_id", "")), "text": getattr(c, "text", ""), **location_dict(c),
           "score": float(getattr(c, "score", 0.0))}
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
    """The answer's JSON for the API and the UI: the `zhida ask --json` shape (Answer.to_json), plus the
    query retrieval used (after follow-up rewriting) and the token usage."""
    data = ans.to_json() if hasattr(ans, "to_json") else dict(ans)
    return {"answer": data.get("answer", ""), "mode": data.get("mode", ""), "refused": bool(data.get("refused")),
            "citations": [dict(c) for c in data.get("citations") or []],
            "timings_ms": dict(data.get("timings_ms") or {}),
            "query": getattr(ans, "query", None) or data.get("query", ""),
            "usage": dict(getattr(ans, "usage", None) or data.get("usage") or {})}
