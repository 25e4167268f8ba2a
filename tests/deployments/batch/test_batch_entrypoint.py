"""The shard program (deployments/batch/entrypoint.py) run for real as a subprocess, with a
stand-in `vllm` on PATH that writes an OpenAI batch output: atomic commit, skip-if-committed,
bad input exit code 3 with the reason as termination message."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deployments.batch import manifests

FAKE_VLLM = """#!/bin/sh
# vllm run-batch -i IN -o OUT ...: one response line per request line, with usage; its
# progress bar on stderr as tqdm draws it ("Running batch: ... n/total", carriage returns).
python3 - "$3" "$5" <<'PY'
import json, os, sys, time
lines = open(sys.argv[1]).read().splitlines()
for n in range(len(lines) + 1):
    sys.stderr.write(f"\\rRunning batch: {100 * n // len(lines)}% Completed | {n}/{len(lines)} [00:01<00:00]")
    sys.stderr.flush()
    if n == 1 and os.environ.get("VLLM_HANG"):
        time.sleep(60)  # the test interrupts the shard here
with open(sys.argv[2], "w") as dst:
    for line in lines:
        item = json.loads(line)
        body = {"usage": {"prompt_tokens": 10, "completion_tokens": 5}}
        dst.write(json.dumps({"custom_id": item["custom_id"], "response": {"body": body}}) + "\\n")
PY
echo ran >> "$VLLM_CALLS"
"""


def _run(
    tmp_path: Path,
    index: int,
    lines: list[str],
    shards: int = 2,
    shard_map: str = "0,1",
    interrupt: bool = False,
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    vllm = bin_dir / "vllm"
    vllm.write_text(FAKE_VLLM)
    vllm.chmod(0o755)
    (tmp_path / "in.jsonl").write_text("".join(line + "\n" for line in lines))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "JOB_COMPLETION_INDEX": str(index),
        "SHARD_MAP": shard_map,
        "SHARD_COUNT": str(shards),
        "INPUT": str(tmp_path / "in.jsonl"),
        "OUTPUT": str(tmp_path / "out"),
        "MODEL": "org/model",
        "VLLM_ARGS": "[]",
        "VLLM_CALLS": str(tmp_path / "vllm-calls"),
        "SCRATCH": str(tmp_path / f"scratch-{index}"),
        "TERMINATION_LOG": str(tmp_path / f"termination-{index}"),
        "HOSTNAME": f"pod-{index}",
        "PROGRESS_EVERY": "0",
        **({"VLLM_HANG": "1"} if interrupt else {}),
    }
    proc = subprocess.Popen([sys.executable, "-c", manifests.ENTRYPOINT], env=env)
    if interrupt:  # as the kubelet does on a spot reclaim: SIGTERM once the shard is under way
        marker = tmp_path / f"out/shard-{int(shard_map.split(',')[index]):05d}.progress.json"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if marker.exists() and json.loads(marker.read_text())["requests_done"] == 1:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    return code, json.loads((tmp_path / f"termination-{index}").read_text())


def _marker(tmp_path: Path, shard: int) -> dict:
    return json.loads((tmp_path / f"out/shard-{shard:05d}.progress.json").read_text())


def _requests(n: int) -> list[str]:
    return [
        json.dumps({"custom_id": f"r{i}", "method": "POST", "body": {"x": 1}}) for i in range(n)
    ]


def test_shard_commits_atomically_and_reports_tokens(tmp_path):
    code, report = _run(tmp_path, 1, _requests(5))
    assert code == 0
    assert report == {
        "shard": 1,
        "requests": 2,
        "requests_done": 2,
        "prompt_tokens": 20,
        "completion_tokens": 10,
    }
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    # the temp names were renamed away; the progress marker sits next to the output
    assert out == ["shard-00001.jsonl", "shard-00001.progress.json"]
    marker = _marker(tmp_path, 1)
    assert (marker["state"], marker["requests"], marker["requests_done"]) == ("committed", 2, 2)
    assert marker["pod"] == "pod-1"
    ids = [json.loads(line)["custom_id"] for line in (tmp_path / "out/shard-00001.jsonl").open()]
    assert ids == ["r1", "r3"]


def test_committed_shard_is_skipped(tmp_path):
    _run(tmp_path, 0, _requests(4))
    code, report = _run(tmp_path, 0, _requests(4))
    assert code == 0 and report["skipped"] is True and report["requests"] == 2
    assert (tmp_path / "vllm-calls").read_text().count("ran") == 1


def test_shard_map_picks_the_shard_of_a_resumed_run(tmp_path):
    code, report = _run(tmp_path, 0, _requests(6), shards=3, shard_map="2")
    assert code == 0 and report["shard"] == 2
    assert (tmp_path / "out/shard-00002.jsonl").exists()


def test_bad_input_exits_3_with_the_line(tmp_path):
    lines = _requests(3)
    lines[2] = "not json"
    code, report = _run(tmp_path, 0, lines)
    assert code == manifests.BAD_INPUT_EXIT_CODE
    assert "input line 3" in report["error"]
    assert not (tmp_path / "out/shard-00000.jsonl").exists()
    assert _marker(tmp_path, 0)["state"] == "failed"


def test_interrupted_shard_records_its_progress_and_commits_nothing(tmp_path):
    code, report = _run(tmp_path, 0, _requests(4), interrupt=True)
    assert code == 143
    assert report == {"shard": 0, "interrupted": True, "requests": 2, "requests_done": 1}
    marker = _marker(tmp_path, 0)
    assert (marker["state"], marker["requests"], marker["requests_done"]) == ("interrupted", 2, 1)
    assert not (tmp_path / "out/shard-00000.jsonl").exists()  # the restart runs it cleanly


def test_the_rendered_command_is_the_runner_that_writes_the_marker(golden_job):
    container = manifests.job_manifest(golden_job)["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "-c", manifests.ENTRYPOINT]
    assert "progress.json" in manifests.ENTRYPOINT
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PROGRESS_EVERY"] == str(manifests.PROGRESS_EVERY_SECONDS)
