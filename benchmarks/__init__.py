"""Zhida benchmarks: ingest, query latency, re-index, memory and quality, side by side with a LangChain peer.

Run `python -m benchmarks all --quick` (or one of ingest|query|reindex|memory|quality);
see benchmarks/README.md. Needs the `bench` extra: `pip install -e .[bench]`.
"""
