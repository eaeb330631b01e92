"""The embedding backends: resolution, the one-time ONNX export, vectors close to torch's, the cache key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from pipelines.core.embedding import Embedder, pick_backend
from pipelines.core.model_cache import ONNX_MANIFEST, ensure_onnx_model, onnx_export_dir
from pipelines.core.settings import EmbeddingSettings

TEXTS = [
    "How do I reset my VPN password?",
    "The quarterly report is due on the first Monday of April.",
    "Python's list.sort() is stable: equal keys keep their order.",
    "Refunds are issued to the original payment method within 14 days.",
    "A deadlock happens when two transactions wait on each other's locks.",
    "",
]


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export folder for the session: each variant is exported once and reused by every test."""
    return tmp_path_factory.mktemp("onnx-models")


@pytest.fixture(scope="session")
def torch_vectors() -> np.ndarray:
    return Embedder(device="cpu", backend="torch").encode(TEXTS)


def test_auto_is_int8_onnx_on_cpu_and_torch_on_cuda() -> None:
    assert pick_backend("auto", "cpu") == "onnx-int8"
    assert pick_backend("auto", "cuda") == "torch"
    assert pick_backend("onnx", "cpu") == "onnx"


def test_onnx_on_cuda_and_unknown_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="runs on the CPU"):
        pick_backend("onnx-int8", "cuda")
    with pytest.raises(ValueError, match="choose 'auto' or one of"):
        pick_backend("tensorrt", "cpu")


def test_a_bad_backend_setting_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="backend"):
        EmbeddingSettings(backend="int4")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_vectors_are_close_to_torch(backend: str, export_dir: Path, torch_vectors: np.ndarray) -> None:
    onnx = Embedder(device="cpu", backend=backend, export_dir=export_dir)
    vectors = onnx.encode(TEXTS)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * torch_vectors).sum(axis=1)
    if backend == "onnx":  # fp32: the same arithmetic as torch
        assert cosine.min() >= 0.9999, cosine
    else:  # int8 loses about 1% on text, more on the empty string (pooled over two special tokens)
        assert cosine.mean() >= 0.98 and cosine.min() >= 0.95, cosine


def test_onnx_keeps_order_across_batches(export_dir: Path) -> None:
    # batch_size 2 with texts of mixed length: the length sort must be undone on the way out. fp32, because
    # dynamic int8 scales activations per batch, so an int8 vector moves a little with its batch mates.
    small = Embedder(device="cpu", backend="onnx", export_dir=export_dir, batch_size=2).encode(TEXTS)
    whole = Embedder(device="cpu", backend="onnx", export_dir=export_dir, batch_size=64).encode(TEXTS)
    np.testing.assert_allclose(small, whole, atol=1e-4)


def test_export_is_idempotent(export_dir: Path) -> None:
    model_dir = Embedder(device="cpu", backend="torch").model_dir
    first = ensure_onnx_model(model_dir, export_dir, int8=True)
    stamp = (first.stat().st_mtime_ns, (first.parent / ONNX_MANIFEST).read_text())
    again = ensure_onnx_model(model_dir, export_dir, int8=True)
    assert again == first and (again.stat().st_mtime_ns, (again.parent / ONNX_MANIFEST).read_text()) == stamp
    assert first.parent == onnx_export_dir(model_dir, export_dir, int8=True)
    leftovers = [p.name for p in export_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # staging folders are renamed into place or removed


def test_incomplete_export_is_redone(export_dir: Path, tmp_path: Path) -> None:
    model_dir = Embedder(device="cpu", backend="torch").model_dir
    done = ensure_onnx_model(model_dir, export_dir, int8=True)
    half = onnx_export_dir(model_dir, tmp_path, int8=True)
    half.mkdir()
    (half / "model.onnx").write_bytes(done.read_bytes()[:100])  # a crash before the manifest
    redone = ensure_onnx_model(model_dir, tmp_path, int8=True)
    assert (redone.parent / ONNX_MANIFEST).is_file() and redone.stat().st_size == done.stat().st_size


def test_cache_key_differs_by_backend(export_dir: Path, tmp_path: Path, torch_vectors: np.ndarray) -> None:
    db = tmp_path / "embeddings.sqlite"
    torch_side = Embedder(device="cpu", backend="torch", cache_path=db)
    int8_side = Embedder(device="cpu", backend="onnx-int8", cache_path=db, export_dir=export_dir)
    assert torch_side.cache is not None and int8_side.cache is not None
    assert torch_side.cache.model != int8_side.cache.model
    torch_side.embed(TEXTS)
    int8_vectors = int8_side.embed(TEXTS)
    assert int8_side.cache.misses == len(TEXTS)  # torch's vectors were not served to the int8 backend
    assert not np.allclose(int8_vectors, torch_vectors, atol=1e-6)
    assert "onnx-int8" in int8_side.model_label
