"""Whole answers of a real local model beside the extractive mode, scored as `zhida eval-qa` scores them.

    python -m benchmarks answers --llm llamacpp --model-path FILE.gguf \\
        [--questions ../shared/data/qa/civil_code_dev.jsonl] [--doc ../shared/data/docs/zh_civil_code.pdf] \\
        [--limit N] [--set answer.max_context_chars=3000] [--json]

Both modes answer the same questions from the same cached throw-away KB (`zhida eval-qa`'s, under
$ZHIDA_HOME/eval-cache), through the same loop (`app.qa_evaluation.run_questions`: `zhida ask`'s path,
eval-qa's scoring). Per mode: answered-and-cited of the answerable questions, refused of the
unanswerable ones, answerable questions refused, the median wait for the first token and for the whole
answer, and the prompt and answer sizes in the model's own tokens (its tokenizer and chat template).

`--limit N` takes N questions spread evenly over the file (so a subset still holds unanswerable ones),
for quick tuning runs; a 1.5B model on 2 CPU cores needs ~10 s an answer.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from benchmarks.common import SHARED, Result, log

DEFAULT_QUESTIONS = SHARED / "data" / "qa" / "civil_code_dev.jsonl"
DEFAULT_DOC = SHARED / "data" / "docs" / "zh_civil_code.pdf"
COLUMNS = ["mode", "questions", "answered+cited", "refused", "answerable refused", "first token p50 ms",
           "total p50 ms", "total p95 ms", "prompt tok p50", "answer tok p50", "cites dropped",
           "cites added"]


class Metered:
    """An LLM backend wrapped to record, per call, the prompt and answer sizes in the model's tokens
    and how the citation check changed the answer's numbers (the benchmark reads them per question)."""

    def __init__(self, llm):
        self.llm, self.name = llm, llm.name
        self.calls: list[dict[str, Any]] = []

    def stream(self, messages: list[dict], **params) -> Iterator[str]:
        call = {"prompt_tokens": self.llm.count_tokens(messages), "output": "", "messages": messages}
        self.calls.append(call)
        t0 = time.perf_counter()
        for piece in self.llm.stream(messages, **params):
            call["output"] += piece
            yield piece
        call["generate_s"] = time.perf_counter() - t0
        call["answer_tokens"] = self.llm.count_text_tokens(call["output"])


def spread(items: Sequence, n: int | None) -> list:
    """`n` items evenly spaced over `items` (all of them when n is None or too large)."""
    if not n or n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)] if n > 1 else [items[0]]


def apply_overrides(s: dict, pairs: Sequence[str]) -> dict:
    """`section.key=value` settings overrides (value read as YAML: numbers, true/false, null)."""
    import yaml

    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"--set {pair!r}: expected section.key=value")
        *path, last = key.split(".")
        node = s
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return s


def _median(values: Sequence[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return round(statistics.median(xs), 1) if xs else None


def _p95(values: Sequence[float]) -> float | None:
    from benchmarks.common import percentile

    return round(percentile(list(values), 95), 1) if values else None


def _run_mode(kb, items, s, llm, label: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from app.citation_check import check_citations
    from app.qa_evaluation import run_questions, summarise

    results, per_q = [], []
    for i, item in enumerate(items, 1):
        before = len(llm.calls) if isinstance(llm, Metered) else 0
        r = run_questions(kb, [item], s, llm, progress=False)[0]
        results.append(r)
        call = llm.calls[-1] if isinstance(llm, Metered) and len(llm.calls) > before else None
        row = {"id": item.id, "question": item.question, "answerable": item.answerable, "correct": r.correct,
               "refused": r.answer.refused, "answer": r.answer.text,
               "cited": [c.text for c in r.answer.citations], "first_token_ms": r.first_token_ms,
               "total_ms": r.total_ms}
        if call is not None:
            check = check_citations(call["output"], [p.text for p in r.answer.passages])
            row.update(prompt_tokens=call["prompt_tokens"], answer_tokens=call.get("answer_tokens"),
                       raw_output=call["output"], cites_dropped=check.dropped, cites_added=check.added,
                       generate_s=round(call.get("generate_s", 0.0), 2))
        per_q.append(row)
        log(f"{label} {i}/{len(items)} {item.id}: {'ok' if r.correct else 'MISS'}"
            f"{' (refused)' if r.answer.refused else ''} {r.total_ms / 1000:.1f} s"
            + (f", prompt {call['prompt_tokens']} tok" if call else ""))
    out = summarise(results)
    gen = [q for q in per_q if "prompt_tokens" in q]
    row = {"mode": label, "questions": out["questions"],
           "answered+cited": f"{out['answered_cited']}/{out['answerable']}",
           "refused": f"{out['refused']}/{out['unanswerable']}",
           "answerable refused": sum(1 for q in per_q if q["answerable"] and q["refused"]),
           "first token p50 ms": _median([q["first_token_ms"] for q in per_q if not q["refused"]]),
           "total p50 ms": _median([q["total_ms"] for q in per_q if not q["refused"]]),
           "total p95 ms": _p95([q["total_ms"] for q in per_q if not q["refused"]]),
           "prompt tok p50": _median([q["prompt_tokens"] for q in gen]) if gen else None,
           "answer tok p50": _median([q["answer_tokens"] for q in gen]) if gen else None,
           "cites dropped": sum(q["cites_dropped"] for q in gen) if gen else None,
           "cites added": sum(q["cites_added"] for q in gen) if gen else None}
    return row, per_q


def run(llm_name: str = "llamacpp", model_path: str | None = None, questions: Path | None = None,
        docs: Sequence[Path] | None = None, limit: int | None = None, overrides: Sequence[str] = (),
        extractive: bool = True) -> Result:
    from app.commands._common import settings
    from app.commands.eval_qa import qa_knowledge_base
    from app.llms import load_llm
    from app.qa_evaluation import gold_rank, load_qa

    questions = Path(questions or DEFAULT_QUESTIONS)
    docs = [Path(d) for d in (docs or [DEFAULT_DOC])]
    for path in [questions, *docs]:
        if not path.is_file():
            raise SystemExit(f"{path}: no such file (the default set lives in ../shared/data)")
    s = settings()
    s.setdefault("llms", {}).setdefault("llamacpp", {})["temperature"] = 0.0  # greedy: a rerun gives the same table
    s = apply_overrides(s, overrides)
    if llm_name == "llamacpp":
        if not model_path:
            raise SystemExit("--model-path FILE.gguf is required with --llm llamacpp")
        s.setdefault("llms", {}).setdefault("llamacpp", {})["model_path"] = str(Path(model_path).expanduser())
    t0 = time.perf_counter()
    llm = load_llm(s, llm_name, fallback=False)  # a model that does not load is an error, never extractive
    load_s = time.perf_counter() - t0
    metered = Metered(llm) if hasattr(llm, "count_tokens") else llm
    items = spread(load_qa(questions), limit)
    t_start = time.perf_counter()
    rows, details = [], {"questions_file": str(questions), "docs": [str(d) for d in docs],
                         "overrides": list(overrides), "model_load_s": round(load_s, 1), "per_question": {}}
    with qa_knowledge_base(s, docs) as kb:
        from app.llms.base import Extractive

        modes = ([("extractive", Extractive())] if extractive and llm_name != "extractive" else []) + \
            [(llm.name, metered)]
        for label, backend in modes:
            row, per_q = _run_mode(kb, items, s, backend, label)
            for q in per_q:
                if q["answerable"] and not q["correct"]:
                    item = next(i for i in items if i.id == q["id"])
                    q["gold_rank"] = gold_rank(item, (c.text for c in kb.search(item.question, k=50)))
            rows.append(row)
            details["per_question"][label] = per_q
    notes = [f"{questions.name}{f' (--limit {limit}: {len(items)} spread over the file)' if limit else ''}, "
             f"top_k {s['retrieval']['top_k']}, max_context_chars {s['answer'].get('max_context_chars')}"
             + (f", overrides {' '.join(overrides)}" if overrides else ""),
             f"{llm.name} loaded in {load_s:.1f} s; latencies are medians over answered (not refused) questions, "
             "from the question to the first streamed token and to the final answer, retrieval included",
             "cites dropped / added: citation numbers of the model's that the citation check removed, and ones it attached"]
    for label, per_q in details["per_question"].items():
        misses = [q for q in per_q if not q["correct"]]
        for q in misses:
            notes.append(f"{label} miss {q['id']} (gold rank {q.get('gold_rank', '-')}"
                         f"{', refused' if q['refused'] else ''}): {q['answer'][:70]!r}".replace("\n", " "))
    return Result("answers", bool(limit), rows=rows, details=details, notes=notes,
                  seconds=time.perf_counter() - t_start, columns=COLUMNS)
