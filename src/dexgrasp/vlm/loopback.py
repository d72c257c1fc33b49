"""A scripted chat-completions server on 127.0.0.1, for testing clients and planners offline.

Each request pops the next :class:`Reply` from the script (the last one repeats): a text
answer, an HTTP error status, a delay before answering (to provoke time-outs) or a raw
body (to send malformed JSON). Received requests are kept in ``requests``.

Example::

    with LoopbackChatServer([Reply(status=503), Reply(text="True")]) as server:
        client = OpenAICompatibleClient(OpenAIClientConfig(base_url=server.base_url, ...))
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. ``raw`` (bytes) overrides ``text``; ``delay_s`` waits first."""

    text: str | None = "OK"
    status: int = 200
    delay_s: float = 0.0
    raw: bytes | None = None


class LoopbackChatServer:
    """Threaded HTTP server speaking ``POST /v1/chat/completions``."""

    def __init__(self, script: list[Reply] | None = None) -> None:
        self.script = list(script or [Reply()])
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body)
                except json.JSONDecodeError:
                    payload = {"_undecodable": body.decode("utf-8", "replace")}
                payload["_path"] = self.path
                payload["_auth"] = self.headers.get("Authorization", "")
                reply = server._next(payload)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw is not None:
                    data = reply.raw
                elif reply.status != 200:
                    data = json.dumps({"error": {"message": f"scripted {reply.status}"}}).encode()
                else:
                    data = json.dumps(_completion(payload.get("model", "m"), reply.text)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # client timed out and left
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _next(self, payload: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(payload)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> LoopbackChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _completion(model: str, text: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
