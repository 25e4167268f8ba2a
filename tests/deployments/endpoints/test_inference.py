"""deployments.endpoints.inference: the playground's figures do not depend on how chunks arrive.

The HTTP path is exercised for real in test_endpoint_playground_view.py; here the response is
a stand-in so the clock can say exactly when each chunk was read."""

import json

import pytest

from deployments.endpoints import inference


class _Stream:
    """A 200 SSE response whose chunks the client reads at the given clock times."""

    status_code = 200

    def __init__(self, clock, reads: list[tuple[float, str]]):
        self.clock, self.reads = clock, reads

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_lines(self, chunk_size=None):
        for at, text in self.reads:
            self.clock.now = at
            chunk = {"choices": [{"delta": {"content": text}, "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}".encode()
        usage = {"choices": [], "usage": {"completion_tokens": len(self.reads)}}
        yield f"data: {json.dumps(usage)}".encode()
        yield b"data: [DONE]"


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _done(monkeypatch, reads):
    clock = _Clock()
    monkeypatch.setattr(inference.requests, "post", lambda *a, **k: _Stream(clock, reads))
    *tokens, done = inference.stream_prompt("http://x.invalid/v1", "chat", "hi", clock=clock)
    assert [t["text"] for t in tokens] == [text for _, text in reads]
    return done


@pytest.mark.parametrize(
    "reads",
    [
        # one token every 0.1 s after a 0.6 s time to first token
        [(0.6, "a"), (0.7, "b"), (0.8, "c"), (0.9, "d"), (1.0, "e")],
        # the same answer, the last four tokens coalesced into one read
        [(0.6, "a"), (1.0, "b"), (1.0, "c"), (1.0, "d"), (1.0, "e")],
        # the same answer, all five tokens read at once by a busy client
        [(1.0, "a"), (1.0, "b"), (1.0, "c"), (1.0, "d"), (1.0, "e")],
    ],
    ids=["spread", "tail-coalesced", "all-coalesced"],
)
def test_rate_is_tokens_over_the_whole_request_however_chunks_coalesce(monkeypatch, reads):
    done = _done(monkeypatch, reads)
    assert done["tokens"] == 5 and done["tokens_per_s"] == 5.0  # 5 tokens in 1.0 s
    assert done["ttft_ms"] == round(reads[0][0] * 1000)


def test_no_token_has_no_rate(monkeypatch):
    done = _done(monkeypatch, [])
    assert (done["tokens"], done["tokens_per_s"], done["ttft_ms"]) == (0, None, None)
