"""Zhida as a Model Context Protocol server: the knowledge bases, search and grounded answers as MCP tools.

One `MCPServer` (official `mcp` SDK) serves both transports: `zhida mcp` runs it over stdio for a desktop
assistant or editor, `zhida serve` mounts it at /mcp (streamable HTTP, app.api.routes_mcp). The tools call
exactly what the CLI calls (`KnowledgeBase.search`, `app.asking.ask`), so an assistant sees the passages
and answers `zhida search` and `zhida ask` print, and a failure is the CLI's one-line reason: the tool
result is an MCP tool error (`isError: true`) whose text is that reason, so the model can read it and,
say, pick an existing knowledge base. Every result carries the text a model reads and structured
content (with an output schema) that a program can use.
"""
from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, Callable, Optional

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from app.api.shapes import answer_dict, chunk_dict

log = logging.getLogger(__name__)

MODES = ("dense", "sparse", "hybrid")
MAX_K = 50  # a model asking for more passages than this gets the first 50


class KnowledgeBaseInfo(BaseModel):
    name: str
    documents: int
    chunks: int
    model: str = Field(description="the embedding model the knowledge base was indexed with")


class KnowledgeBases(BaseModel):
    knowledge_bases: list[KnowledgeBaseInfo]


class Passage(BaseModel):
    rank: int
    chunk_id: str
    source: str = Field(description="the document's path as it was ingested")
    name: str = Field(description="the document's file name")
    page: Optional[int] = None
    page_end: Optional[int] = None
    heading: str = ""
    text: str
    score: float
    found_by: list[str] = []
    scores: dict[str, float] = Field(default_factory=dict, description="dense_score, sparse_score, fused_score, "
                                                                       "rerank_score where computed")


class SearchResult(BaseModel):
    kb: str
    query: str
    results: list[Passage]


class Citation(BaseModel):
    n: int
    source: str
    name: str = ""
    page: Optional[int] = None
    heading: str = ""
    text: str = ""
    score: float = 0.0


class AskResult(BaseModel):
    kb: str
    question: str
    answer: str
    mode: str = Field(description="the answer backend: extractive, openai, transformers or llamacpp")
    refused: bool = Field(description="true when the documents do not answer the question; the citations are "
                                      "then the closest passages, not sources")
    citations: list[Citation]
    timings_ms: dict[str, float] = Field(default_factory=dict)


class ZhidaTools:
    """What the MCP tools do, without MCP: plain arguments in, (text, structured dict) out, the CLI's
    errors raised. Shared by both transports; tested through them."""

    def __init__(self, settings: dict[str, Any], *, kb: str | None = None, llm: str | None = None,
                 catalog: Any = None, llm_loader: Callable[[], Any] | None = None):
        self.settings = settings
        self.fixed_kb = kb
        self._llm_name = llm
        self._llm = None
        self._llm_lock = threading.Lock()
        self._catalog = catalog
        self._llm_loader = llm_loader  # the server's own cache: one copy of a local model per process

    @property
    def catalog(self):
        if self._catalog is None:
            from app import services

            self._catalog = services.catalog(self.settings)
        return self._catalog

    def _llm_backend(self):
        if self._llm_loader is not None:
            return self._llm_loader()
        with self._llm_lock:
            if self._llm is None:
                from app.llms import load_llm

                self._llm = load_llm(self.settings, self._llm_name)
            return self._llm

    def _kb(self, kb: str | None):
        name = (kb or self.fixed_kb or "").strip()
        if not name:
            raise ValueError("name a knowledge base with the kb argument (list_knowledge_bases shows them)")
        return self.catalog.open(name)

    # -- the three tools --------------------------------------------------------------------
    def list_knowledge_bases(self) -> tuple[str, dict]:
        names = [self.fixed_kb] if self.fixed_kb else list(self.catalog.names())
        rows, lines = [], []
        for name in names:
            try:
                st = self.catalog.open(name).stats()
            except Exception as exc:  # one broken KB must not hide the others
                lines.append(f"- {name}: cannot be opened ({exc})")
                continue
            rows.append({"name": name, "documents": int(st.get("documents") or 0), "chunks": int(st.get("chunks") or 0),
                         "model": str(st.get("embedding_model") or "")})
            lines.append(f"- {name}: {rows[-1]['documents']} documents, {rows[-1]['chunks']} chunks, "
                         f"model {rows[-1]['model']}")
        text = "\n".join(lines) if lines else "no knowledge bases yet (create one with `zhida ingest PATH --kb NAME`)"
        return text, {"knowledge_bases": rows}

    def search(self, kb: str | None, query: str, k: int | None = None, mode: str | None = None,
               documents: list[str] | None = None) -> tuple[str, dict]:
        if not (query or "").strip():
            raise ValueError("the query is empty")
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be dense, sparse or hybrid, not {mode!r}")
        base = self._kb(kb)
        k = base._top_k(k, base.query_settings)  # the CLI's own check of k (a whole number >= 1)
        k = min(k, MAX_K)
        wanted = [d for d in (documents or []) if d and d.strip()]
        # restricted to some documents: rank more candidates, keep the first k from those documents
        fetch = max(k * 10, base.query_settings.candidates) if wanted else k
        chunks = base.search(query, k=fetch, mode=mode)
        if wanted:
            chunks = [c for c in chunks if _from_documents(c.source, wanted)][:k]
        results = [{"rank": i, **chunk_dict(c)} for i, c in enumerate(chunks, 1)]
        return _passages_text(results), {"kb": base.name, "query": query, "results": results}

    def ask(self, kb: str | None, question: str) -> tuple[str, dict]:
        from app.asking import ask

        if not (question or "").strip():
            raise ValueError("the question is empty")
        base = self._kb(kb)
        answer = ask(base, question, self.settings, self._llm_backend())
        data = answer_dict(answer)
        return _answer_text(data), {"kb": base.name, "question": question, **data}


def _from_documents(source: str, wanted: list[str]) -> bool:
    """A passage's document is one of `wanted`: by full path, file name, or the end of its path."""
    src = str(source).replace("\\", "/")
    name = src.rsplit("/", 1)[-1]
    for w in wanted:
        w = w.replace("\\", "/").strip()
        if w in (src, name) or src.endswith("/" + w.lstrip("/")):
            return True
    return False


def _passages_text(results: list[dict]) -> str:
    if not results:
        return "no matching passages"
    out = []
    for r in results:
        where = r["source"] + (f" p.{r['page']}" if r.get("page") else "")
        scores = ", ".join(f"{k.replace('_score', '')} {v:.3f}" for k, v in (r.get("scores") or {}).items())
        out.append(f"[{r['rank']}] {where}" + (f" — {r['heading']}" if r.get("heading") else "")
                   + f"\n    chunk {r['chunk_id']}; score {r['score']:.4f}" + (f" ({scores})" if scores else "")
                   + f"\n    {r['text'].strip()}")
    return "\n".join(out)


def _answer_text(data: dict) -> str:
    out = [data["answer"].strip()]
    if data["citations"]:
        out.append("\nClosest passages (not an answer):" if data["refused"] else "\nSources:")
        for c in data["citations"]:
            where = c["source"] + (f", p.{c['page']}" if c.get("page") else "") + (
                f" — {c['heading']}" if c.get("heading") else "")
            snippet = (c.get("text") or "").replace("\n", " ")
            out.append(f"[{c['n']}] {where}\n    {snippet[:300]}{'…' if len(snippet) > 300 else ''}")
    return "\n".join(out)


def _call(fn: Callable[[], tuple[str, dict]]) -> CallToolResult:
    """Run a tool body: its text plus structured content, or an error result (`isError`) whose text is the
    CLI's one-line reason. Returned rather than raised: a raised ToolError reaches the client prefixed
    with "Error executing tool NAME:"."""
    from app.errors import UserError, is_user_error

    try:
        text, data = fn()
    except Exception as exc:
        if isinstance(exc, UserError) or is_user_error(exc):
            reason = str(exc)
        else:
            log.warning("MCP tool failed", exc_info=True)
            reason = f"{type(exc).__name__}: {exc}"
        return CallToolResult(content=[TextContent(type="text", text=reason)], is_error=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


_LIST_DOC = "List the knowledge bases: name, number of documents and chunks, embedding model."
_SEARCH_DOC = ("Search a knowledge base for passages relevant to a query (Chinese or English). Returns the ranked "
               "passages with source file, page, heading, chunk id and scores. Use it to find and quote evidence.")
_ASK_DOC = ("Ask a knowledge base a question and get a grounded answer with numbered citations of its documents; "
            "when the documents do not contain the answer it says so (refused) instead of guessing.")

K_ARG = Annotated[Optional[int], Field(description="how many passages to return (default from the server's "
                                                   "config; at least 1, at most 50)")]
MODE_ARG = Annotated[Optional[str], Field(description="dense | sparse | hybrid (default: hybrid)")]
DOCS_ARG = Annotated[Optional[list[str]], Field(description="only passages from these documents (file names or "
                                                            "paths as list_knowledge_bases' KB holds them)")]
KB_ARG = Annotated[str, Field(description="the knowledge base's name (see list_knowledge_bases)")]


def build_server(settings: dict[str, Any], *, kb: str | None = None, llm: str | None = None,
                 tools: ZhidaTools | None = None):
    """The MCP server. With `kb` the tools take no `kb` argument: every call goes to that knowledge base."""
    from mcp.server import MCPServer

    z = tools or ZhidaTools(settings, kb=kb, llm=llm)
    server = MCPServer("zhida", title="Zhida 知答",
                       instructions="Local knowledge bases of the user's own documents. Use search to find "
                                    "passages, ask for a cited answer." + (f" All tools use the knowledge base "
                                                                           f"'{kb}'." if kb else ""),
                       log_level="WARNING")

    def list_knowledge_bases() -> Annotated[CallToolResult, KnowledgeBases]:
        return _call(z.list_knowledge_bases)

    server.add_tool(list_knowledge_bases, description=_LIST_DOC)
    if kb:
        def search(query: str, k: K_ARG = None, mode: MODE_ARG = None,
                   documents: DOCS_ARG = None) -> Annotated[CallToolResult, SearchResult]:
            return _call(lambda: z.search(None, query, k, mode, documents))

        def ask(question: str) -> Annotated[CallToolResult, AskResult]:
            return _call(lambda: z.ask(None, question))
    else:
        def search(kb: KB_ARG, query: str, k: K_ARG = None, mode: MODE_ARG = None,  # type: ignore[misc]
                   documents: DOCS_ARG = None) -> Annotated[CallToolResult, SearchResult]:
            return _call(lambda: z.search(kb, query, k, mode, documents))

        def ask(kb: KB_ARG, question: str) -> Annotated[CallToolResult, AskResult]:  # type: ignore[misc]
            return _call(lambda: z.ask(kb, question))

    server.add_tool(search, description=_SEARCH_DOC)
    server.add_tool(ask, description=_ASK_DOC)
    return server
