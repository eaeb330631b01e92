"""The labelled personal-data and secrets set: built by build.py, committed as pii_set.jsonl, measured by
measure.py (document-level recall and precision of the sensitive scorer, recall per entity)."""
