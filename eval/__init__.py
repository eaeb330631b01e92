"""Vetted evaluation: question sets, retrieval and answer metrics, A/B runs, leak probes, benchmarks."""
