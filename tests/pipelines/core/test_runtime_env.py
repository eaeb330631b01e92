"""The process environment is set by the entry points, explicitly, and a value already exported wins."""

from __future__ import annotations

import os
import subprocess
import sys

from pipelines.core.runtime_env import PROCESS_DEFAULTS, configure_process_environment


def test_defaults_are_set_where_unset_and_exported_values_win():
    env = {"HF_HUB_OFFLINE": "0", "PATH": "/bin"}
    added = configure_process_environment(env)
    assert added == {
        "TOKENIZERS_PARALLELISM": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    assert env == {"HF_HUB_OFFLINE": "0", "PATH": "/bin", **added}
    assert configure_process_environment(env) == {}  # a second call changes nothing


def test_importing_the_pipeline_changes_no_environment_variable():
    code = (
        "import os, json; before = dict(os.environ); "
        "import pipelines.core.embedding, pipelines.observability.profiler, pipelines.observability.probe; "
        "print(json.dumps(sorted(k for k in os.environ if os.environ.get(k) != before.get(k))))"
    )
    env = {k: v for k, v in os.environ.items() if k not in PROCESS_DEFAULTS}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
