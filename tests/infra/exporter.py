"""A tiny metrics exporter process that a test controls (stdlib only, no Django).

Run as a separate process so Prometheus scrapes a real HTTP endpoint::

    python tests/infra/exporter.py --port 0 --file /tmp/x/metrics.txt   # prints "PORT <n>"

``GET /metrics`` returns the current text (Prometheus text exposition format 0.0.4);
``PUT /metrics`` (or ``POST``) replaces it; the file given by ``--file`` is the initial text
and is re-read when it changes on disk, so a test may also just rewrite the file.

From tests use :class:`LiveExporter`::

    exp = LiveExporter().start()
    exp.set_text('vllm:num_requests_waiting{model_name="m",engine="0"} 3\\n')
    prom.add_scrape_target(exp.url, interval="1s", labels={"namespace": "ns", "pod": "p-0"})
    exp.stop()
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def serve(port: int, path: str | None):
    state = {"text": b"", "mtime": None}
    lock = threading.Lock()

    def current() -> bytes:
        with lock:
            if path and os.path.exists(path):
                m = os.stat(path).st_mtime_ns
                if m != state["mtime"]:
                    state["mtime"] = m
                    state["text"] = Path(path).read_bytes()
            return state["text"]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = current()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            with lock:
                state["text"] = body
                state["mtime"] = (
                    os.stat(path).st_mtime_ns if path and os.path.exists(path) else None
                )
            self.send_response(204)
            self.end_headers()

        do_POST = do_PUT

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"PORT {httpd.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=httpd.shutdown).start())
    httpd.serve_forever()


class LiveExporter:
    """Handle on an exporter subprocess (own process group, stopped by PID)."""

    def __init__(self, initial_text: str = ""):
        self.workdir = Path(tempfile.mkdtemp(prefix="modelport-exporter-"))
        self.file = self.workdir / "metrics.txt"
        self.file.write_text(initial_text)
        self.port = 0
        self._popen: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self, timeout: float = 10.0) -> LiveExporter:
        self._popen = subprocess.Popen(
            [sys.executable, __file__, "--port", "0", "--file", str(self.file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        line = self._popen.stdout.readline()
        if not line.startswith("PORT ") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"exporter did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def set_text(self, text: str):
        """Replace what ``GET /metrics`` returns (exposition text, trailing newline needed)."""
        req = urllib.request.Request(self.url, data=text.encode(), method="PUT")
        with urllib.request.urlopen(req, timeout=5):
            pass

    def get_text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as r:
            return r.read().decode()

    def stop(self):
        from tests.infra import stop_process_group  # this file also runs as a script

        p = self._popen
        stop_process_group(p, 5)
        if p is not None and p.stdout:
            p.stdout.close()
        self._popen = None
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--file")
    a = ap.parse_args()
    serve(a.port, a.file)
