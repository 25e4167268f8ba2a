"""A small OpenAI-compatible HTTP server (stdlib only) that streams like vLLM does.

It answers ``POST {prefix}/chat/completions`` and ``POST {prefix}/completions`` with
``stream: true`` as vLLM's OpenAI server does: ``text/event-stream``, one ``data: {json}``
event per generated token (the chat stream opens with an empty ``delta.role`` chunk), a last
choice chunk carrying ``finish_reason``, with ``stream_options.include_usage`` a chunk with
``choices: []`` and ``usage``, then ``data: [DONE]``. Without ``stream`` it answers one JSON
body. ``GET {prefix}/models`` lists the served model. Unknown model: 404 with vLLM's error
shape. Everything it received is kept in ``requests`` for assertions (with the Host header).
It also answers as an HTTP proxy would (``POST http://host/v1/...``), so a snippet that names a
host no DNS knows runs unchanged with ``HTTP_PROXY``/``http_proxy`` pointing here.

Behaviour knobs (attributes, change them between requests): ``first_token_delay`` and
``token_delay`` (seconds), ``stall`` (sleep this long before answering at all), ``fail_with``
(an HTTP status to answer instead), ``reply`` (the words generated).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class OpenAIServer:
    def __init__(self, model: str, prefix: str = "/openai/v1"):
        self.model = model
        self.prefix = prefix.rstrip("/")
        self.reply = "Paris is the capital of France and its largest city by far"
        self.first_token_delay = 0.05
        self.token_delay = 0.01
        self.stall = 0.0
        self.fail_with: int | None = None
        self.requests: list[dict] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The root URL, as KServe writes it into the InferenceService's status.url."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def parse_request(self):  # proxy form (absolute URI) -> origin form
                ok = super().parse_request()
                if ok and "://" in self.path:
                    self.path = urlsplit(self.path).path
                return ok

            def do_GET(self):
                if self.path == f"{server.prefix}/models":
                    self._json(200, {"object": "list", "data": [{"id": server.model}]})
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(
                    {
                        "path": self.path,
                        "body": body,
                        "host": self.headers.get("Host", ""),
                        "authorization": self.headers.get("Authorization", ""),
                    }
                )
                kind = {
                    f"{server.prefix}/chat/completions": "chat",
                    f"{server.prefix}/completions": "completion",
                }.get(self.path)
                if server.stall:
                    time.sleep(server.stall)
                if kind is None:
                    return self._json(404, {"detail": "Not Found"})
                if server.fail_with:
                    return self._error(server.fail_with, "The engine is overloaded.")
                if body.get("model") != server.model:
                    return self._error(404, f"The model `{body.get('model')}` does not exist.")
                words = server.reply.split(" ")[: int(body.get("max_tokens") or 16)]
                tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
                finish = "length" if len(tokens) < len(server.reply.split(" ")) else "stop"
                if not body.get("stream"):
                    return self._json(200, server.whole(kind, tokens, finish))
                self._stream(
                    kind,
                    tokens,
                    finish,
                    bool((body.get("stream_options") or {}).get("include_usage")),
                )

            def _stream(self, kind, tokens, finish, usage):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if kind == "chat":
                    self._event(server.chunk(kind, "", None, role=True))
                time.sleep(server.first_token_delay)
                for i, token in enumerate(tokens):
                    if i:
                        time.sleep(server.token_delay)
                    self._event(server.chunk(kind, token, None))
                self._event(server.chunk(kind, "", finish))
                if usage:
                    self._event(
                        {
                            "id": "cmpl-test",
                            "object": server.object_name(kind),
                            "created": 0,
                            "model": server.model,
                            "choices": [],
                            "usage": {
                                "prompt_tokens": 7,
                                "completion_tokens": len(tokens),
                                "total_tokens": 7 + len(tokens),
                            },
                        }
                    )
                self._write(b"data: [DONE]\n\n")
                self._write(b"")

            def _event(self, obj):
                self._write(f"data: {json.dumps(obj)}\n\n".encode())

            def _write(self, data: bytes):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _json(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status, message):
                self._json(
                    status,
                    {"object": "error", "message": message, "type": "BadRequestError",
                     "param": None, "code": status},
                )  # fmt: skip

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # --- the shapes vLLM sends ------------------------------------------------------------

    @staticmethod
    def object_name(kind: str) -> str:
        return "chat.completion.chunk" if kind == "chat" else "text_completion"

    def chunk(self, kind: str, text: str, finish: str | None, role: bool = False) -> dict:
        if kind == "chat":
            delta = {"role": "assistant", "content": ""} if role else {"content": text}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return {
            "id": "cmpl-test",
            "object": self.object_name(kind),
            "created": 0,
            "model": self.model,
            "choices": [choice],
        }

    def whole(self, kind: str, tokens: list[str], finish: str) -> dict:
        text = "".join(tokens)
        if kind == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": finish}  # fmt: skip
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
        return {"id": "cmpl-test", "object": "chat.completion" if kind == "chat" else
                "text_completion", "model": self.model, "choices": [choice],
                "usage": {"completion_tokens": len(tokens)}}  # fmt: skip
