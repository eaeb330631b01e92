"""The second labelled set: Debian prose with values from Faker in ten locales (build.py); measured by
eval.pii_set.measure --set eval/pii_set2/pii_set2.jsonl."""
