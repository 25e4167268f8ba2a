"""The one way the portal talks to a served model: the endpoint page's playground.

`stream_prompt(base_url, model, prompt, ...)` POSTs one prompt to the endpoint's
OpenAI-compatible API (`/chat/completions` or `/completions` under the runtime's prefix,
`stream: true`) and yields what the page shows, as plain dicts:

* ``{"type": "token", "text": "..."}`` for every piece of generated text;
* ``{"type": "done", "ttft_ms", "tokens", "tokens_per_s", "finish_reason", "truncated",
  "prompt_tokens"}`` last (`prompt_tokens` from the server's usage, None when it sent none);
* ``{"type": "error", "message": "..."}`` instead of "done" when the endpoint fails.

No SSRF: the only URL ever called is `base_url`, which the view takes from the endpoint's
status (written from the InferenceService's `status.url` by `sync_statuses`, never from user
input), plus a fixed path; redirects are not followed. Limits: the connection and every read
time out (`timeout`), the whole answer stops at `deadline` seconds and `max_bytes` bytes, the
prompt and `max_tokens` are capped by the caller (`PLAYGROUND_*` settings). Error messages
never repeat the URL.

Time to first token is measured from sending the request to the first chunk with text.
tokens/s is the rate of the whole request: completion tokens (the server's
`usage.completion_tokens` when it sends it, else one token per text chunk, which is what vLLM
streams) over the time from sending the request to the arrival of the last token, time to
first token included. Not the decode rate over first -> last arrival: the network and a busy
client coalesce chunks (several tokens read at once), which shrinks that span towards zero and
showed tens of thousands of tokens/s; vLLM's stream carries no server timing to floor it with.
The request span is never shorter than the real generation, so the figure can read low on a
slow client but never inflated. The page says so next to the figure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

CHAT, COMPLETION = "chat", "completion"
PATHS = {CHAT: "/chat/completions", COMPLETION: "/completions"}


def _body(mode: str, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if mode == CHAT:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return body


def _text(chunk: dict[str, Any], mode: str) -> tuple[str, str | None]:
    choices = chunk.get("choices") or []
    if not choices:
        return "", None
    choice = choices[0] or {}
    if mode == CHAT:
        text = (choice.get("delta") or {}).get("content") or ""
    else:
        text = choice.get("text") or ""
    return text, choice.get("finish_reason")


def _sse_data(lines: Iterator[bytes]) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream."""
    for raw in lines:
        line = raw.decode("utf-8", "replace").strip()
        if line.startswith("data:"):
            yield line[5:].strip()


def _stats(started: float, first: float | None, last: float | None, tokens: int) -> dict[str, Any]:
    """Time to first token, and tokens/s over the whole request (see the module docstring)."""
    ttft = None if first is None else round((first - started) * 1000)
    rate = None
    if last is not None and tokens > 0 and last > started:
        rate = round(tokens / (last - started), 1)
    return {"ttft_ms": ttft, "tokens": tokens, "tokens_per_s": rate}


def _error_text(resp: requests.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    detail = data.get("message") or (data.get("error") or {}).get("message") or data.get("detail")
    return f"HTTP {resp.status_code}: {str(detail)[:300]}" if detail else f"HTTP {resp.status_code}"


def stream_prompt(
    base_url: str,
    model: str,
    prompt: str,
    *,
    mode: str = CHAT,
    max_tokens: int = 256,
    timeout: float = 30.0,
    deadline: float = 120.0,
    max_bytes: int = 262144,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[dict[str, Any]]:
    """Send one prompt and yield the answer as it streams (see the module docstring)."""
    url = base_url.rstrip("/") + PATHS[mode]
    started = clock()
    try:
        resp = requests.post(
            url,
            json=_body(mode, model, prompt, max_tokens),
            stream=True,
            timeout=(min(timeout, 10.0), timeout),
            allow_redirects=False,
            headers={"Accept": "text/event-stream"},
        )
    except requests.Timeout:
        yield {"type": "error", "message": "The endpoint did not answer in time."}
        return
    except requests.RequestException as exc:
        yield {"type": "error", "message": f"Cannot reach the endpoint ({type(exc).__name__})."}
        return
    with resp:
        if resp.status_code != 200:
            yield {"type": "error", "message": f"The endpoint refused: {_error_text(resp)}."}
            return
        yield from _relay(resp, mode, started, clock, deadline, max_bytes)


def _relay(resp, mode, started, clock, deadline, max_bytes) -> Iterator[dict[str, Any]]:
    first = last = None
    chunks, usage_tokens, received, finish, truncated = 0, None, 0, None, None
    prompt_tokens = None
    try:
        for data in _sse_data(resp.iter_lines(chunk_size=None)):
            received += len(data)
            if data == "[DONE]":
                break
            if received > max_bytes:
                truncated = f"stopped after {max_bytes // 1024} KiB"
                break
            if clock() - started > deadline:
                truncated = f"stopped after {deadline:.0f} s"
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            usage = chunk.get("usage") or {}
            if usage.get("completion_tokens") is not None:
                usage_tokens = int(usage["completion_tokens"])
            if usage.get("prompt_tokens") is not None:
                prompt_tokens = int(usage["prompt_tokens"])
            text, reason = _text(chunk, mode)
            finish = reason or finish
            if text:
                now = clock()
                first = now if first is None else first
                last, chunks = now, chunks + 1
                yield {"type": "token", "text": text}
    except requests.RequestException as exc:
        yield {"type": "error", "message": f"The stream broke off ({type(exc).__name__})."}
        return
    tokens = usage_tokens if usage_tokens is not None else chunks
    yield {
        "type": "done",
        **_stats(started, first, last, tokens),
        "finish_reason": finish,
        "truncated": truncated,
        "prompt_tokens": prompt_tokens,
    }
