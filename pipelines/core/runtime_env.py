"""Environment variables that libraries read once, set by the entry points (the `vetted` command, the test
conftest), never as a side effect of importing a module.

Each is a default (setdefault): a value the user exported wins.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from types import MappingProxyType

PROCESS_DEFAULTS = MappingProxyType(
    {
        # Models ship inside packages: a missing model must fail at once, never wait on or fetch from a hub.
        "HF_HUB_OFFLINE": "1",
        # huggingface/tokenizers turns its thread pool off with a warning when the process forks after using
        # it (a forked pool can deadlock); off from the start, no warning. Our parallelism is per process.
        "TOKENIZERS_PARALLELISM": "false",
        # The machine reaches no analytics endpoint; without this Prefect's temporary server logs a failed
        # send per run.
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The temporary server of a machine's first run creates and migrates its database first: with a fresh
        # HOME on 2 busy cores that outlasted Prefect's 20 s and the first `make demo` died on "Timed out
        # while attempting to connect to ephemeral Prefect API server". Later starts take a few seconds.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        # Ray's usage report (to Anyscale) and Ray Data's usage collector, which queries a Prometheus on
        # localhost:9090 and logs a traceback per query when none runs (the Ray runner, pipelines/runners).
        "RAY_USAGE_STATS_ENABLED": "0",
    }
)


def configure_process_environment(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set PROCESS_DEFAULTS where unset (in os.environ unless told otherwise); returns what was set."""
    env = os.environ if environ is None else environ
    added = {key: value for key, value in PROCESS_DEFAULTS.items() if key not in env}
    env.update(added)
    return added
