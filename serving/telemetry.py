"""What the chat service measures and logs: Prometheus metrics per app, and one JSON log line per request.

    metrics = ServingMetrics()                 # its own registry: two apps in one process never collide
    metrics.observe_answer(answer)             # retrieval / first sentence / generation times, tokens, ...
    app.add_middleware(request_telemetry, metrics=metrics)
    metrics.render()                           # text format, appended to the I/O gauges at /metrics

The names follow the NVIDIA RAG Blueprint's (`retrieval_time_ms`, `rag_ttft_ms`, `llm_generation_time_ms`)
so a dashboard built for it reads ours. The request line carries a request id (the client's `X-Request-ID`
when it is a sane token, else a new one), echoed in the response; it never holds a header's value or a
question, so no token and no personal data reach the log.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from serving.rag import Answer

access_log = logging.getLogger("vetted.access")

_MS_BUCKETS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000)
_SECONDS_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("vetted_http_requests", "HTTP requests by route and status",
                                ["route", "method", "status"], registry=r)  # fmt: skip
        self.request_seconds = Histogram("vetted_http_request_seconds", "Request time to the last byte",
                                         ["route"], buckets=_SECONDS_BUCKETS, registry=r)  # fmt: skip
        self.retrieval_ms = Histogram("vetted_retrieval_time_ms", "Retrieval time per answer",
                                      buckets=_MS_BUCKETS, registry=r)  # fmt: skip
        self.ttft_ms = Histogram("vetted_rag_ttft_ms", "Question to the first sentence sent",
                                 buckets=_MS_BUCKETS, registry=r)  # fmt: skip
        self.generation_ms = Histogram("vetted_llm_generation_time_ms", "Time in the model per answer",
                                       buckets=_MS_BUCKETS, registry=r)  # fmt: skip
        self.tokens = Counter("vetted_llm_tokens", "Engine tokens", ["direction"], registry=r)
        self.answers = Counter("vetted_answers", "Answers by mode", ["mode"], registry=r)
        self.refusals = Counter("vetted_refusals", "Answers with no vetted source", registry=r)
        self.masked = Counter("vetted_masked_outputs", "Spans masked or sentences withheld by the guard",
                              registry=r)  # fmt: skip
        self.unsupported = Counter("vetted_unsupported_sentences", "Generated claims the sources do not back",
                                   registry=r)  # fmt: skip
        self.engine_errors = Counter("vetted_engine_unavailable", "Answers refused with 503: engine down",
                                     registry=r)  # fmt: skip
        self.feedback = Counter("vetted_feedback", "Staff feedback on answers", ["rating"], registry=r)
        self.engine_up = Gauge("vetted_engine_up", "1 when the model engine answers its health check",
                               registry=r)  # fmt: skip

    def observe_answer(self, answer: Answer) -> None:
        self.answers.labels(answer.mode).inc()
        self.retrieval_ms.observe(answer.retrieval_ms)
        if not answer.has_safe_context:
            self.refusals.inc()
            return
        self.ttft_ms.observe(answer.ttft_ms)
        if answer.usage:  # a model call was made
            self.generation_ms.observe(answer.generation_ms)
            self.tokens.labels("in").inc(answer.usage.get("prompt_tokens", 0))
            self.tokens.labels("out").inc(answer.usage.get("completion_tokens", 0))
        self.masked.inc(answer.masked_outputs)
        self.unsupported.inc(sum(1 for s in answer.sentences if s.is_claim and not s.supported))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


def request_telemetry(app: Any, metrics: ServingMetrics) -> Any:
    """ASGI middleware: a request id on every response (X-Request-ID), the request counted and timed by
    route (the route's pattern, not the raw path: ids in paths would explode the label set), one JSON line."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        rid = request_id(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = rid
        start, status = time.perf_counter(), 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.requests.labels(route, scope["method"], str(status)).inc()
            metrics.request_seconds.labels(route).observe(seconds)
            principal = scope.get("state", {}).get("principal")
            access_log.info(json.dumps({
                "event": "request", "request_id": rid, "method": scope["method"], "route": route,
                "status": status, "ms": round(seconds * 1000, 1),
                "who": getattr(principal, "name", None),
            }))  # fmt: skip

    return middleware


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (a message that is JSON already is merged)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(), "logger": record.name,
        }  # fmt: skip
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        line |= parsed if isinstance(parsed, dict) else {"message": message}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure_json_logging(level: int = logging.INFO) -> None:
    """`vetted serve`'s logs as JSON lines on stderr: the access lines and every library's warnings. httpx
    logs each outgoing request at INFO (the engine calls): kept at WARNING, one line per question will do."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "openai", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
