"""The labelled relevance set: on-domain IT text vs off-domain text, from Debian packages."""
