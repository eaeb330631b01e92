"""Vetted serving: how staff ask (FastAPI app, retriever, vLLM engine lifecycle)."""
