"""The program each shard pod runs (placed in the container args by batch.manifests).

Standard library only (plus fsspec for s3:// and hf:// data, present in the vLLM image with
s3fs). Environment: JOB_COMPLETION_INDEX (set by the Job controller), SHARD_MAP (shard of
each completion index), SHARD_COUNT, INPUT (path or URI of the JSONL), OUTPUT (folder),
MODEL, VLLM_ARGS (JSON list).

1. The shard's output `shard-NNNNN.jsonl` exists: it was committed by an earlier attempt or
   run, so exit 0 at once (skip-if-committed).
2. Take lines i with i % SHARD_COUNT == shard from the input; a line that is not a JSON batch
   request is bad input: exit 3 (the Job's podFailurePolicy fails the job at once) with the
   reason as termination message.
3. `vllm run-batch` over the shard into scratch, copy to `shard-NNNNN.jsonl.tmp-<pod>`, then
   rename to the final name: the commit. An interrupted attempt leaves at most a temp file.
4. Termination message: JSON with requests and prompt/completion tokens (the portal reads it).
"""

import json
import os
import subprocess
import sys

BAD_INPUT = 3
SCRATCH = os.environ.get("SCRATCH", "/scratch")
TERMINATION_LOG = os.environ.get("TERMINATION_LOG", "/dev/termination-log")


def _fs(uri):
    if "://" not in uri:
        return None
    import fsspec

    return fsspec.core.url_to_fs(uri)[0]


def _exists(uri):
    fs = _fs(uri)
    return fs.exists(uri) if fs else os.path.exists(uri)


def _open(uri, mode):
    fs = _fs(uri)
    return fs.open(uri, mode) if fs else open(uri, mode)


def _commit(tmp, final):
    fs = _fs(final)
    if fs:
        fs.mv(tmp, final)
    else:
        os.replace(tmp, final)


def _finish(code, report):
    with open(TERMINATION_LOG, "w") as f:
        f.write(json.dumps(report)[:4000])
    sys.exit(code)


def _usage(path):
    requests = prompt = completion = 0
    with _open(path, "r") as f:
        for line in f:
            if not line.strip():
                continue
            requests += 1
            usage = ((json.loads(line).get("response") or {}).get("body") or {}).get("usage") or {}
            prompt += int(usage.get("prompt_tokens") or 0)
            completion += int(usage.get("completion_tokens") or 0)
    return {"requests": requests, "prompt_tokens": prompt, "completion_tokens": completion}


def _take_shard(shard, count, out_path):
    taken = 0
    with _open(os.environ["INPUT"], "r") as src, open(out_path, "w") as dst:
        for number, line in enumerate(src, start=1):
            if (number - 1) % count != shard or not line.strip():
                continue
            try:
                item = json.loads(line)
                ok = isinstance(item, dict) and item.get("custom_id") and item.get("body")
            except ValueError:
                ok = False
            if not ok:
                _finish(
                    BAD_INPUT,
                    {
                        "shard": shard,
                        "error": f"input line {number} is not a "
                        "batch request (JSON with custom_id and body)",
                    },
                )
            dst.write(line if line.endswith("\n") else line + "\n")
            taken += 1
    return taken


def main():
    index = int(os.environ["JOB_COMPLETION_INDEX"])
    shard = [int(s) for s in os.environ["SHARD_MAP"].split(",")][index]
    count = int(os.environ["SHARD_COUNT"])
    final = f"{os.environ['OUTPUT'].rstrip('/')}/shard-{shard:05d}.jsonl"
    if _exists(final):
        _finish(0, {"shard": shard, "skipped": True, **_usage(final)})
    if _fs(final) is None:
        os.makedirs(os.path.dirname(final), exist_ok=True)
    os.makedirs(SCRATCH, exist_ok=True)
    shard_in, shard_out = f"{SCRATCH}/in.jsonl", f"{SCRATCH}/out.jsonl"
    try:
        _take_shard(shard, count, shard_in)
    except OSError as exc:
        _finish(BAD_INPUT, {"shard": shard, "error": f"cannot read the input: {exc}"})
    args = json.loads(os.environ.get("VLLM_ARGS") or "[]")
    cmd = ["vllm", "run-batch", "-i", shard_in, "-o", shard_out, "--model", os.environ["MODEL"]]
    code = subprocess.call(cmd + args)
    if code != 0:
        _finish(code, {"shard": shard, "error": f"vllm run-batch exited with {code}"})
    tmp = f"{final}.tmp-{os.environ.get('HOSTNAME', 'pod')}"
    with open(shard_out, "rb") as src, _open(tmp, "wb") as dst:
        dst.write(src.read())
    _commit(tmp, final)
    _finish(0, {"shard": shard, **_usage(final)})


if __name__ == "__main__":
    main()
