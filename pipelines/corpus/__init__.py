"""The corpus builder: a folder of real documents, plus planted confidential and broken files, to curate.

Build one (the CLI wraps exactly this call):

    vetted corpus test --out vetted-data/corpus-test     # ~260 documents, seconds
    vetted corpus demo --out vetted-data/corpus-demo     # ~2,500 documents

    from pipelines.corpus.build import build_corpus
    summary = build_corpus(Path("vetted-data/corpus-test"), "test", seed=7)

Needs the Debian packages python3.11-doc, postgresql-doc-15 and dict-foldoc, and downloads the
presidio-evaluator wheel once (its templates) into ~/.cache/vetted.

A built corpus:

    manifest.jsonl            a line per file: path, title, source, source_type, updated, updated_from, bytes
    canaries.jsonl            one line per confidential file: canary, path, kind, entities
    .complete                 size, seed and summary; written last, so its presence means "finished"
    product-docs-python/      Python 3.11 manual pages (HTML): faq/, tutorial/, library/
    product-docs-postgres/    PostgreSQL 15 manual pages (HTML), release notes dated by their own text
    kb-foldoc/                FOLDOC entries (.txt), dated by their closing "(YYYY-MM-DD)"
    tickets-changelogs/       Debian changelog entries as tickets (.txt), maintainer e-mail included
    confidential/             HR exports, customer requests, deploy notes, incident reports (.md), fake data
    broken/                   empty, binary, Latin-1, invalid UTF-8, text-free HTML, gzip under a .md name
"""
