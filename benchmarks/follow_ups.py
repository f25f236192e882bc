"""python -m benchmarks.follow_ups [--llm llamacpp --model-path FILE | --llm openai] [--limit N]

How many follow-up questions of the written set (tests/app/data/follow_ups.json) the rewrite makes
standalone (the query names what the follow-up asks about, `must`, and not the subject it replaced,
`must_not`): the rules always, and a real language model when one is named, through the same
`app.follow_up.rewrite_query` every interface calls. Prints one line per miss and a summary with the
model's time per rewrite; `--json` prints the result.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SET = Path(__file__).resolve().parents[1] / "tests" / "app" / "data" / "follow_ups.json"


def right(query: str, pair: dict) -> bool:
    low = query.lower()
    return all(m.lower() in low for m in pair["must"]) and not any(m.lower() in low for m in pair["must_not"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.follow_ups", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--llm", choices=["llamacpp", "openai", "transformers"], help="also measure this model")
    p.add_argument("--model-path", help="llamacpp: the .gguf file")
    p.add_argument("--limit", type=int, help="only the first N pairs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from app.config import load_settings
    from app.follow_up import rewrite_query, rule_rewrite

    pairs = json.loads(SET.read_text(encoding="utf-8"))["pairs"][:args.limit]

    def history(pair: dict) -> list[dict]:
        return [{"role": "user", "content": pair["q1"]}, {"role": "assistant", "content": "……"}]

    out: dict = {"pairs": len(pairs), "held_out": sum(1 for x in pairs if x.get("held_out"))}
    rules = [rule_rewrite(x["q2"], x["q1"]) for x in pairs]
    out["rules"] = {"right": sum(right(q, x) for q, x in zip(rules, pairs)),
                    "held_out_right": sum(right(q, x) for q, x in zip(rules, pairs) if x.get("held_out"))}
    for q, x in zip(rules, pairs):
        if not right(q, x):
            print(f"rules miss: {x['q2']} -> {q}", file=sys.stderr)
    if args.llm:
        from app.llms import load_llm

        s = load_settings()
        if args.model_path:
            s["llms"]["llamacpp"]["model_path"] = args.model_path
        t0 = time.perf_counter()
        llm = load_llm(s, args.llm)
        load_s = time.perf_counter() - t0
        got, seconds = [], []
        for x in pairs:
            t0 = time.perf_counter()
            got.append(rewrite_query(x["q2"], history(x), llm))
            seconds.append(time.perf_counter() - t0)
            print(f"{'ok  ' if right(got[-1], x) else 'MISS'} {x['q2']} -> {got[-1]}  ({seconds[-1]:.1f} s)",
                  file=sys.stderr)
        out["llm"] = {"name": llm.name, "right": sum(right(q, x) for q, x in zip(got, pairs)),
                      "held_out_right": sum(right(q, x) for q, x in zip(got, pairs) if x.get("held_out")),
                      "load_s": round(load_s, 1), "mean_rewrite_s": round(sum(seconds) / len(seconds), 2),
                      "rewrites": got}
    line = (f"follow-up set: {out['pairs']} pairs ({out['held_out']} held out); rules right {out['rules']['right']} "
            f"(held-out {out['rules']['held_out_right']})")
    if "llm" in out:
        line += (f"; {out['llm']['name']} right {out['llm']['right']} (held-out {out['llm']['held_out_right']}), "
                 f"{out['llm']['mean_rewrite_s']} s a rewrite")
    print(line, file=sys.stderr)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
