"""Retrieval evaluation: the instrument every retrieval change is judged by.

Reads the corpus.jsonl + queries.jsonl format of ../shared/data/eval, builds a
throw-away knowledge base through the real ingest pipeline (each passage is a
file, so chunking, embedding and indexing are exactly what users get), and
scores ranked passage ids with Recall@k, MRR@10 and nDCG@10.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

ALL_MODES = ("dense", "sparse", "hybrid", "hybrid+rerank")


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Query:
    id: str
    question: str
    answers: tuple[str, ...]
    gold_ids: tuple[str, ...]


@dataclass
class Dataset:
    name: str
    passages: list[Passage]
    queries: list[Query]


class DatasetError(ValueError):
    """The folder is not in the corpus.jsonl + queries.jsonl format."""


def _read_jsonl(path: Path) -> Iterable[dict]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno}: not a JSON line ({exc.msg})") from exc


def load_dataset(folder: Path, limit: int | None = None) -> Dataset:
    folder = Path(folder)
    corpus, queries = folder / "corpus.jsonl", folder / "queries.jsonl"
    for path in (corpus, queries):
        if not path.is_file():
            raise DatasetError(f"{folder} is not an evaluation set: {path.name} is missing "
                               "(expected corpus.jsonl and queries.jsonl)")
    try:
        passages = [Passage(str(r["id"]), str(r.get("title") or ""), str(r["text"])) for r in _read_jsonl(corpus)]
        qs = [Query(str(r["id"]), str(r["question"]), tuple(r.get("answers") or ()), tuple(r.get("gold_ids") or ()))
              for r in _read_jsonl(queries)]
    except KeyError as exc:
        raise DatasetError(f"{folder}: a line lacks the field {exc}") from exc
    if limit is not None:
        qs = qs[:limit]
    return Dataset(folder.name, passages, qs)


def recall_at(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Share of the gold passages found in the first k results."""
    if not gold:
        return 0.0
    return len(gold.intersection(ranked[:k])) / len(gold)


def mrr_at(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    for rank, pid in enumerate(ranked[:k], 1):
        if pid in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(rank + 1) for rank, pid in enumerate(ranked[:k], 1) if pid in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal if ideal else 0.0


def dedupe(ids: Iterable[str]) -> list[str]:
    """Chunks of one passage collapse to the passage's best rank."""
    seen: set[str] = set()
    out = []
    for pid in ids:
        if pid not in seen:
            seen.add(pid)
            out.append(pid)
    return out


@dataclass
class ModeScores:
    sums: dict[str, float] = field(default_factory=dict)
    n: int = 0

    def add(self, ranked: Sequence[str], gold: set[str], ks: Sequence[int]) -> None:
        self.n += 1
        for k in ks:
            self.sums[f"recall@{k}"] = self.sums.get(f"recall@{k}", 0.0) + recall_at(ranked, gold, k)
        self.sums["mrr@10"] = self.sums.get("mrr@10", 0.0) + mrr_at(ranked, gold, 10)
        self.sums["ndcg@10"] = self.sums.get("ndcg@10", 0.0) + ndcg_at(ranked, gold, 10)

    def means(self) -> dict[str, float]:
        return {key: round(value / self.n, 4) if self.n else 0.0 for key, value in self.sums.items()}


def score_mode(
    queries: Sequence[Query],
    search: Callable[[str, int], list[str]],
    ks: Sequence[int] = (1, 3, 5, 10),
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict[str, float]:
    """Run `search(question, depth) -> ranked passage ids` for every answerable query."""
    depth = max(max(ks), 10)
    scores = ModeScores()
    items = [q for q in queries if q.gold_ids]
    for q in (progress(items) if progress else items):
        ranked = dedupe(search(q.question, depth))
        scores.add(ranked, set(q.gold_ids), ks)
    return scores.means()


def passage_filename(passage_id: str) -> str:
    """A safe file name that maps back to the passage id."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in passage_id)
    return f"{safe}.txt"


def write_passages(dataset: Dataset, folder: Path) -> dict[str, str]:
    """One .txt file a passage (title line, blank line, text); returns file name -> passage id."""
    folder.mkdir(parents=True, exist_ok=True)
    mapping: dict[str, str] = {}
    for passage in dataset.passages:
        name = passage_filename(passage.id)
        if name in mapping:
            raise DatasetError(f"two passage ids map to the same file name: {passage.id!r}")
        mapping[name] = passage.id
        body = f"{passage.title}\n\n{passage.text}\n" if passage.title else f"{passage.text}\n"
        (folder / name).write_text(body, encoding="utf-8")
    return mapping
