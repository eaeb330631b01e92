"""The shared core every layer above curation uses: settings, embedding (and its cache), the index store (the
one owner of the index format), the model cache, and the process environment set by entry points."""
