"""The `vetted` command line: the composition root, the one package that imports every layer (curation,
pipelines, serving, eval) and wires them; `main` builds the parser, each module registers its subcommands."""
