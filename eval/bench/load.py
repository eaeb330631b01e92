"""Load: concurrent streaming clients against the whole chat service and the real vLLM engine, on loopback.

    .venv/bin/python -m eval.bench.load                          # 50 clients for 60 s (the issue's figure)
    .venv/bin/python -m eval.bench.load --clients 8 --seconds 20 --json load.json

Each client loops until the time is up: a Python FAQ question (seeded order) through OpenAI's streaming
`/v1/chat/completions` with a staff token, the first content chunk timed (time to first token: in verified
mode the first checked sentence) and the last (`data: [DONE]`). In-flight requests are let finish (each is
bounded by the client timeout) and counted. The service runs as `vetted serve` builds it, over the curated
test-corpus work folder the evaluation caches, with the rate limit off (50 clients share no token here, but
each asks far more than 60 a minute would allow if they did). Reports status counts (the goal: no
5xx), p50/p99 of both times, answers and engine tokens per second, and the machine.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from eval.bench import common


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def one(client: httpx.AsyncClient, question: str) -> dict[str, Any]:
    body = {"model": "vetted", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": question}]}  # fmt: skip
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as reply:
            if reply.status_code != 200:
                await reply.aread()
                return {"status": reply.status_code, "total_ms": (time.perf_counter() - start) * 1000}
            async for line in reply.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    return {"status": "stream_error", "total_ms": (time.perf_counter() - start) * 1000}
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                delta = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
                if delta and first is None:
                    first = (time.perf_counter() - start) * 1000
    except httpx.HTTPError as exc:
        return {"status": type(exc).__name__, "total_ms": (time.perf_counter() - start) * 1000}
    total_ms = (time.perf_counter() - start) * 1000
    return {"status": 200, "ttft_ms": first, "total_ms": total_ms, "tokens": tokens}


async def drive(url: str, token: str, questions: list[str], clients: int, seconds: float,
                timeout_s: float) -> tuple[list[dict[str, Any]], float]:  # fmt: skip
    deadline = time.perf_counter() + seconds
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(n: int) -> None:
        order = random.Random(n).sample(questions, len(questions))
        client = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout_s, limits=limits)
        async with client:
            i = 0
            while time.perf_counter() < deadline:
                results.append(await one(client, order[i % len(order)]))
                i += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(clients)))
    return results, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=300.0, help="per request, in seconds")
    args = p.parse_args(argv)

    from eval.build_qa import python_faq_pairs
    from eval.harness import EvalContext
    from pipelines.core.model_cache import ensure_base_model
    from serving.accounts import AccountStore, Role
    from serving.engine import VLLMEngine, find_engine_python, free_port
    from serving.runtime import chat_service, running_app

    corpus = common.corpus(args.corpus)
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    settings = common.settings_for(scratch, corpus)
    ctx = EvalContext.from_settings(settings, common.REPO / ".cache" / "eval-work")
    work = ctx.workdir(corpus, "curated").path
    settings = common.settings_for(work, corpus)
    questions = [pair.question for pair in python_faq_pairs(corpus)]
    accounts = AccountStore(scratch / "accounts.db")
    accounts.add_user("load", Role.STAFF)
    token = accounts.issue("load", expires_days=1).token
    engine_settings = settings.engine
    with VLLMEngine(
        model_dir=ensure_base_model(common.REPO / ".cache" / "bench-models"),  # converted once, kept
        served_name=engine_settings.served_model_name,
        python=find_engine_python(common.REPO), max_model_len=engine_settings.max_model_len,
        log_path=scratch / "vllm.log",
    ) as engine:  # fmt: skip
        service = chat_service(settings, engine.base_url, ctx.embedder)
        service.engine_up = engine.is_up
        with running_app(service, host="127.0.0.1", port=free_port(), accounts=accounts) as url:
            results, wall = asyncio.run(
                drive(url, token, questions, args.clients, args.seconds, args.timeout)
            )
    ok = [r for r in results if r["status"] == 200]
    statuses = Counter(str(r["status"]) for r in results)
    ttft = [r["ttft_ms"] for r in ok if r.get("ttft_ms") is not None]
    total = [r["total_ms"] for r in ok]
    report = {
        "clients": args.clients, "seconds": args.seconds, "wall_s": round(wall, 1), "requests": len(results),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500),
        "ttft_ms_p50": percentile(ttft, 0.5), "ttft_ms_p99": percentile(ttft, 0.99),
        "last_token_ms_p50": percentile(total, 0.5), "last_token_ms_p99": percentile(total, 0.99),
        "answers_per_s": round(len(ok) / wall, 2),
        "engine_tokens_per_s": round(sum(r.get("tokens", 0) for r in ok) / wall, 1),
        "mean_completion_tokens": round(statistics.mean(r.get("tokens", 0) for r in ok), 1) if ok else None,
        "answer_mode": settings.answers.mode,
    }  # fmt: skip
    print(json.dumps(common.report("load", report, args.json), indent=2))
    return 0 if report["server_errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
