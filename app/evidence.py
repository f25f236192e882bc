"""Whether the retrieved passages can answer a question at all: the refusal decision.

Evidence that survives paraphrase, in order:
1. Dense similarity of question and passage, judged against the embedding model's own calibrated
   floor (answer.min_similarity, per model: e5-small's cosines sit in 0.75-0.95, so a fixed number
   means nothing across models). Below the floor the passages still answer when they hold most of the
   question's words (lexical coverage, weighted by how informative each word is in general Chinese,
   stems for English): a question that copies the document's words is answered even when the model
   is unsure. A model without a calibrated floor, or a sparse-only search, falls back on coverage alone.
2. Answer type: a question asking for a quantity (多少/多久/几天, how many/how long) needs a leading
   passage that states one (a number with a unit); and a question asking "什么/哪些/哪种 X" for an
   informative X (general IDF >= 7: 许可证, 刑罚 — not 时候, 事情) cannot be answered by documents that
   never use the word X at all. Near-topic passages pass the similarity test; they fail these.
3. A reranker's score, when one ran, against answer.min_relevance.
Thresholds were measured on the dev sets (answerable questions against the same questions with their
gold passage removed) and are written next to the settings in configs/default.yaml.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from knowledge.types import RetrievedChunk

log = logging.getLogger(__name__)

_CN_NUM = "零〇一二两三四五六七八九十百千万亿半"
_ASKS_QUANTITY = re.compile(
    r"多少|多久|多长|多大|多高|多重|多远|几[天日年月周次个倍岁名人号]|百分之|比例|税率|利率"
    r"|\bhow (many|much|long|old|far|often)\b|\bwhat (percentage|proportion|rate)\b", re.I)
_QUANTITY = re.compile(
    rf"([0-9０-９]+(\.[0-9]+)?|[{_CN_NUM}]+)\s*(日|天|年|个月|月|周岁|岁|周|小时|分钟|倍|%|％|元|次|人|名|个|公里|千米|米|"
    rf"吨|公斤|千克|平方米|亩|层|项)|百分之|[{_CN_NUM}]+分之[{_CN_NUM}]+|[0-9]+\s*%"
    r"|\b\d+(\.\d+)?[\s-]*(days?|weeks?|months?|years?|hours?|minutes?|percent|%|dollars?|euros?|times)\b"
    r"|\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve|fourteen|fifteen|twenty|thirty|sixty|ninety)"
    r"[\s-]+(days?|weeks?|months?|years?|hours?)\b", re.I)


_ASKS_FOR = re.compile(r"(?:什么|哪些|哪种|何种|哪类|哪一种|哪一类)([\u4e00-\u9fff]{1,6})")
# an answer-type word this informative in general Chinese is the thing asked for, not a question word
MIN_ASKED_WORD_IDF = 7.0


@dataclass(frozen=True)
class Verdict:
    refuse: bool
    reason: str  # why, for logs and tests ("" when answered)


def asks_quantity(question: str) -> bool:
    return _ASKS_QUANTITY.search(question) is not None


def states_quantity(text: str) -> bool:
    return _QUANTITY.search(text) is not None


def _general_idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table of general Chinese: how informative a word is (the table BM25's query-term
    weights read too, loaded once: retrieval.term_weights)."""
    from retrieval.term_weights import general_idf

    return general_idf()


def asked_for(question: str) -> str:
    """The informative noun a "什么/哪些 X" question asks for ("许可证"), or "" when there is none."""
    m = _ASKS_FOR.search(question)
    if not m:
        return ""
    from app.text_tokens import words

    word = next(iter(words(m.group(1))), "")
    idf, median = _general_idf()
    return word if len(word) >= 2 and idf.get(word, median) >= MIN_ASKED_WORD_IDF else ""


def warm_up() -> None:
    """Load the IDF table now (~0.5 s) rather than on the first question."""
    _general_idf()


def _tokens(text: str) -> set[str]:
    from app.text_tokens import tokens

    return tokens(text)


def coverage(question: str, chunks: Sequence[RetrievedChunk]) -> float:
    """Best share of the question's information (words weighted by general IDF) found in one passage."""
    q = _tokens(question)
    if not q or not chunks:
        return 0.0
    idf, median = _general_idf()
    weight = {w: idf.get(w, median) for w in q}
    total = sum(weight.values())
    return max(sum(weight[w] for w in q & _tokens(c.text)) / total for c in chunks)


def similarity(chunks: Sequence[RetrievedChunk]) -> float | None:
    """The best dense cosine among the passages, or None when no dense retriever scored them."""
    scores = [c.hit.dense_score for c in chunks if c.hit is not None and c.hit.dense_score is not None]
    return max(scores) if scores else None


_HAS_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_HAS_LATIN = re.compile(r"[A-Za-z]{2,}")


def part_in_language(text: str, lang: str) -> str:
    """The sentences of a passage written in `lang` ("zh": holding Chinese characters, "en": Latin words
    and no Chinese), joined; "" unless the passage mixes both (a 中英对照 policy, a bilingual manual)."""
    from app.extractive import sentences

    zh, en = [], []
    for sent in sentences(text):
        if _HAS_CJK.search(sent.text):
            zh.append(sent.text)
        elif _HAS_LATIN.search(sent.text):
            en.append(sent.text)
    if not zh or not en:
        return ""
    return "\n".join(zh if lang == "zh" else en)


def similarity_in_language(question: str, chunks: Sequence[RetrievedChunk],
                           similar: Callable[[str, list[str]], list[float]] | None) -> float | None:
    """The best cosine of the question with the part of each bilingual passage in the question's own
    language, or None when no passage mixes languages (or nothing can embed).

    Why: a passage holding the same text in Chinese and English embeds between the two, so an English
    question's cosine with it falls below the floor a monolingual passage clears (e5-small: "How long do
    refunds take?" 0.845 against a 中英对照 refund paragraph with its heading, 0.909 against its English
    sentences, floor 0.87). The floor was calibrated on monolingual passages, which is what the part in
    the question's language is, so the same floor applies to it."""
    if similar is None:
        return None
    from app.answering import language_of

    lang = language_of(question)
    parts = [p for p in (part_in_language(c.text, lang) for c in chunks) if p]
    if not parts:
        return None
    from retrieval.errors import ModelLoadError

    try:
        scores = similar(question, parts)
    except ModelLoadError as exc:  # e.g. a remote embedding server gone since the search: decide without it
        log.warning("could not compare the question with the bilingual passages' own-language part: %s", exc)
        return None
    return max(scores) if scores else None


def judge(question: str, chunks: Sequence[RetrievedChunk], cfg: Mapping,
          known: Callable[[str], bool] | None = None,
          similar: Callable[[str, list[str]], list[float]] | None = None) -> Verdict:
    """Refuse or answer, with the reason. `cfg` is the `answer:` settings; `known(word)` says whether
    the documents use a word at all (the knowledge base's vocabulary), when the caller can tell;
    `similar(question, texts)` gives the knowledge base's embedding cosines of the question with other
    texts (for bilingual passages: `similarity_in_language`), when the caller can."""
    if not chunks:
        return Verdict(True, "nothing retrieved")
    top = list(chunks[:5])
    min_rel = float(cfg.get("min_relevance", 0.0) or 0.0)
    reranked = [c.hit.rerank_score for c in top if c.hit is not None and c.hit.rerank_score is not None]
    if reranked and max(reranked) < min_rel:
        return Verdict(True, f"rerank score {max(reranked):.3f} < {min_rel}")
    cov = coverage(question, top)
    floors = cfg.get("min_similarity") or {}
    floor = floors.get(top[0].embedding_model) if isinstance(floors, Mapping) else None
    sim = similarity(top)
    if floor is not None and sim is not None:
        if sim < float(floor) and cov < float(cfg.get("weak_match_coverage", 0.6)):
            own = similarity_in_language(question, top, similar)
            if own is None or own < float(floor):
                return Verdict(True, f"similarity {sim:.3f} < {floor} and coverage {cov:.2f}"
                               + (f" (in the question's language {own:.3f})" if own is not None else ""))
    elif cov < float(cfg.get("min_coverage", 0.4)):
        return Verdict(True, f"coverage {cov:.2f} < {cfg.get('min_coverage', 0.4)} (no calibrated similarity)")
    if asks_quantity(question) and not states_quantity(top[0].text):
        return Verdict(True, "asks for a quantity that the best passage does not state")
    word = asked_for(question) if known is not None else ""
    if word and not known(word):
        return Verdict(True, f"asks for {word!r}, a word the documents never use")
    return Verdict(False, "")
