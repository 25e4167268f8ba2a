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
4. Progress marker `shard-NNNNN.progress.json` next to the output, replaced atomically (temp
   name, then rename): state (running / committed / interrupted / failed), requests of the
   shard, requests done (read from vllm run-batch's progress bar on stderr, "n/total"), the
   pod, the time. Written when the shard starts, at most every PROGRESS_EVERY seconds while it
   runs, on SIGTERM (spot reclaim, drain: the pod gets its grace period) and at the end.
5. Termination message: JSON with requests, requests done and prompt/completion tokens (the
   portal reads it: the progress of every attempt, interrupted ones included).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

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


PROGRESS_EVERY = float(os.environ.get("PROGRESS_EVERY") or 30)
PROGRESS_RE = re.compile(r"(\d+)/(\d+)")
STATE = {"marker": None, "shard": None, "requests": 0, "done": 0, "written": 0.0, "child": None}


def _marker(state, force=False):
    """Replace the progress marker (temp name, then rename), at most every PROGRESS_EVERY s."""
    now = time.time()
    if STATE["marker"] is None or not force and now - STATE["written"] < PROGRESS_EVERY:
        return
    STATE["written"] = now
    body = {
        "shard": STATE["shard"],
        "state": state,
        "requests": STATE["requests"],
        "requests_done": STATE["done"],
        "pod": os.environ.get("HOSTNAME", ""),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    }
    tmp = f"{STATE['marker']}.tmp-{os.environ.get('HOSTNAME', 'pod')}"
    try:
        with _open(tmp, "w") as f:
            f.write(json.dumps(body))
        _commit(tmp, STATE["marker"])
    except OSError as exc:  # progress is best effort: the shard's output is what counts
        print(f"progress marker not written: {exc}", file=sys.stderr)


def _finish(code, report, state=None):
    if state:
        _marker(state, force=True)
    report.setdefault("requests", STATE["requests"])
    report.setdefault("requests_done", STATE["done"])
    with open(TERMINATION_LOG, "w") as f:
        f.write(json.dumps(report)[:4000])
    sys.exit(code)


def _on_sigterm(signum, frame):
    """Interrupted (spot reclaim, drain, preemption): stop vLLM, record how far the shard got."""
    child = STATE["child"]
    if child is not None and child.poll() is None:
        child.terminate()
    _finish(143, {"shard": STATE["shard"], "interrupted": True}, "interrupted")


def _run_vllm(cmd):
    """Run vllm run-batch, passing its stderr through and following its progress bar."""
    child = STATE["child"] = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    pending = b""
    while True:
        chunk = child.stderr.read1(4096) if hasattr(child.stderr, "read1") else b""
        if not chunk:
            break
        sys.stderr.buffer.write(chunk)
        pending = (pending + chunk)[-4096:]
        for line in re.split(rb"[\r\n]", pending):  # tqdm redraws after a carriage return
            text = line.decode("utf-8", "replace")
            found = "batch" in text.lower() and PROGRESS_RE.search(text)
            if found and int(found.group(2)) == STATE["requests"]:
                STATE["done"] = max(STATE["done"], int(found.group(1)))
        pending = re.split(rb"[\r\n]", pending)[-1]
        _marker("running")
    code = child.wait()
    STATE["child"] = None
    return code


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
                    "failed",
                )
            dst.write(line if line.endswith("\n") else line + "\n")
            taken += 1
    return taken


def main():
    index = int(os.environ["JOB_COMPLETION_INDEX"])
    shard = [int(s) for s in os.environ["SHARD_MAP"].split(",")][index]
    count = int(os.environ["SHARD_COUNT"])
    folder = os.environ["OUTPUT"].rstrip("/")
    final = f"{folder}/shard-{shard:05d}.jsonl"
    STATE["shard"] = shard
    if _exists(final):
        usage = _usage(final)
        STATE["requests"] = STATE["done"] = usage["requests"]
        _finish(0, {"shard": shard, "skipped": True, **usage})
    if _fs(final) is None:
        os.makedirs(os.path.dirname(final), exist_ok=True)
    STATE["marker"] = f"{folder}/shard-{shard:05d}.progress.json"
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.makedirs(SCRATCH, exist_ok=True)
    shard_in, shard_out = f"{SCRATCH}/in.jsonl", f"{SCRATCH}/out.jsonl"
    try:
        STATE["requests"] = _take_shard(shard, count, shard_in)
    except OSError as exc:
        _finish(BAD_INPUT, {"shard": shard, "error": f"cannot read the input: {exc}"}, "failed")
    _marker("running", force=True)
    args = json.loads(os.environ.get("VLLM_ARGS") or "[]")
    cmd = ["vllm", "run-batch", "-i", shard_in, "-o", shard_out, "--model", os.environ["MODEL"]]
    code = _run_vllm(cmd + args)
    if code != 0:
        _finish(code, {"shard": shard, "error": f"vllm run-batch exited with {code}"}, "failed")
    tmp = f"{final}.tmp-{os.environ.get('HOSTNAME', 'pod')}"
    with open(shard_out, "rb") as src, _open(tmp, "wb") as dst:
        dst.write(src.read())
    _commit(tmp, final)
    STATE["done"] = STATE["requests"]
    _finish(0, {"shard": shard, **_usage(final)}, "committed")


if __name__ == "__main__":
    main()
