"""The shard program (deployments/batch/entrypoint.py) run for real as a subprocess, with a
stand-in runner (RUNNER) that keeps shard_runner.py's contract (part files, progress lines):
atomic commit, skip-if-committed, answers committed as they finish and never redone on
resume, bad input exit code 3 with the reason as termination message. The real runner on the
real engine: tests/deployments/batch/test_engine_batch.py."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deployments.batch import manifests

FAKE_RUNNER = """
# The runner's contract (deployments/batch/shard_runner.py): -i IN --parts-dir DIR
# --commit-every N ...; a part file per N answers (temp name, then rename), "Running batch:
# n/total" on stderr after each; exit 3 with "BAD INPUT: ..." for a request it refuses.
import json, os, sys, time
argv = sys.argv[1:]
src, parts, every = (argv[argv.index(k) + 1] for k in ("-i", "--parts-dir", "--commit-every"))
lines = [json.loads(line) for line in open(src) if line.strip()]
with open(os.environ["RUNNER_CALLS"], "a") as f:
    f.write(json.dumps([item["custom_id"] for item in lines]) + "\\n")
if any(item["body"].get("refuse") for item in lines):
    sys.stderr.write("BAD INPUT: shard request 1: body.messages Field required\\n")
    sys.exit(3)
os.makedirs(parts, exist_ok=True)
done = 0
for start in range(0, len(lines), int(every)):
    chunk = lines[start:start + int(every)]
    path = os.path.join(parts, f"part-{start:05d}.jsonl")
    with open(path + ".tmp", "w") as dst:
        for item in chunk:
            body = {"usage": {"prompt_tokens": 10, "completion_tokens": 5}}
            dst.write(json.dumps({"custom_id": item["custom_id"], "response": {"body": body}}) + "\\n")
    os.replace(path + ".tmp", path)
    done += len(chunk)
    sys.stderr.write(f"Running batch: {done}/{len(lines)}\\n")
    sys.stderr.flush()
    if os.environ.get("VLLM_HANG"):
        time.sleep(60)  # the test interrupts the shard here
"""


def _run(
    tmp_path: Path,
    index: int,
    lines: list[str],
    shards: int = 2,
    shard_map: str = "0,1",
    interrupt: bool = False,
    commit_every: int = 100,
    attempt: int = 0,
):
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    (tmp_path / "in.jsonl").write_text("".join(line + "\n" for line in lines))
    env = {
        **os.environ,
        "RUNNER": json.dumps([sys.executable, str(runner)]),
        "COMMIT_EVERY": str(commit_every),
        "JOB_COMPLETION_INDEX": str(index),
        "SHARD_MAP": shard_map,
        "SHARD_COUNT": str(shards),
        "INPUT": str(tmp_path / "in.jsonl"),
        "OUTPUT": str(tmp_path / "out"),
        "MODEL": "org/model",
        "VLLM_ARGS": "[]",
        "RUNNER_CALLS": str(tmp_path / "runner-calls"),
        "SCRATCH": str(tmp_path / f"scratch-{index}-{attempt}"),
        "TERMINATION_LOG": str(tmp_path / f"termination-{index}"),
        "HOSTNAME": f"pod-{index}-{attempt}",
        "PROGRESS_EVERY": "0",
        **({"VLLM_HANG": "1"} if interrupt else {}),
    }
    proc = subprocess.Popen([sys.executable, "-c", manifests.ENTRYPOINT], env=env)
    if interrupt:  # as the kubelet does on a spot reclaim: SIGTERM once the shard is under way
        marker = tmp_path / f"out/shard-{int(shard_map.split(',')[index]):05d}.progress.json"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if marker.exists() and json.loads(marker.read_text())["requests_done"] >= 1:
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
        "resumed_from": 0,
    }
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    # the temp names were renamed away; the progress marker sits next to the output
    assert out == ["shard-00001.jsonl", "shard-00001.progress.json"]
    marker = _marker(tmp_path, 1)
    assert (marker["state"], marker["requests"], marker["requests_done"]) == ("committed", 2, 2)
    assert marker["pod"] == "pod-1-0"
    ids = [json.loads(line)["custom_id"] for line in (tmp_path / "out/shard-00001.jsonl").open()]
    assert ids == ["r1", "r3"]


def test_committed_shard_is_skipped(tmp_path):
    _run(tmp_path, 0, _requests(4))
    code, report = _run(tmp_path, 0, _requests(4))
    assert code == 0 and report["skipped"] is True and report["requests"] == 2
    assert len((tmp_path / "runner-calls").read_text().splitlines()) == 1


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


def test_interrupted_shard_commits_what_it_answered_and_the_resume_does_only_the_rest(tmp_path):
    lines = _requests(8)  # shard 0 of 2: r0 r2 r4 r6
    code, report = _run(tmp_path, 0, lines, interrupt=True, commit_every=2)
    assert code == 143
    assert report == {"shard": 0, "interrupted": True, "requests": 4, "requests_done": 2}
    marker = _marker(tmp_path, 0)
    assert (marker["state"], marker["requests"], marker["requests_done"]) == ("interrupted", 4, 2)
    assert not (tmp_path / "out/shard-00000.jsonl").exists()
    [part] = (tmp_path / "out").glob("shard-00000.part-*.jsonl")  # committed under a final name
    assert part.name == "shard-00000.part-pod-0-0-00000.jsonl"

    code, report = _run(tmp_path, 0, lines, commit_every=2, attempt=1)  # the retried pod
    assert code == 0
    assert (report["resumed_from"], report["requests"], report["requests_done"]) == (2, 4, 4)
    calls = [json.loads(line) for line in (tmp_path / "runner-calls").read_text().splitlines()]
    assert calls == [["r0", "r2", "r4", "r6"], ["r4", "r6"]]  # committed answers not redone
    ids = [json.loads(line)["custom_id"] for line in (tmp_path / "out/shard-00000.jsonl").open()]
    assert ids == ["r0", "r2", "r4", "r6"]  # complete, unique, in input order
    assert not list((tmp_path / "out").glob("shard-00000.part-*"))  # merged, then removed
    assert report["prompt_tokens"] == 40  # the whole shard's usage


def test_a_repeated_custom_id_is_bad_input(tmp_path):
    lines = _requests(4)
    lines[2] = lines[0]
    code, report = _run(tmp_path, 0, lines)
    assert code == manifests.BAD_INPUT_EXIT_CODE
    assert "input line 3 repeats custom_id 'r0'" in report["error"]


def test_a_custom_id_repeated_in_another_shard_is_bad_input_in_every_shard(tmp_path):
    lines = _requests(4)  # shard 0: lines 1, 3; shard 1: lines 2, 4
    lines[3] = lines[0]  # line 4 (shard 1) repeats line 1's id (shard 0)
    for index in (0, 1):
        code, report = _run(tmp_path, index, lines)
        assert code == manifests.BAD_INPUT_EXIT_CODE, index
        assert "input line 4 repeats custom_id 'r0'" in report["error"]
    assert not (tmp_path / "runner-calls").exists()  # refused before any work


def test_a_request_the_runner_refuses_is_bad_input_with_its_reason(tmp_path):
    lines = [json.dumps({"custom_id": "r0", "method": "POST", "body": {"refuse": True}})]
    code, report = _run(tmp_path, 0, lines, shards=1, shard_map="0")
    assert code == manifests.BAD_INPUT_EXIT_CODE
    assert report["error"] == "shard request 1: body.messages Field required"
    assert _marker(tmp_path, 0)["state"] == "failed"


def test_the_rendered_command_is_the_runner_that_writes_the_marker(golden_job):
    container = manifests.job_manifest(golden_job)["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "-c", manifests.ENTRYPOINT]
    assert "progress.json" in manifests.ENTRYPOINT
    assert manifests.ENTRYPOINT.startswith("SHARD_RUNNER = ")  # the runner travels with it
    assert "build_endpoint_registry" in manifests.ENTRYPOINT
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PROGRESS_EVERY"] == str(manifests.PROGRESS_EVERY_SECONDS)
