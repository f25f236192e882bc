"""python -m benchmarks ingest|query|reindex|memory|quality|all [--quick] [--json]
python -m benchmarks answers --llm llamacpp --model-path FILE.gguf [--questions Q] [--doc D] [--limit N] [--json]

Each benchmark prints a table (rich, on stderr) and writes JSON to benchmarks/results/.
With --json the result is also printed on stdout (one JSON object). `answers` (a real language
model's whole answers beside the extractive mode, benchmarks/answers.py) is not part of `all`: it
needs a model file and minutes per few questions. The special form
`python -m benchmarks query --size N [--queries Q] --json` prints exactly
{"size": N, "zhida": {"dense": {"p50_ms", "p95_ms"}, "sparse": .., "hybrid": ..}, "peer": {..}}, and
`python -m benchmarks memory --size N --json` prints exactly {"size": N, "zhida": {"build_peak_rss_mib",
"serve_peak_rss_mib", "vectors_mib", "bm25_mib"}, "peer": {..} or null}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

BENCHMARKS = ("ingest", "query", "reindex", "memory", "quality")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", choices=BENCHMARKS + ("answers", "all"))
    p.add_argument("--quick", action="store_true", help="smaller sizes: the whole suite in a few minutes")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--size", type=int, action="append",
                   help="query/memory: corpus size in chunks (repeatable for query)")
    p.add_argument("--queries", type=int, help="query: number of timed queries per mode (default 200, quick 100)")
    p.add_argument("--no-peer", action="store_true", help="query/memory: Zhida only")
    p.add_argument("--docs", type=int, help="ingest: number of generated documents (default 1000, quick 100)")
    p.add_argument("--files", type=int, help="reindex: number of files (default 1000)")
    p.add_argument("--limit", type=int, help="quality: queries per eval set (default all, quick 300); "
                   "answers: questions, spread evenly over the file (default all)")
    p.add_argument("--llm", default="llamacpp", help="answers: the backend to measure (default llamacpp)")
    p.add_argument("--model-path", help="answers: the GGUF file for --llm llamacpp")
    p.add_argument("--questions", help="answers: QUESTIONS.jsonl (default ../shared/data/qa/civil_code_dev.jsonl)")
    p.add_argument("--doc", action="append", help="answers: a document to answer from (repeatable; "
                   "default ../shared/data/docs/zh_civil_code.pdf)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="answers: a settings override, e.g. --set retrieval.top_k=8 (repeatable)")
    p.add_argument("--no-extractive", action="store_true", help="answers: skip the extractive side (tuning runs)")
    return p


def _run_one(name: str, args) -> "Result":  # noqa: F821
    if name == "ingest":
        from benchmarks import ingest_speed

        return ingest_speed.run(args.quick, n_generated=args.docs)
    if name == "query":
        from benchmarks import query_latency

        return query_latency.run(args.quick, sizes=args.size, n_queries=args.queries, peer=not args.no_peer)
    if name == "reindex":
        from benchmarks import reindex

        return reindex.run(args.quick, n_files=args.files)
    if name == "memory":
        from benchmarks import memory

        return memory.run(args.quick, size=(args.size or [None])[0], peer=not args.no_peer)
    if name == "quality":
        from benchmarks import quality

        return quality.run(args.quick, limit=args.limit)
    if name == "answers":
        from benchmarks import answers

        return answers.run(args.llm, args.model_path, args.questions, args.doc, args.limit, args.set,
                           extractive=not args.no_extractive)
    raise SystemExit(f"unknown benchmark {name}")


def _markdown_report(results: dict, failures: dict, info: dict, command: str, total: float) -> str:
    """The tables and notes of one run as Markdown, ready to paste under "Latest results"."""
    from benchmarks.common import _columns, markdown_table

    lines = [f"Run: `{command}` on {info.get('date', '?')[:10]}, {info.get('cpu', '?')}, {info.get('cpus')} cores, "
             f"{info.get('memory_gib', '?')} GiB, Python {info.get('python')}, torch {info.get('torch', '?')}; "
             f"{total / 60:.1f} min in all.", ""]
    for name, res in results.items():
        lines += [f"### {name}{' (quick)' if res.quick else ''} ({res.seconds:.0f} s)", "",
                  markdown_table(res.rows, _columns(res.rows, res.columns)) if res.rows else "(no rows)", ""]
        lines += [f"- {note}" for note in res.notes] + [""]
    for name, why in failures.items():
        lines += [f"### {name}: failed", "", f"{why}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from benchmarks.common import console, log, machine_info, print_table, save_result

    # The single-size query form: exactly one JSON object on stdout, everything else on stderr.
    if args.benchmark == "query" and args.json and args.size and len(args.size) == 1:
        from benchmarks import query_latency

        obj = query_latency.single_size_json(args.size[0], args.queries or 200, peer=not args.no_peer)
        query_latency.print_single(obj)
        return 0

    # The single-size memory form: likewise one object, ending the output.
    if args.benchmark == "memory" and args.json and args.size and len(args.size) == 1:
        from benchmarks import memory

        obj = memory.single_size_json(args.size[0], peer=not args.no_peer)
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return 0

    names = BENCHMARKS if args.benchmark == "all" else (args.benchmark,)
    t0 = time.perf_counter()
    results = {}
    failures = {}
    info = machine_info()
    log(f"machine: {info.get('cpu', '?')}, {info.get('cpus')} cores, {info.get('memory_gib', '?')} GiB, "
        f"Python {info['python']}, torch {info.get('torch', '?')}")
    for name in names:
        log(f"=== {name}{' (quick)' if args.quick else ''} ===")
        try:
            res = _run_one(name, args)
        except Exception as exc:  # one broken benchmark must not hide the others' tables
            if os.environ.get("ZHIDA_BENCH_DEBUG") or args.benchmark != "all":
                raise
            import traceback

            traceback.print_exc()
            failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        path = save_result(res)
        results[name] = res
        print_table(res, title=f"{name}{' (quick)' if args.quick else ''}  [{res.seconds:.0f} s]  -> {path.name}")
    total = time.perf_counter() - t0
    if len(names) > 1:
        console().print(f"[bold]all benchmarks: {total:.0f} s[/bold]" + (f"; failed: {failures}" if failures else ""))
        from benchmarks.common import RESULTS_DIR

        summary = {"benchmark": "all", "quick": args.quick, "machine": info, "seconds": round(total, 1),
                   "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
                   "results": {n: r.to_json() for n, r in results.items()}, "failures": failures}
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / "all-latest.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str),
                                                     encoding="utf-8")
        md = _markdown_report(results, failures, info, summary["command"], total)
        (RESULTS_DIR / "all-latest.md").write_text(md, encoding="utf-8")
        log(f"markdown tables for benchmarks/README.md: {RESULTS_DIR / 'all-latest.md'}")
    if args.json:
        payload = results[names[0]].to_json() if len(names) == 1 and names[0] in results else {
            n: r.to_json() for n, r in results.items()}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
