"""The program each shard pod runs (placed in the container command by batch.manifests).

Standard library only (plus fsspec for s3:// and hf:// data, present in the vLLM image with
s3fs). Environment: JOB_COMPLETION_INDEX (set by the Job controller), SHARD_MAP (shard of
each completion index), SHARD_COUNT, INPUT (path or URI of the JSONL), OUTPUT (folder),
MODEL, VLLM_ARGS (JSON list), COMMIT_EVERY / COMMIT_SECONDS (how often answers are committed).

1. The shard's output `shard-NNNNN.jsonl` exists: it was committed by an earlier attempt or
   run, so exit 0 at once (skip-if-committed).
2. Take lines i with i % SHARD_COUNT == shard from the input; a line that is not a JSON batch
   request, or a custom_id repeated anywhere in the file (so the job's output ids are unique
   across shards), is bad input: exit 3 (the Job's podFailurePolicy fails the
   job at once) with the reason as termination message.
3. Answers already committed by an earlier attempt (part files `shard-NNNNN.part-*.jsonl` in
   OUTPUT, left by an attempt that was stopped: spot reclaim, drain) are kept; only the other
   requests go to the runner. So a resumed shard never redoes a committed request.
4. The runner (shard_runner.py: vLLM's own batch runner, in the image's python) answers them
   and writes a part file every COMMIT_EVERY answers or COMMIT_SECONDS; each part is copied
   to OUTPUT as `shard-NNNNN.part-<pod>-NNNNN.jsonl` (temp name, then rename: the commit) as
   soon as it appears, and on SIGTERM before the pod goes.
5. When every request of the shard has an answer, the parts are merged in input order (one
   line per custom_id) into `shard-NNNNN.jsonl` (temp name, then rename) and removed.
6. Progress marker `shard-NNNNN.progress.json` next to the output, replaced atomically (temp
   name, then rename): state (running / committed / interrupted / failed), requests of the
   shard, requests done (committed answers), the pod, the time. Written when the shard
   starts, at most every PROGRESS_EVERY seconds while it runs, on SIGTERM and at the end.
7. Termination message: JSON with requests, requests done, resumed_from (answers committed
   before this attempt) and prompt/completion tokens (the portal reads it).
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
COMMIT_EVERY = int(os.environ.get("COMMIT_EVERY") or 100)
COMMIT_SECONDS = float(os.environ.get("COMMIT_SECONDS") or 60)
STATE = {"marker": None, "shard": None, "requests": 0, "done": 0, "written": 0.0, "child": None,
         "folder": None, "parts": None, "copied": {}, "resumed": 0, "bad_input": None}  # fmt: skip


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


def _part_prefix(shard):
    return f"{STATE['folder']}/shard-{shard:05d}.part-"


def _committed_parts(shard):
    """The part files of this shard committed in OUTPUT (by any attempt), sorted."""
    prefix = _part_prefix(shard)
    fs = _fs(prefix)
    if fs:
        found = fs.glob(prefix + "*.jsonl")
        scheme = prefix.split("://", 1)[0]
        found = [f if "://" in f else f"{scheme}://{f}" for f in found]
    else:
        folder = os.path.dirname(prefix)
        name = os.path.basename(prefix)
        found = [
            os.path.join(folder, f)
            for f in (os.listdir(folder) if os.path.isdir(folder) else [])
            if f.startswith(name) and f.endswith(".jsonl")
        ]
    return sorted(found)


def _committed_answers(shard):
    """custom_id -> answer line, from the committed parts (the first answer of an id wins)."""
    answers = {}
    for path in _committed_parts(shard):
        with _open(path, "r") as f:
            for line in f:
                if line.strip():
                    answers.setdefault(json.loads(line)["custom_id"], line.rstrip("\n"))
    return answers


def _copy_parts():
    """Commit the runner's finished parts (scratch) to OUTPUT: temp name, then rename."""
    folder = STATE["parts"]
    if not folder or not os.path.isdir(folder):
        return
    pod = os.environ.get("HOSTNAME", "pod")
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("part-") and name.endswith(".jsonl")) or name in STATE["copied"]:
            continue
        final = f"{_part_prefix(STATE['shard'])}{pod}-{name[len('part-') :]}"
        tmp = f"{final}.tmp-{pod}"
        with open(os.path.join(folder, name), "rb") as src:
            data = src.read()
        with _open(tmp, "wb") as dst:
            dst.write(data)
        _commit(tmp, final)  # the same name again (SIGTERM mid-copy) is the same commit
        STATE["copied"][name] = sum(1 for line in data.splitlines() if line.strip())
        STATE["done"] = STATE["resumed"] + sum(STATE["copied"].values())


def _on_sigterm(signum, frame):
    """Interrupted (spot reclaim, drain, preemption): stop the runner, commit the parts it
    finished, record how far the shard got."""
    child = STATE["child"]
    if child is not None and child.poll() is None:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
    try:
        _copy_parts()
    except OSError as exc:
        print(f"parts not committed: {exc}", file=sys.stderr)
    _finish(143, {"shard": STATE["shard"], "interrupted": True}, "interrupted")


def _runner():
    """The runner's command: RUNNER (a JSON list) if set, else this python running
    shard_runner.py (manifests put its source in SHARD_RUNNER, ahead of this program)."""
    if os.environ.get("RUNNER"):
        return json.loads(os.environ["RUNNER"])
    source = globals().get("SHARD_RUNNER")
    if not source:
        raise SystemExit("no shard runner: SHARD_RUNNER is not defined and RUNNER is not set")
    return [sys.executable, "-c", source]


def _run_runner(cmd):
    """Run the runner, passing its stderr through; commit each part it reports."""
    child = STATE["child"] = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    pending = b""
    while True:
        chunk = child.stderr.read1(4096) if hasattr(child.stderr, "read1") else b""
        if not chunk:
            break
        sys.stderr.buffer.write(chunk)
        pending += chunk
        lines = re.split(rb"[\r\n]", pending)
        pending = lines.pop()[-4096:]
        for line in lines:
            text = line.decode("utf-8", "replace")
            if text.startswith("BAD INPUT: "):
                STATE["bad_input"] = text[len("BAD INPUT: ") :]
            elif text.startswith("Running batch: "):
                _copy_parts()
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


def _take_shard(shard, count, out_path, answered):
    """Write the shard's requests not yet answered to out_path; every custom_id of the shard,
    in input order."""
    ids, seen = [], set()  # seen: the whole file's ids, so every shard refuses a repeat
    with _open(os.environ["INPUT"], "r") as src, open(out_path, "w") as dst:
        for number, line in enumerate(src, start=1):
            if not line.strip():
                continue
            mine = (number - 1) % count == shard
            try:
                item = json.loads(line)
                ok = isinstance(item, dict) and item.get("custom_id") and item.get("body")
            except ValueError:
                ok = False
            error = None
            if not ok:
                if not mine:
                    continue  # the shard that owns the line reports it
                error = f"input line {number} is not a batch request (JSON with custom_id and body)"
            elif str(item["custom_id"]) in seen:
                error = f"input line {number} repeats custom_id {str(item['custom_id'])[:100]!r}"
            if error:
                _finish(BAD_INPUT, {"shard": shard, "error": error}, "failed")
            seen.add(str(item["custom_id"]))
            if not mine:
                continue
            ids.append(item["custom_id"])
            if item["custom_id"] not in answered:
                dst.write(line if line.endswith("\n") else line + "\n")
    return ids


def _merge(final, ids, answered):
    """The shard's output: one answer per custom_id, in input order (temp name, then rename)."""
    missing = [i for i in ids if i not in answered]
    if missing:
        _finish(1, {"shard": STATE["shard"], "error": f"{len(missing)} requests have no answer "
                    f"(first: {str(missing[0])[:100]!r})"}, "failed")  # fmt: skip
    tmp = f"{final}.tmp-{os.environ.get('HOSTNAME', 'pod')}"
    with _open(tmp, "w") as dst:
        dst.write("".join(answered[i] + "\n" for i in ids))
    _commit(tmp, final)
    for path in _committed_parts(STATE["shard"]):
        try:
            fs = _fs(path)
            fs.rm(path) if fs else os.remove(path)
        except OSError as exc:  # harmless: the shard's output exists, so it is never re-read
            print(f"part not removed: {exc}", file=sys.stderr)


def main():
    index = int(os.environ["JOB_COMPLETION_INDEX"])
    shard = [int(s) for s in os.environ["SHARD_MAP"].split(",")][index]
    count = int(os.environ["SHARD_COUNT"])
    folder = STATE["folder"] = os.environ["OUTPUT"].rstrip("/")
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
    shard_in = f"{SCRATCH}/in.jsonl"
    STATE["parts"] = f"{SCRATCH}/parts"
    try:
        answered = _committed_answers(shard)
        ids = _take_shard(shard, count, shard_in, answered)
    except OSError as exc:
        _finish(BAD_INPUT, {"shard": shard, "error": f"cannot read the input: {exc}"}, "failed")
    resumed_from = STATE["done"] = STATE["resumed"] = sum(1 for i in ids if i in answered)
    STATE["requests"] = len(ids)
    _marker("running", force=True)
    if resumed_from < len(ids):
        args = json.loads(os.environ.get("VLLM_ARGS") or "[]")
        cmd = _runner() + ["-i", shard_in, "--parts-dir", STATE["parts"],
                           "--commit-every", str(COMMIT_EVERY),
                           "--commit-seconds", str(COMMIT_SECONDS),
                           "--model", os.environ["MODEL"], *args]  # fmt: skip
        code = _run_runner(cmd)
        _copy_parts()
        if code == BAD_INPUT:
            error = STATE["bad_input"] or "the batch runner refused a request"
            _finish(BAD_INPUT, {"shard": shard, "error": error}, "failed")
        if code != 0:
            _finish(code, {"shard": shard, "error": f"the batch runner exited with {code}"},
                    "failed")  # fmt: skip
        answered = _committed_answers(shard)
    _merge(final, ids, answered)
    STATE["done"] = STATE["requests"]
    _finish(0, {"shard": shard, "resumed_from": resumed_from, **_usage(final)}, "committed")


if __name__ == "__main__":
    main()
