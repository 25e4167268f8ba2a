"""vLLM's own batch runner, committing as it goes (runs in the vLLM image, started by
entrypoint.py; never imported by the portal).

    python -c RUNNER -i SHARD_IN --parts-dir DIR [--commit-every N] [--commit-seconds S]
                     --model MODEL [vLLM engine arguments ...]

`vllm run-batch` (vllm.entrypoints.openai.run_batch) loads the engine once, sends every request
of the file to it at once and writes the output file only at the very end: a shard stopped a
minute before the end (spot reclaim) has nothing to show for its hours. This runs the same
pieces of vLLM's runner (its argument parser, `build_async_engine_client`,
`build_endpoint_registry`, `handle_endpoint_request`, `BatchRequestInput`,
`BatchRequestOutput`: the same handlers and the same output lines) but writes the answers as
they finish: every N answers or S seconds, whichever first, a part file `part-NNNNN.jsonl` in
DIR (temp name, then rename: a part is whole or absent). entrypoint.py copies each part to the
job's output (the commit); a resumed attempt leaves out the requests already committed.

Before loading the model, every line is parsed as vLLM's runner parses it: a line it would
refuse (vLLM 0.24's runner takes only /v1/chat/completions, /v1/embeddings, score, rerank and
audio: a `/v1/completions` body fails its validation and `vllm run-batch` dies on the whole
file) exits with status 3 and the reason on stderr ("BAD INPUT: ..."). Progress on stderr:
"Running batch: n/total" after each part (n answers committed to parts so far).
"""

import argparse
import asyncio
import os
import sys
import time

BAD_INPUT = 3


def _parse():
    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--parts-dir", required=True)
    ours.add_argument("--commit-every", type=int, default=100)
    ours.add_argument("--commit-seconds", type=float, default=60.0)
    known, rest = ours.parse_known_args()
    from vllm.entrypoints.openai import run_batch as rb
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = rb.make_arg_parser(FlexibleArgumentParser(description="ModelPort shard runner"))
    # -o is required by vLLM's parser; answers go to the parts directory instead.
    args = parser.parse_args([*rest, "-o", os.path.join(known.parts_dir, "unused.jsonl")])
    return known, args


def _requests(rb, path):
    requests = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                requests.append(rb.BatchRequestInput.model_validate_json(line))
            except Exception as exc:  # pydantic.ValidationError, ValueError
                first = str(exc).splitlines()
                reason = " ".join(first[:3])[:500]
                print(f"BAD INPUT: shard request {number}: {reason}", file=sys.stderr, flush=True)
                sys.exit(BAD_INPUT)
    return requests


class Parts:
    def __init__(self, folder, every, seconds, total):
        self.folder, self.every, self.seconds, self.total = folder, every, seconds, total
        self.pending, self.sequence, self.done = [], 0, 0
        self.last = time.monotonic()
        os.makedirs(folder, exist_ok=True)

    def add(self, output):
        self.pending.append(output.model_dump_json())
        if len(self.pending) >= self.every or time.monotonic() - self.last >= self.seconds:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        final = os.path.join(self.folder, f"part-{self.sequence:05d}.jsonl")
        with open(final + ".tmp", "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in self.pending))
            f.flush()
            os.fsync(f.fileno())
        os.replace(final + ".tmp", final)
        self.sequence += 1
        self.done += len(self.pending)
        self.pending, self.last = [], time.monotonic()
        print(f"Running batch: {self.done}/{self.total}", file=sys.stderr, flush=True)


async def _run(known, args):
    from vllm.entrypoints.openai import run_batch as rb
    from vllm.entrypoints.openai.api_server import build_async_engine_client
    from vllm.usage.usage_lib import UsageContext

    requests = _requests(rb, args.input_file)
    rb.validate_run_batch_args(args)
    parts = Parts(known.parts_dir, known.commit_every, known.commit_seconds, len(requests))
    async with build_async_engine_client(
        args, usage_context=UsageContext.OPENAI_BATCH_RUNNER
    ) as engine_client:
        registry = await rb.build_endpoint_registry(engine_client=engine_client, args=args)
        tracker = rb.BatchProgressTracker()
        parts.last = time.monotonic()  # COMMIT_SECONDS count from the first request, not the load
        futures = []
        for request in requests:  # as vllm run-batch submits them: all at once
            config = registry.get(request.url.split("/")[-1])
            result = rb.handle_endpoint_request(request, tracker, **config) if config else None
            if result is None:
                result = rb.make_async_error_request_output(
                    request, error_msg=f"URL {request.url} is not served by vLLM's batch runner"
                )
            futures.append(asyncio.ensure_future(result))
        for finished in asyncio.as_completed(futures):
            parts.add(await finished)
        parts.flush()


def main():
    known, args = _parse()
    asyncio.run(_run(known, args))


if __name__ == "__main__":
    main()
