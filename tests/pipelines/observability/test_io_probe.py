"""Index load read vs mmap, cold and warm, on a real FAISS build written through the index store."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from llama_index.core.schema import TextNode

from pipelines.core.index_files import faiss_file, read_faiss
from pipelines.core.index_store import write_build
from pipelines.core.settings import load_settings
from pipelines.observability.page_cache import evict
from pipelines.observability.probe import probe_index, probe_retriever
from pipelines.observability.profiler import RunProfile

DIM, CHUNKS = 384, 3000  # a 4.6 MB flat index: enough pages to tell read from mmap


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((CHUNKS, DIM)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    nodes = [
        TextNode(
            id_=f"d{i // 3}:{i % 3}",
            text=f"chunk {i}",
            metadata={"doc_id": f"d{i // 3}", "chunk_no": i % 3},
            embedding=vectors[i].tolist(),
        )
        for i in range(CHUNKS)
    ]
    work = tmp_path_factory.mktemp("work")
    doc_hashes = {f"d{i}": "h" for i in range(CHUNKS // 3)}
    return write_build(work, nodes, dimension=DIM, model="random", doc_hashes=doc_hashes, settings={}).path


def test_read_pays_at_load_and_mmap_pays_at_query(build):
    size = faiss_file(build).stat().st_size
    profile = RunProfile("probe")
    probe_index(profile, build, queries=8)
    stages = {s.stage: s for s in profile.stages}
    assert list(stages) == [
        f"index_{what}_{mode}_{cache}"
        for mode in ("read", "mmap")
        for cache in ("cold", "warm")
        for what in ("load", "query")
    ]
    assert stages["index_load_read_cold"].rchar >= size  # read(2) of the whole file
    assert stages["index_load_mmap_cold"].rchar < size / 10  # only the header
    assert stages["index_query_mmap_warm"].items_out == 8
    if not stages["index_load_read_cold"].extra.get("evicted_share", 0) > 0.99:
        pytest.skip(f"cold cache not reachable here: {stages['index_load_read_cold'].extra}")
    assert stages["index_load_read_cold"].read_bytes >= size * 0.95
    assert stages["index_load_read_warm"].read_bytes < size / 10
    assert stages["index_query_mmap_cold"].major_faults > 0  # the vectors page in as the search scans them
    assert stages["index_query_mmap_warm"].major_faults == 0


def test_evicting_a_build_covers_every_file_in_it(build):
    results = evict([build])
    assert {r.path for r in results} >= {str(faiss_file(build)), str(build / "manifest.json")}


class FaissRetriever:
    """A retriever over the build's own FAISS index: what the probe needs of serving's SafeRetriever."""

    def __init__(self, build, embedder, k):
        self.index, self.embedder, self.k = read_faiss(build), embedder, k

    def retrieve(self, question):
        _, ids = self.index.search(self.embedder.embed([question]), self.k)
        return [i for i in ids[0].tolist() if i >= 0]


def test_the_serving_path_is_loaded_inside_each_load_stage(build):
    profile = RunProfile("probe")
    opened_after = []  # how many stages had finished when the retriever was built

    def open_retriever(embedder):
        opened_after.append(len(profile.stages))
        return FaissRetriever(build, embedder, k=4)

    settings = load_settings(None, {"paths.work_dir": str(build.parent.parent)})
    probe_retriever(profile, settings, open_retriever, questions=("a", "b", "c"))
    stages = {s.stage: s for s in profile.stages}
    assert list(stages) == ["serve_load_cold", "serve_query_cold", "serve_load_warm", "serve_query_warm"]
    assert opened_after == [0, 2]
    size = faiss_file(build).stat().st_size
    assert stages["serve_load_cold"].rchar >= size and stages["serve_load_warm"].rchar >= size
    assert stages["serve_query_warm"].items_in == 3 and stages["serve_query_warm"].items_out == 3 * 4
    assert stages["serve_query_warm"].rchar < size / 10  # the index is in memory: queries read little


def test_the_probe_imports_no_serving_module():
    code = (
        "import sys, pipelines.observability.probe; "
        "print(sorted(m for m in sys.modules if m.startswith('serving')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "[]"  # serving is a higher layer: the retriever is passed in
