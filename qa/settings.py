"""The one place for configuration: a `Settings` object read from `QA_*` environment variables,
with command-line options layered on top."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qa.keywords import PRUNE_MIN_CHUNKS
from qa.resources import SOURCE_ROOT, bundled_dir

ENV_PREFIX = "QA_"
PROJECT_ROOT = SOURCE_ROOT  # the checkout, for tests and benchmarks run from a source tree
ORIGIN = re.compile(r"https?://(\[[0-9a-fA-F:.]+\]|[^/\s:\[\]]+)(:\d{1,5})?")


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


Encoder = Literal["onnx", "torch"]
Store = Literal["embedded", "scale"]
MilvusConsistency = Literal["Strong", "Bounded", "Session", "Eventually"]
SupportScorerName = Literal["lexical", "judge", "model"]


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service. Environment: `QA_<FIELD>` (e.g. `QA_INDEX_DIR`)."""

    # storage
    index_dir: Path = Path("embeddings")
    index_type: str = "flat"  # flat | hnsw | ivf | any FAISS index_factory string
    # embedded: FAISS + SQLite under index_dir (default) | scale: Milvus + PostgreSQL shared by
    # any number of replicas (the `qa[scale]` extra; docs/scale-out.md)
    store: Store = "embedded"
    postgres_dsn: str = ""  # e.g. postgresql://qa@db:5432/qa
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: str = ""  # user:password or an API key
    milvus_collection: str = "qa_chunks"
    milvus_index: str = "HNSW"  # HNSW | IVF_FLAT | FLAT | ... (a Milvus index type)
    milvus_index_params: str = '{"M": 32, "efConstruction": 200}'  # JSON; M 32 as FAISS' hnsw (HNSW32)
    milvus_search_params: str = '{"ef": 128}'  # JSON
    # Session (default): each search waits for the newest write any replica acknowledged (its Milvus
    # timestamp is shared through PostgreSQL); Strong: waits for a fresh Milvus time tick (up to
    # 200 ms a search); Bounded/Eventually: no read-after-write (docs/scale-out.md)
    milvus_consistency: MilvusConsistency = "Session"

    # embedding
    embedding_model: str = "all-MiniLM-L6-v2"  # a name, a local path, or the bundled default
    # onnx: the bundled MiniLM as int8 ONNX Runtime (default, no torch) | torch: sentence-transformers
    # (the `qa[torch]` extra; any model). An index only opens with the encoder that built it.
    encoder: Encoder = "onnx"
    encoder_threads: int = 0  # ONNX Runtime intra-op threads; 0 = one per core
    device: str = "cpu"  # torch encoder only
    cpu_workers: int = 0  # answers checked at once (first come, first served); 0 = one per core
    embed_batch_size: int = 64

    # chunking (word pieces of the embedding model's own tokenizer)
    chunk_tokens: int = 160
    chunk_overlap_tokens: int = 40
    tiktoken_encoding: str = "cl100k_base"
    tiktoken_cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "qa" / "tiktoken")

    # retrieval
    search_k: int = 5
    search_candidates: int = 100  # per retriever, before fusion and freshness
    rrf_k: int = 60
    # In an index of this many chunks or more, the embedded keyword search ranks only the chunks
    # holding one of the question's less common words (ranking every match costs ~6 ms at 19k
    # chunks, 170 ms at 300k); 0 = always. bench/README.md, "Keyword leg on SQLite".
    keyword_prune_chunks: int = PRUNE_MIN_CHUNKS  # 50,000
    # News freshness: a passage's fused score is scaled by (1 - w) + w * 0.5 ** (age / half-life),
    # age in days before the question's as-of date (today unless given). 0 turns it off.
    recency_weight: float = 0.7  # tuned on RealTime QA dev (bench/README.md)
    recency_half_life_days: float = 7.0

    # answering
    model: str = "extractive"  # backend name: extractive | openai | local | a plugin
    # The backends a request may choose with "model"; empty = only `model`. A backend the operator
    # did not enable cannot be switched on by an anonymous request (the local LLM costs seconds).
    allowed_models: tuple[str, ...] = ()
    prompts_dir: Path = field(default_factory=lambda: bundled_dir("prompts"))  # QA_PROMPTS_DIR overrides
    context_tokens: int = 3000  # budget for the passages in a prompt
    answer_max_tokens: int = 400
    temperature: float = 0.0
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = 60.0
    openai_max_retries: int = 3
    openai_backoff: float = 0.5  # seconds; doubles each retry
    local_model_path: str = ""  # GGUF file; empty = the bundled Qwen2.5 1.5B from the `local` extra
    local_threads: int = 2
    local_context: int = 4096
    # model: the trained support model (qa/support_model.py) | lexical: lexical-semantic | judge: the local LLM
    support_scorer: SupportScorerName = "model"
    support_model_dir: str = ""  # empty = the bundled qa/models/support-minilm-int8
    support_model_threads: int = 0  # onnxruntime intra-op threads, 0 = its default
    # A cited sentence needs this support score (`support_cutoff` picks the scorer's): lexical and
    # judge by bench/calibrate.py, model on re-checked LLM answers (README, "Calibration"):
    support_threshold: float = 0.58
    support_model_threshold: float = 0.5
    refusal_threshold: float = 0.42  # least relevance of an answer sentence to the question
    min_passage_score: float = 0.21  # LLM backends: refuse without generating when no passage is this similar
    # The trained answer model (qa/answer_model.py); thresholds calibrated by
    # bench/calibrate_answer.py on SQuAD's train half and RealTime QA dev (README, "Calibration"):
    answer_model_dir: str = ""  # empty = the bundled qa/models/answer-minilm-int8
    answer_model_threads: int = 0  # onnxruntime intra-op threads, 0 = its default
    answer_passages: int = 5  # the extractive backend scores the sentences of this many top passages
    # Share of the answer model in a sentence's score, the rest is relevance; 0 turns the model off.
    # 0.5 and 0.30 chosen on dev questions stage 3 never trained on (qa/models/answer-minilm-int8/
    # README.md): RealTime QA dev right sentence 0.54 -> 0.77, SQuAD train half 0.83 -> 0.78.
    answer_model_weight: float = 0.5
    # Least score of the best sentence, else the extractive backend refuses. 0.30 since the answer
    # model's stage 5 (0.33 before it), which scores lower overall: it moves with the model.
    answer_threshold: float = 0.30
    # Deciding whether to answer, a sentence counts this much less per place its passage ranks below
    # the first (the best one is quoted either way; 0.05 and the threshold above: README, "Calibration").
    answer_rank_penalty: float = 0.05
    # How much a name of the question that a passage lacks still counts in its name coverage, unless
    # the passage names another place instead (qa.support.name_coverage); the extractive backend and
    # the relevance check of an LLM's answer (refusal_threshold) both apply it. 0.5, with a threshold of 0.36:
    # on the first 300 RealTime QA dev questions (stage 3 never trained on them) answerable refused
    # 0.267 -> 0.237 and right sentence 0.767 -> 0.797 at the same unanswerable refusal (0.75).
    absent_name_credit: float = 0.5
    answer_second_ratio: float = 0.9  # a second answer sentence must score this share of the best
    # Share of its score a sentence keeps when it lacks the kind of answer the question's wording asks
    # for (a percentage for "By what percentage ...?", a year it does not state for "What year ...?":
    # qa.question_shape); 1 = off. 0.6: SQuAD train half, the 28 percentage questions, contains gold
    # 0.857 -> 0.893 (0.8 changed nothing there); the 95 year questions 0.874 -> 0.884.
    answer_type_factor: float = 0.6
    # Asked about "this week" ("last week", "this month": qa.question_shape.period_days), answer only
    # from passages published in that period before the as-of date, plus this many days of slack;
    # undated ones stay. -1 = off. RealTime QA dev 600: bench/README.md, "this week".
    period_slack_days: int = 3
    # LLM backends can read the passages the answer model ranks first, leaving out those whose
    # best sentence is less likely than this to answer (the best passage is always kept). 0 = off.
    llm_passage_floor: float = 0.0

    # HTTP service
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str = ""  # when set, writes need it (X-API-Key or Bearer)
    require_key_for_reads: bool = False  # reads (and /metrics) need the key too
    # Without api_key, writes are refused unless the service listens on loopback only or this is set.
    open_writes: bool = False
    rate_limit_per_minute: int = 120  # per client, 0 = off
    cors_origins: tuple[str, ...] = ()  # origins allowed cross-origin access; empty = none, "*" = any
    trusted_proxies: tuple[str, ...] = ()  # IPs/networks whose X-Forwarded-For is believed; empty = none
    max_body_bytes: int = 5_000_000
    max_question_chars: int = 2000
    max_k: int = 50
    max_history_turns: int = 20  # messages of history a question may carry
    max_history_chars: int = 8000  # characters of history, all messages together
    max_json_depth: int = 32  # nesting of arrays and objects in a request body
    seeds_dir: Path = field(default_factory=lambda: bundled_dir("seeds"))  # ingested into an empty index

    def __post_init__(self) -> None:
        """Every check of a value, so a bad one fails here, naming its variable."""
        for name, choices in CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                expected = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}={value!r}: expected {expected}")
        if self.store == "scale" and not self.postgres_dsn:
            raise SettingsError("QA_STORE=scale needs QA_POSTGRES_DSN (docs/scale-out.md)")
        if not 0.0 <= self.recency_weight <= 1.0:
            raise SettingsError(f"QA_RECENCY_WEIGHT={self.recency_weight}: expected a number from 0 (off) to 1")
        if not 0.0 <= self.answer_type_factor <= 1.0:
            raise SettingsError(f"QA_ANSWER_TYPE_FACTOR={self.answer_type_factor}: expected a number from 0 to 1 (off)")
        if self.period_slack_days < -1:
            raise SettingsError(f"QA_PERIOD_SLACK_DAYS={self.period_slack_days}: expected -1 (off) or 0 days or more")
        if self.answer_rank_penalty < 0:
            raise SettingsError(f"QA_ANSWER_RANK_PENALTY={self.answer_rank_penalty}: expected 0 (off) or more")
        if self.recency_half_life_days <= 0:
            raise SettingsError(f"QA_RECENCY_HALF_LIFE_DAYS={self.recency_half_life_days}: expected more than 0 days")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(
                    f"QA_TRUSTED_PROXIES: {proxy!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)"
                ) from None
        for origin in self.cors_origins:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise SettingsError(
                    f"QA_CORS_ORIGINS: {origin!r} is not an origin: write scheme://host[:port], e.g. "
                    "https://news.example, or * for any"
                )

    @property
    def support_cutoff(self) -> float:
        """The least support score of a cited sentence under the chosen scorer."""
        return self.support_model_threshold if self.support_scorer == "model" else self.support_threshold

    @property
    def listens_on_loopback(self) -> bool:
        """True when `host` is a loopback address: only this machine can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `QA_*` variables, then apply `overrides` (CLI options; `None` means "not given")."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw == "" and typing.get_origin(hints[f.name]) is tuple:
                values[f.name] = ()  # an empty list is a value: QA_CORS_ORIGINS= means no origins
            elif raw is not None and raw != "":
                values[f.name] = _parse(ENV_PREFIX + f.name.upper(), raw, hints[f.name])
        for name, value in overrides.items():
            if value is None:
                continue
            if name not in hints:
                raise SettingsError(f"unknown setting {name!r}")
            values[name] = value
        return cls(**values)

    def model_for(self, requested: str | None) -> str:
        """The backend a request uses: the one it names, else the default `model`."""
        return requested or self.model

    def enabled_models(self) -> tuple[str, ...]:
        """The backends requests may use: `allowed_models`, always with the default `model`."""
        return tuple(dict.fromkeys((self.model, *self.allowed_models)))

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` applied (`None` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _choices(cls: type) -> dict[str, tuple[str, ...]]:
    """The settings typed `Literal[...]`, with their allowed values."""
    hints = typing.get_type_hints(cls)
    return {f.name: typing.get_args(hints[f.name]) for f in dataclasses.fields(cls)
            if typing.get_origin(hints[f.name]) is Literal}


CHOICES = _choices(Settings)  # checked by Settings.__post_init__


def _parse(name: str, raw: str, hint: Any) -> Any:
    if hint is Path:
        return Path(raw).expanduser()
    if hint is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name}={raw!r}: expected true or false")
    if hint in (int, float):
        try:
            return hint(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r}: expected a number") from None
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if hint is str or isinstance(hint, types.UnionType):
        return raw
    return raw
