"""Benchmark data: real sentences recombined, generated PDF/docx files, random-but-fixed vectors.

* Sentences come from the passages of ../shared/data/eval/* (Chinese Wikipedia,
  simplified and traditional). A synthetic chunk is 4-10 of them, picked by a
  seeded generator, so chunk i is the same on every machine and every run.
* Vectors for the query-latency corpora are random unit vectors from a seeded
  generator (embedding a million chunks with the real model would take ~16 h
  on 2 cores). Queries are real questions from the eval sets, embedded by the
  real model inside the timed region.
* Chunk tokens for the LangChain peer's rank-bm25 index are the concatenation
  of each sentence's jieba tokens (tokenised once per distinct sentence), which
  is what jieba gives for the whole chunk since sentences end in punctuation.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from benchmarks.common import SHARED_DOCS, SHARED_EVAL, cache_dir, log

SEED = 20240611
DIM = 384  # all-MiniLM-L6-v2
MIN_SENT, MAX_SENT = 4, 10
_SPLIT = re.compile(r"(?<=[。！？!?；])")


def eval_sets() -> list[Path]:
    return sorted(p for p in SHARED_EVAL.iterdir() if (p / "corpus.jsonl").is_file()) if SHARED_EVAL.is_dir() else []


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    out: list[str] = []
    seen: set[str] = set()
    for folder in eval_sets():
        with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
            for line in fh:
                text = json.loads(line)["text"]
                for sent in _SPLIT.split(text):
                    sent = sent.strip()
                    if len(sent) >= 8 and sent not in seen:
                        seen.add(sent)
                        out.append(sent)
    if not out:
        raise RuntimeError(f"no eval corpora under {SHARED_EVAL}: the benchmarks need ../shared/data/eval")
    return tuple(out)


def questions(n: int) -> list[str]:
    """n real questions, alternating between the eval sets (repeats only if n exceeds them all)."""
    per_set: list[list[str]] = []
    for folder in eval_sets():
        with open(folder / "queries.jsonl", encoding="utf-8") as fh:
            per_set.append([json.loads(line)["question"] for line in fh if line.strip()])
    out: list[str] = []
    i = 0
    while len(out) < n and any(per_set):
        for qs in per_set:
            if i < len(qs) and len(out) < n:
                out.append(qs[i])
        i += 1
        if i > max(len(q) for q in per_set):
            i = 0
    return out


class SyntheticCorpus:
    """N chunks of recombined real sentences; texts and tokens are produced lazily, vectors seeded."""

    def __init__(self, size: int, seed: int = SEED):
        self.size = size
        self.seed = seed
        rng = np.random.default_rng(seed)
        n_sent = len(sentences())
        self.counts = rng.integers(MIN_SENT, MAX_SENT + 1, size=size, dtype=np.int32)
        self.picks = rng.integers(0, n_sent, size=(size, MAX_SENT), dtype=np.int32)

    def text(self, i: int) -> str:
        sents = sentences()
        return "".join(sents[j] for j in self.picks[i, : self.counts[i]])

    def texts(self, start: int = 0, stop: int | None = None) -> Iterator[str]:
        for i in range(start, self.size if stop is None else stop):
            yield self.text(i)

    def all_texts(self) -> list[str]:
        return list(self.texts())

    def tokens(self) -> list[list[str]]:
        """jieba tokens per chunk (lower-cased, whitespace dropped), via cached per-sentence tokens."""
        sent_tokens = sentence_tokens()
        out = []
        for i in range(self.size):
            toks: list[str] = []
            for j in self.picks[i, : self.counts[i]]:
                toks.extend(sent_tokens[j])
            out.append(toks)
        return out

    def vectors(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Random unit vectors, float32 (stop-start, DIM); row i is the same whatever the slice."""
        stop = self.size if stop is None else stop
        block = 65536
        parts = []
        for b in range(start // block, (stop - 1) // block + 1):
            rng = np.random.default_rng([self.seed, b])
            v = rng.standard_normal((block, DIM), dtype=np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            lo = max(start, b * block) - b * block
            hi = min(stop, (b + 1) * block) - b * block
            parts.append(v[lo:hi])
        return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros((0, DIM), np.float32)


def jieba_tokens(text: str) -> list[str]:
    """What a careful LangChain user passes as BM25Retriever's preprocess_func for Chinese."""
    import jieba

    return [t for t in jieba.lcut(text.lower()) if t.strip()]


@lru_cache(maxsize=1)
def sentence_tokens() -> tuple[tuple[str, ...], ...]:
    path = cache_dir() / f"sentence-tokens-{len(sentences())}.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        if len(data) == len(sentences()):
            return tuple(tuple(t) for t in data)
    import jieba

    jieba.setLogLevel(60)
    log(f"tokenising {len(sentences()):,} distinct sentences with jieba (cached in {path.parent})")
    data = [jieba_tokens(s) for s in sentences()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return tuple(tuple(t) for t in data)


# --- generated documents -------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # a few eval passages carry them; XML (docx) refuses them


def _doc_paragraphs(rng: np.random.Generator, n_paras: tuple[int, int] = (3, 6)) -> list[str]:
    sents = sentences()
    paras = []
    for _ in range(int(rng.integers(n_paras[0], n_paras[1] + 1))):
        k = int(rng.integers(2, 6))
        paras.append(_CONTROL.sub("", "".join(sents[j] for j in rng.integers(0, len(sents), size=k))))
    return paras


def write_docx(path: Path, title: str, paragraphs: Sequence[str]) -> None:
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    for i, para in enumerate(paragraphs):
        if i and i % 3 == 0:
            d.add_heading(f"{title} 第{i // 3}节", level=2)
        d.add_paragraph(para)
    d.save(str(path))


def write_pdf(path: Path, title: str, paragraphs: Sequence[str]) -> None:
    import pymupdf

    doc = pymupdf.open()
    text = title + "\n\n" + "\n\n".join(paragraphs)
    rest = text
    while rest:
        page = doc.new_page()
        rect = page.rect + (50, 50, -50, -50)
        # insert_textbox returns <0 when the text did not fit; put what fits on this page, the rest on the next
        take = len(rest)
        while True:
            spare = page.insert_textbox(rect, rest[:take], fontname="china-s", fontsize=11)
            if spare >= 0:
                break
            page.clean_contents()
            doc.delete_page(-1)
            page = doc.new_page()
            take = int(take * 0.7)
        rest = rest[take:]
    doc.save(str(path), garbage=3, deflate=True)
    doc.close()


def generated_docs(n: int, seed: int = SEED + 1) -> Path:
    """n documents, alternately .docx and .pdf, ~600-1,500 characters each; cached."""
    folder = cache_dir() / f"gen-docs-{n}-s{seed}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    log(f"generating {n} documents (docx + pdf) in {folder}")
    rng = np.random.default_rng(seed)
    for i in range(n):
        paras = _doc_paragraphs(rng)
        title = f"文档{i:04d}"
        if i % 2 == 0:
            write_docx(folder / f"doc{i:04d}.docx", title, paras)
        else:
            write_pdf(folder / f"doc{i:04d}.pdf", title, paras)
    done.write_text("ok", encoding="utf-8")
    return folder


def real_docs(quick: bool = False) -> list[Path]:
    """The shared PDFs and docx, minus the deliberately broken bad_* ones."""
    if not SHARED_DOCS.is_dir():
        return []
    files = sorted(p for p in SHARED_DOCS.iterdir()
                   if p.suffix.lower() in (".pdf", ".docx") and not p.name.startswith("bad_"))
    return files


def text_files(folder: Path, n: int, seed: int = SEED + 2) -> list[Path]:
    """n small Markdown files (one or two chunks each) for the re-index benchmark."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        paras = _doc_paragraphs(rng, (1, 3))
        path = folder / f"note{i:04d}.md"
        path.write_text(f"# 笔记 {i}\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
        out.append(path)
    return out
