"""A loopback OpenAI-compatible /v1/chat/completions that replies with `server.reply`, or echoes the whole
prompt when it is None; it streams (SSE, a few characters per chunk, usage last when asked) like vLLM does.
For the answer logic only: the tests against the real engine are in test_chat.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK_CHARS = 7  # small enough that sentences and even words arrive in pieces


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: Any = self.server
        server.calls += 1
        server.bodies.append(body)
        echo = "\n".join(m["content"] for m in body["messages"])
        content = server.reply if server.reply is not None else echo
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not body.get("stream"):
            out = json.dumps({
                "id": "stub", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": usage,
            }).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        model = body.get("model", "m")
        base = {"id": "stub", "object": "chat.completion.chunk", "created": 0, "model": model}
        pieces = [content[i : i + CHUNK_CHARS] for i in range(0, len(content), CHUNK_CHARS)]
        for i, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            self._event(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self._event(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(base | {"choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def openai_stub() -> Iterator[ThreadingHTTPServer]:
    """The stub on a free loopback port; set `.reply`, read `.calls` and `.bodies`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.reply, server.calls, server.bodies = None, 0, []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
