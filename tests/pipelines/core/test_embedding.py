import numpy as np

from pipelines.core.embedding import Embedder, pick_device
from pipelines.core.embedding_cache import EmbeddingCache


def test_vectors_are_normalised_and_semantic(embedder):
    v = embedder.embed(
        [
            "How do I create a virtual environment?",
            "python -m venv makes a virtual environment",
            "The quarterly revenue of the bakery grew.",
        ]
    )
    assert v.shape == (3, embedder.dimension) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_cache_returns_the_models_vectors_and_counts_hits(tmp_path, embedder):
    cached = Embedder(embedder.model_dir, cache_path=tmp_path / "e.sqlite")
    texts = ["alpha", "beta", "alpha"]
    first = cached.embed(texts)
    assert (cached.cache.hits, cached.cache.misses) == (0, 3)
    second = cached.embed(texts)
    assert cached.cache.hits == 3
    assert np.allclose(first, second) and np.allclose(first, embedder.encode(texts), atol=1e-5)


def test_cache_is_scoped_by_model(tmp_path):
    a = EmbeddingCache(tmp_path / "e.sqlite", "model-a", 2)
    a.put_many([(b"k", np.array([1.0, 0.0], dtype="float32"))])
    b = EmbeddingCache(tmp_path / "e.sqlite", "model-b", 2)
    assert b.get_many([b"k"]) == {} and set(a.get_many([b"k"])) == {b"k"}


def test_auto_device_is_cpu_without_a_gpu():
    import torch

    assert pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
