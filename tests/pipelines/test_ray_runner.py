"""The Ray runner on a real Ray cluster on loopback: a head and one worker node started here as two
`ray start --block` processes (one CPU each, in their own process groups, killed after even on failure),
the ingestion run joined to them with `ray.init(address=...)`. The ray run must give what the local run
gives: the same documents, chunk ids and tiers, vectors within 1e-5, and a near-duplicate pair that lands
in different scoring partitions found all the same. About 90 s here (two node starts, model loads)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import ray

from pipelines import ingest
from pipelines.core.index_files import chunk_vectors
from pipelines.runners.ray_runner import RayRunner, RayUnreachable, partitions
from tests.conftest import settings_for
from tests.pipelines.test_incremental import _write, corpus  # noqa: F401 (the fixture)

RAY_CLI = Path(sys.executable).with_name("ray")
AUTH_MODE = "RAY_AUTH_MODE"
START_TIMEOUT_S = 90.0  # a node starts in ~10 s here; a loaded shared machine takes longer
NODE_FLAGS = ["--num-cpus=1", "--object-store-memory=150000000", "--node-ip-address=127.0.0.1",
              "--disable-usage-stats", "--block"]  # fmt: skip
# A near-duplicate pair (the last word differs: Jaccard of 5-word shingles ~0.98) whose names sort first
# and last, so the pair's documents fall into different partitions of two.
NEAR_DUPLICATE = (
    "Backups of a PostgreSQL cluster: pg_dump writes one database as SQL or as an archive that pg_restore "
    "reads back, table by table, while the server keeps serving queries. pg_basebackup copies the whole "
    "data directory instead, and with the write-ahead log archived next to it a standby or a restored "
    "server can replay every change up to a chosen moment (point-in-time recovery). Test a restore on a "
    "spare machine every month: a backup that was never restored is only a hope. Keep the copies in "
    "another building, encrypt them, and watch the archive command's exit status in the server {last}"
)
PAIR = ("aa-backups.txt", "zz-backups.txt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Each node's whole process group (raylet, GCS, workers): TERM, then KILL what is left."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group may outlive its leader
        except ProcessLookupError:
            pass


def _wait_for(check, what: str, procs) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a ray node exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready in {START_TIMEOUT_S} s")
        time.sleep(0.5)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def ray_cluster():
    """The address of a two-node cluster on loopback; the driver is connected while the tests run."""
    # Ray's socket paths must fit AF_UNIX's 107 bytes: a short folder, not pytest's deep tmp_path
    temp = Path(tempfile.mkdtemp(prefix="vray", dir="/tmp"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    log = (temp / "nodes.log").open("wb")
    # Ray 2.60 turns token auth on wherever a token sits in ~/.ray (a local ray.init writes one): the
    # nodes and this driver say the same explicitly, so the test does not depend on that file.
    auth_before = os.environ.get(AUTH_MODE)
    os.environ[AUTH_MODE] = "disabled"
    spawn = {"stdout": log, "stderr": subprocess.STDOUT, "start_new_session": True}
    try:
        head = [str(RAY_CLI), "start", "--head", f"--port={port}", "--include-dashboard=false",
                f"--temp-dir={temp}", *NODE_FLAGS]  # fmt: skip
        procs.append(subprocess.Popen(head, **spawn))  # type: ignore[call-overload]
        _wait_for(lambda: _accepts(port), "the head node", procs)
        worker = [str(RAY_CLI), "start", f"--address={address}", *NODE_FLAGS]
        procs.append(subprocess.Popen(worker, **spawn))  # type: ignore[call-overload]
        ray.init(address=address)
        alive = lambda: sum(1 for n in ray.nodes() if n.get("Alive")) == 2  # noqa: E731
        _wait_for(alive, "the worker node", procs)
        yield address
    finally:
        ray.shutdown()
        _stop(procs)
        log.close()
        if auth_before is None:
            os.environ.pop(AUTH_MODE, None)
        else:
            os.environ[AUTH_MODE] = auth_before
        shutil.rmtree(temp, ignore_errors=True)


def _settings(work: Path, corpus_dir: Path, address: str | None = None):  # type: ignore[no-untyped-def]
    settings = settings_for(work, corpus_dir)
    settings.embedding.backend = "torch"  # fp32 torch: a vector does not depend on its batch (int8 does)
    settings.ray.address, settings.ray.partitions, settings.ray.embed_actors = address, 2, 2
    return settings


def test_an_unreachable_address_fails_at_once_and_says_what_to_do(tmp_path, corpus):  # noqa: F811
    settings = _settings(tmp_path / "work", corpus, f"127.0.0.1:{_free_port()}")
    if ray.is_initialized():  # the runner reuses a live connection: this test comes before the cluster's
        pytest.skip("needs a process not yet connected to Ray")
    start = time.monotonic()
    with pytest.raises(RayUnreachable, match=r"no Ray head answers there.*ray start --head"):
        ingest.run(settings, corpus, settings.layout, runner=RayRunner(settings))
    assert time.monotonic() - start < 60
    assert not settings.layout.documents.exists()  # nothing was published


def test_the_ray_run_matches_the_local_run_and_finds_a_split_near_duplicate(
    tmp_path,
    corpus,  # noqa: F811
    ray_cluster,
):
    for n, name in enumerate(PAIR):
        _write(corpus / "product-docs-python", name, NEAR_DUPLICATE.format(last=("log.", "journal.")[n]))
    local_settings = _settings(tmp_path / "local", corpus)
    ray_settings = _settings(tmp_path / "ray", corpus, ray_cluster)
    local = ingest.run(local_settings, corpus, local_settings.layout)
    on_ray = ingest.run(ray_settings, corpus, ray_settings.layout, runner=RayRunner(ray_settings))

    ids = [d.doc_id for d in on_ray.documents]
    assert ids == [d.doc_id for d in local.documents] and len(ids) == 5
    assert {i: d.tier for i, d in on_ray.decisions.items()} == {i: d.tier for i, d in local.decisions.items()}
    pair = [next(d.doc_id for d in on_ray.documents if d.path.endswith(name)) for name in PAIR]
    parts = partitions(len(ids), 2)
    assert [next(p for p, r in enumerate(parts) if ids.index(i) in r) for i in pair] == [0, 1]
    found = [on_ray.scores[i]["duplicate"] for i in pair]
    assert any("duplicate_near" in r.reasons and r.details["duplicate_of"] in pair for r in found), found
    assert [r.reasons for r in found] == [local.scores[i]["duplicate"].reasons for i in pair]

    assert local.build is not None and on_ray.build is not None
    local_chunks, local_vectors = chunk_vectors(local.build.path)
    ray_chunks, ray_vectors = chunk_vectors(on_ray.build.path)
    assert ray_chunks["node_id"].to_pylist() == local_chunks["node_id"].to_pylist()
    np.testing.assert_allclose(ray_vectors, local_vectors, atol=1e-5)

    stages = {s.stage: s.extra for s in on_ray.profile.stages}
    assert stages["score"]["ray_partitions"] == 2 and stages["score"]["ray_nodes"] == 2
    assert stages["embed"]["ray_texts_encoded"] == local.build.n_chunks
    assert stages["embed"]["ray_worker_cpu_s"] > 0
