"""Peer systems the benchmarks compare Zhida with. Benchmark-only: the app never imports these."""
