"""Which documents a question is limited to: `--doc` values (an id, a file name or a path) -> ids."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from app.errors import UserError


def resolve_documents(kb, refs: Iterable[str] | None) -> list[int]:
    """Document ids for `refs`; each is a document id, its file name or its path. One that matches no
    document, or two (the same name in two folders), is an error naming the choices."""
    refs = [str(r).strip() for r in refs or [] if str(r).strip()]
    if not refs:
        return []
    docs = kb.documents()
    out: list[int] = []
    for ref in refs:
        hits = [d for d in docs if str(d["id"]) == ref] or \
               [d for d in docs if d["path"] == ref or d["path"] == str(Path(ref).expanduser().resolve())] or \
               [d for d in docs if d.get("name") == ref or Path(d["path"]).name == ref]
        if not hits:
            raise UserError(f"no document {ref!r} in knowledge base '{kb.name}' (give an id, file name or path; "
                            f"`zhida kb show {kb.name}` lists them)")
        if len(hits) > 1:
            raise UserError(f"{ref!r} names {len(hits)} documents in '{kb.name}'; give the id or the path: "
                            + ", ".join(f"{d['id']} {d['path']}" for d in hits[:5]))
        out.append(int(hits[0]["id"]))
    return sorted(set(out))
