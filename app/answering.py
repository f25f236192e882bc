"""Grounded answers from retrieved chunks: prompt, stream, cite, or refuse.

Takes retrieved chunks (never a knowledge base) and an LLM backend. Every [n]
in the final text points at a passage the model was given; invented numbers
are removed, and a model's numbers are checked sentence by sentence against
the passages (app/citation_check.py): the streamed text shows the model's
numbers, the final answer the verified ones. Below the relevance threshold
(app/evidence.py, decided before any model runs) the answer says the knowledge
base does not contain it, in the question's language, and shows the closest
passages instead of guessing.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

from app.citation_check import check_citations
from app.citations import Citation, citation_dict, citation_of
from app.config import prompt_template
from app.evidence import judge
from app.extractive import extractive_answer
from app.llms.base import Extractive, LLMError
from knowledge.types import RetrievedChunk

log = logging.getLogger(__name__)

REFUSAL = {"zh": "知识库中没有找到相关内容。", "en": "The knowledge base does not contain an answer to this question."}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CITE = re.compile(r"\[(\d{1,3})\]")


def language_of(text: str) -> str:
    """'zh' when Chinese characters make up a fair share of the letters, else 'en'."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    return "zh" if sum(1 for ch in letters if _CJK.match(ch)) / len(letters) >= 0.2 else "en"


@dataclass(frozen=True)
class Answer:
    text: str
    mode: str
    refused: bool
    citations: list[Citation]
    timings_ms: dict[str, float]
    passages: list[RetrievedChunk] = field(default_factory=list)
    query: str = ""  # the standalone query used for retrieval (after history rewriting)
    # tokens read and written: the model server's count when it gives one, else an estimate, and
    # `counted_by` says which ("model" or "estimate: ...")
    usage: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The `zhida ask --json` shape (other tools read it: keep its keys; citations through the one
        converter, app.citations.citation_dict)."""
        return {"answer": self.text, "mode": self.mode, "refused": self.refused,
                "citations": [citation_dict(c) for c in self.citations], "timings_ms": self.timings_ms}


@dataclass(frozen=True)
class Event:
    """A streaming event: type 'token' (text), 'error' (text), or 'done' (answer)."""

    type: str
    text: str = ""
    answer: Answer | None = None

    @property
    def kind(self) -> str:
        return self.type


def format_passages(chunks: Sequence[RetrievedChunk], max_chars: int) -> str:
    """Numbered passages with where they come from; each is quoted data inside the passage block."""
    parts, used = [], 0
    for n, c in enumerate(chunks, 1):
        # the last two heading levels name the topic; the whole path (书 > 编 > 分编 > 章) costs a small
        # model ~30 prompt tokens a passage, a second of prefill on a CPU, for nothing it uses
        heading = " > ".join(c.heading_path[-2:]) if c.heading_path else ""
        where = c.source.rsplit("/", 1)[-1] + (f", p.{c.page}" if c.page else "") + (f", {heading}" if heading else "")
        text = c.text.replace("</passages>", "</ passages>")  # a passage cannot close the block
        budget = max(200, max_chars - used)
        text = text[:budget]
        used += len(text)
        parts.append(f"[{n}] ({where})\n{text}")
        if used >= max_chars:
            break
    return "\n\n".join(parts)


def build_messages(question: str, chunks: Sequence[RetrievedChunk], max_chars: int = 6000,
                   history: Sequence[dict] | None = None, max_turns: int = 6) -> list[dict]:
    """The chat messages for the model: a system message with the instructions (in the question's
    language), the last `max_turns` turns of history (each message cut to 1,000 characters), then one
    user message with the passage block and the question.

    The instructions go in the system message because a small model (Qwen2.5 1.5B, measured with
    `python -m benchmarks answers`) refused questions its first passage answered when they came in the
    user message, and it replaces the model's own default system text (~20 tokens of prefill)."""
    lang = language_of(question)
    system = prompt_template(f"answer_system_{lang}").strip()
    prompt = prompt_template(f"answer_{lang}").format(passages=format_passages(chunks, max_chars),
                                                      question=question)
    turns = [m for m in (history or []) if m.get("role") in ("user", "assistant") and m.get("content")]
    messages = [{"role": m["role"], "content": str(m["content"])[:1000]}
                for m in (turns[-2 * max_turns:] if max_turns > 0 else [])]
    return [{"role": "system", "content": system}] + messages + [{"role": "user", "content": prompt}]


def map_citations(text: str, chunks: Sequence[RetrievedChunk]) -> tuple[str, list[Citation]]:
    """Drop [n] that point at no passage; list cited passages in order of first use."""
    order: list[int] = []

    def keep(m: re.Match) -> str:
        n = int(m.group(1))
        if 1 <= n <= len(chunks):
            if n not in order:
                order.append(n)
            return m.group(0)
        return ""

    cleaned = _CITE.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([。，,.])", r"\1", cleaned).strip()
    return cleaned, [citation_of(n, chunks[n - 1]) for n in order]


class CitationFilter:
    """Streams text with invented citation numbers removed: a `[12` tail is held back until it closes,
    then kept when it names a passage the model was given and dropped otherwise."""

    _OPEN = re.compile(r"\[\d{0,3}$")

    def __init__(self, n_passages: int):
        self.n_passages = n_passages
        self._tail = ""

    def feed(self, piece: str) -> str:
        text = self._tail + piece
        m = self._OPEN.search(text)
        self._tail, text = (text[m.start():], text[:m.start()]) if m else ("", text)
        return _CITE.sub(lambda c: c.group(0) if 1 <= int(c.group(1)) <= self.n_passages else "", text)

    def flush(self) -> str:
        tail, self._tail = self._tail, ""
        return tail


# --- token counts ----------------------------------------------------------------------------

ESTIMATE = "estimate: jieba words (no model tokenizer)"


def token_usage(read: str, written: str, counted: dict | None = None) -> dict[str, Any]:
    """OpenAI's usage numbers: the model's own count when it reported one, else an estimate from
    the word count of what was read and written, with `counted_by` saying which."""
    if counted and counted.get("prompt_tokens") is not None:
        p, c, by = int(counted["prompt_tokens"]), int(counted.get("completion_tokens") or 0), "model"
    else:
        from app.text_tokens import words

        p, c, by = len(words(read)), len(words(written)), ESTIMATE
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c, "counted_by": by}


def fallback_note(reason: str, lang: str) -> str:
    """What an answer says first when the extractive mode stands in for a model that failed (only when
    the user asked for that: answer.fallback_to_extractive)."""
    reason = reason if len(reason) <= 240 else reason[:240] + "…"
    if lang == "zh":
        return f"（语言模型不可用：{reason}。以下是从文档中摘录的句子。）\n\n"
    return f"(The language model is unavailable: {reason}. These are sentences quoted from the documents.)\n\n"


# --- the whole answer ------------------------------------------------------------------------

def answer_stream(question: str, chunks: Sequence[RetrievedChunk], *, llm=None, history: Sequence[dict] = (),
                  settings: dict | None = None, timings: dict[str, float] | None = None,
                  query: str = "", known: Callable[[str], bool] | None = None,
                  similar: Callable[[str, list[str]], list[float]] | None = None) -> Iterator[Event]:
    """Stream an answer: 'token' events as text is produced, then one 'done' event with the Answer
    (or an 'error' event, then 'done' with what was produced, if the backend fails mid-answer).
    `known` and `similar` are the knowledge base's vocabulary check and embedding cosines, for the
    refusal (app.evidence.judge)."""
    cfg = (settings or {}).get("answer", {})
    max_chars = int(cfg.get("max_context_chars", 6000))
    llm = llm or Extractive()
    timings = dict(timings or {})
    lang = language_of(question)
    started = time.perf_counter()
    chunks = list(chunks)

    def done(text: str, refused: bool, citations: list[Citation], read: str = "",
             counted: dict | None = None, mode: str = "") -> Event:
        timings["generate"] = round((time.perf_counter() - started) * 1000, 2)
        timings["total"] = round(sum(v for k, v in timings.items() if k != "total"), 2)
        usage = token_usage(read or question + "\n" + "\n".join(c.text for c in chunks), text, counted)
        return Event("done", answer=Answer(text=text, mode=mode or llm.name, refused=refused, citations=citations,
                                           timings_ms=timings, passages=chunks, query=query or question,
                                           usage=usage))

    verdict = judge(query or question, chunks, cfg, known, similar)
    if verdict.refuse:
        log.info("refused %r: %s", question[:80], verdict.reason)
        text = REFUSAL[lang]
        yield Event("token", text=text)
        yield done(text, True, [citation_of(n, c) for n, c in enumerate(chunks[:3], 1)])
        return

    def extractive(note: str = "") -> Iterator[Event]:
        if note:
            yield Event("token", text=note)
        text = extractive_answer(query or question, chunks)  # a follow-up: its standalone form (no history here)
        if not text:
            text = REFUSAL[lang]
            yield Event("token", text=text)
            yield done(note + text, True, [citation_of(n, c) for n, c in enumerate(chunks[:3], 1)], mode="extractive")
            return
        for piece in re.split(r"(?<=\])", text):
            if piece:
                yield Event("token", text=piece)
        cleaned, cites = map_citations(text, chunks)
        yield done(note + cleaned, False, cites, mode="extractive")

    if isinstance(llm, Extractive):
        reason = getattr(llm, "fallback_reason", "")
        yield from extractive(fallback_note(reason, lang) if reason else "")
        return
    parts: list[str] = []
    shown = CitationFilter(len(chunks))
    messages = build_messages(question, chunks, max_chars, history, int(cfg.get("max_history_turns", 6)))
    pieces = None
    failed = ""
    try:
        pieces = llm.stream(messages)
        for piece in pieces:
            parts.append(piece)
            visible = shown.feed(piece)
            if visible:
                yield Event("token", text=visible)
        tail = shown.flush()
        if tail:
            yield Event("token", text=tail)
    except LLMError as exc:
        if not parts and cfg.get("fallback_to_extractive"):  # asked for: quote the documents, and say why
            failed = str(exc)
        else:
            yield Event("error", text=str(exc))
    except Exception as exc:  # a backend bug must not take the chat session down
        yield Event("error", text=f"{llm.name} failed: {type(exc).__name__}: {exc}")
    finally:  # a listener that stops early stops the model too (closes its HTTP stream or generation)
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    if failed:
        yield from extractive(fallback_note(failed, lang))
        return
    text = "".join(parts).strip()
    refused = not text or text.startswith(REFUSAL[lang].rstrip("。.")) or REFUSAL["en"].rstrip(".") in text
    if not refused:  # the model's [n] are claims: keep those the passages bear out, attach missing ones
        text = check_citations(text, [c.text for c in chunks]).text
    cleaned, cites = map_citations(text, chunks)
    if refused:
        cites = [citation_of(n, c) for n, c in enumerate(chunks[:3], 1)]
    yield done(cleaned or REFUSAL[lang], refused, cites, read="\n".join(m["content"] for m in messages),
               counted=getattr(pieces, "usage", None))


def answer(question: str, chunks: Sequence[RetrievedChunk], **kwargs) -> Answer:
    final = None
    for ev in answer_stream(question, chunks, **kwargs):
        if ev.type == "done":
            final = ev.answer
    assert final is not None
    return final


def answer_dict(a: Answer) -> dict[str, Any]:
    return asdict(a)
