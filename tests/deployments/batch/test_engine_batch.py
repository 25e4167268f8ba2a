"""Batch on the real engine: a shard runs the rendered pod's program (the Job's container
command and env from deployments.batch.manifests) as a kubelet would, on vLLM 0.24 (the vLLM
virtualenv stands in for the image's python, the tiny model for the weights, as the engine
tests substitute them: tests/infra/engine.py). It is stopped mid-way as on a spot reclaim
(SIGTERM), then retried: the retry answers only the requests not committed, and the shard's
output holds every custom_id once, in input order, each a real answer with usage.

Memory: one engine at a time (~3 GB); wrap the run in `flock /tmp/modelport-engine.lock`.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from deployments.batch import manifests
from tests.factories import BatchJobFactory
from tests.infra.engine import CPU_ENV, EngineUnavailable, engine_paths

pytestmark = [pytest.mark.engine]
REQUESTS = 40


@pytest.fixture
def engine():
    try:
        return engine_paths()
    except EngineUnavailable as e:
        if os.environ.get("MODELPORT_REQUIRE_ENGINE", "") not in ("", "0", "false", "no"):
            pytest.fail(f"MODELPORT_REQUIRE_ENGINE=1 and {e}", pytrace=False)
        pytest.skip(str(e))


@pytest.fixture
def job(db):
    return BatchJobFactory(name="nightly", shards=1, parallelism=1, max_context_length=1024)


def _pod(job, engine, tmp_path: Path, attempt: int, lines: list[dict]) -> subprocess.Popen:
    """Start the shard's container process: the rendered command and env, with the image's
    python -> the vLLM virtualenv, the model -> the tiny model, data on local paths."""
    python, model = engine
    [container] = manifests.job_manifest(job)["spec"]["template"]["spec"]["containers"]
    command = [python if c == "python3" else c for c in container["command"]]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    # Substitution 6 (tests/infra/engine.py): no torch.compile warm-up in either attempt's
    # engine load (CPU time that the resume does not depend on).
    env["VLLM_ARGS"] = json.dumps([*json.loads(env["VLLM_ARGS"]), "--enforce-eager"])
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    env.update(
        JOB_COMPLETION_INDEX="0",  # set by the Job controller
        HOSTNAME=f"nightly-r1-0-attempt{attempt}",
        INPUT=str(tmp_path / "in.jsonl"),
        OUTPUT=str(tmp_path / "out"),
        MODEL=model,
        SCRATCH=str(tmp_path / f"scratch-{attempt}"),  # the pod's emptyDir: new per attempt
        TERMINATION_LOG=str(tmp_path / f"termination-{attempt}"),
        PROGRESS_EVERY="0",
        COMMIT_EVERY="4",  # commit often enough to stop between commits
        PATH=f"{Path(python).parent}:/usr/bin:/bin",
        HOME=str(tmp_path),
        **CPU_ENV,
    )
    log = open(tmp_path / f"pod-{attempt}.log", "wb")
    # Its own process group: the container's processes, ended together as a container runtime
    # ends them when the main process exits (_ended).
    return subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _ended(pod: subprocess.Popen) -> None:
    """The container is gone: what its main process left running (vLLM's engine processes
    of a stopped runner) is killed with it, as in a real container."""
    try:
        os.killpg(pod.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _report(tmp_path: Path, attempt: int) -> dict:
    return json.loads((tmp_path / f"termination-{attempt}").read_text())


def _tail(tmp_path: Path, attempt: int) -> str:
    return (tmp_path / f"pod-{attempt}.log").read_text(errors="replace")[-3000:]


def _chat(i: int) -> dict:
    return {
        "custom_id": f"req-{i:03d}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "nightly",
            "messages": [{"role": "user", "content": f"Tell story number {i}."}],
            "max_tokens": 16 * (i + 1),  # answers finish one after another, not all at once
        },
    }


def test_a_shard_stopped_mid_way_resumes_without_redoing_committed_requests(job, engine, tmp_path):
    lines = [_chat(i) for i in range(REQUESTS)]
    marker = tmp_path / "out/shard-00000.progress.json"

    first = _pod(job, engine, tmp_path, 0, lines)
    try:
        deadline = time.monotonic() + 900
        done = 0
        while time.monotonic() < deadline and first.poll() is None:
            if marker.exists():
                done = json.loads(marker.read_text())["requests_done"]
                if done >= 8:
                    break
            time.sleep(0.05)
        assert first.poll() is None and 8 <= done < REQUESTS, (done, _tail(tmp_path, 0))
        first.send_signal(signal.SIGTERM)  # spot reclaim: the kubelet stops the container
        assert first.wait(60) == 143, _tail(tmp_path, 0)
    finally:
        _ended(first)
    stopped = _report(tmp_path, 0)
    committed = stopped["requests_done"]
    assert stopped["interrupted"] and done <= committed < REQUESTS, stopped
    parts = sorted((tmp_path / "out").glob("shard-00000.part-*.jsonl"))
    in_parts = [json.loads(x)["custom_id"] for p in parts for x in p.read_text().splitlines()]
    assert len(in_parts) == len(set(in_parts)) == committed
    assert not (tmp_path / "out/shard-00000.jsonl").exists()

    second = _pod(job, engine, tmp_path, 1, lines)
    try:
        assert second.wait(900) == 0, _tail(tmp_path, 1)
    finally:
        _ended(second)
    report = _report(tmp_path, 1)
    assert (report["resumed_from"], report["requests"]) == (committed, REQUESTS), report
    # The retry's runner got only the requests without a committed answer.
    sent = [json.loads(x)["custom_id"] for x in (tmp_path / "scratch-1/in.jsonl").open()]
    assert len(sent) == REQUESTS - committed and not set(sent) & set(in_parts)

    out = [json.loads(x) for x in (tmp_path / "out/shard-00000.jsonl").read_text().splitlines()]
    assert [o["custom_id"] for o in out] == [line["custom_id"] for line in lines]
    assert len({o["id"] for o in out}) == REQUESTS  # vLLM's own output ids, unique
    for o, line in zip(out, lines, strict=True):
        body = o["response"]["body"]
        assert o["error"] is None and o["response"]["status_code"] == 200, o
        assert body["model"] == "nightly"  # the served name the Job renders
        assert 1 <= body["usage"]["completion_tokens"] <= line["body"]["max_tokens"]
    assert report["completion_tokens"] == sum(o["response"]["body"]["usage"]
                                              ["completion_tokens"] for o in out)  # fmt: skip
    assert not list((tmp_path / "out").glob("shard-00000.part-*"))


def test_a_request_vllms_runner_cannot_take_fails_the_shard_as_bad_input(job, engine, tmp_path):
    """vLLM 0.24's batch runner takes /v1/chat/completions but not /v1/completions: `vllm
    run-batch` would die on the whole file; the shard stops before loading the model, with
    exit code 3 (the Job fails at once) and the reason."""
    lines = [_chat(0), {"custom_id": "plain", "method": "POST", "url": "/v1/completions",
                        "body": {"model": "nightly", "prompt": "Hello", "max_tokens": 4}}]  # fmt: skip
    pod = _pod(job, engine, tmp_path, 0, lines)
    try:
        assert pod.wait(300) == manifests.BAD_INPUT_EXIT_CODE, _tail(tmp_path, 0)
    finally:
        _ended(pod)
    error = _report(tmp_path, 0)["error"]
    assert error.startswith("shard request 2: ") and "messages" in error, error
