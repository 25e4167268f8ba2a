"""The shard program (deployments/batch/entrypoint.py) run for real as a subprocess, with a
stand-in `vllm` on PATH that writes an OpenAI batch output: atomic commit, skip-if-committed,
bad input exit code 3 with the reason as termination message."""

import json
import os
import subprocess
import sys
from pathlib import Path

from deployments.batch import manifests

FAKE_VLLM = """#!/bin/sh
# vllm run-batch -i IN -o OUT ...: one response line per request line, with usage.
python3 - "$3" "$5" <<'PY'
import json, sys
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as dst:
    for line in src:
        item = json.loads(line)
        body = {"usage": {"prompt_tokens": 10, "completion_tokens": 5}}
        dst.write(json.dumps({"custom_id": item["custom_id"], "response": {"body": body}}) + "\\n")
PY
echo ran >> "$VLLM_CALLS"
"""


def _run(tmp_path: Path, index: int, lines: list[str], shards: int = 2, shard_map: str = "0,1"):
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
    }
    code = subprocess.call([sys.executable, "-c", manifests.ENTRYPOINT], env=env)
    return code, json.loads((tmp_path / f"termination-{index}").read_text())


def _requests(n: int) -> list[str]:
    return [
        json.dumps({"custom_id": f"r{i}", "method": "POST", "body": {"x": 1}}) for i in range(n)
    ]


def test_shard_commits_atomically_and_reports_tokens(tmp_path):
    code, report = _run(tmp_path, 1, _requests(5))
    assert code == 0
    assert report == {"shard": 1, "requests": 2, "prompt_tokens": 20, "completion_tokens": 10}
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert out == ["shard-00001.jsonl"]  # the temp name was renamed away
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
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
