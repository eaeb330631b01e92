"""Vetted pipelines: how the work runs (settings, profiler, stages, Prefect flows, the `vetted` command)."""
