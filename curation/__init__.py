"""Vetted curation: which documents are good for an AI, and why. A plain library (no Prefect, no FastAPI)."""
