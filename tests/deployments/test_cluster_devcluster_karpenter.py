"""`tools/devcluster.py --karpenter`: the local cluster runs the real Karpenter (KWOK provider)
as the tests do, so a pending GPU pod gets a node, which the cluster's fake kubelet serves.

Real: kube-apiserver, kube-scheduler, kube-controller-manager, Karpenter v1.15 (KWOK provider)
launching the catalog's instance types from the file `manage.py devcluster` writes. The portal's
part is played by the test: it applies the catalog's NodePools and KWOKNodeClass as
`apply_nodepools` renders them (the devcluster marks the NodeClass Ready, as the tests do)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployments.nodepools import manifests
from tests.deployments.nodepools.karpenter_helpers import INSTANCE, l40s_catalog
from tests.infra.karpenter import karpenter_paths
from tests.infra.kube import MissingBinaries, find_bin_dir

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]


def _wait(check, what: str, proc, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"devcluster exited: {proc.stdout.read().decode()}"
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def _gpu_pod(gpu) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "wants-a-gpu", "namespace": "default"},
        "spec": {
            "nodeSelector": {
                manifests.GPU_NAME_LABEL: gpu.node_label_value,
                manifests.CAPACITY_TYPE_LABEL: "on-demand",
            },
            "tolerations": [{"key": manifests.GPU_RESOURCE, "operator": "Exists"}],
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "resources": {
                        "requests": {"cpu": "1", "memory": "1Gi", manifests.GPU_RESOURCE: "1"},
                        "limits": {manifests.GPU_RESOURCE: "1"},
                    },
                }
            ],
        },
    }


def test_devcluster_with_karpenter_gives_a_pending_gpu_pod_a_node(db, tmp_path, settings):
    try:
        find_bin_dir()
        karpenter_paths()
    except MissingBinaries as exc:
        pytest.skip(str(exc))
    settings.KARPENTER_NODE_CLASS = "kwok"
    gpu = l40s_catalog()
    types_file = tmp_path / "types.json"
    types_file.write_text(json.dumps(manifests.kwok_instance_types()))
    env_file = tmp_path / "dev.env"
    proc = subprocess.Popen(
        [sys.executable, "tools/devcluster.py", "--karpenter", "--no-real-controllers"]
        + ["--no-prometheus", "--workdir", str(tmp_path / "state"), "--env-file", str(env_file)]
        + ["--karpenter-instance-types", str(types_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ.copy(),
    )
    try:
        env = _wait(
            lambda: env_file.exists() and "KARPENTER_NODEPOOLS" in env_file.read_text() and
            env_file.read_text(), "the portal's environment", proc, 180,
        )  # fmt: skip
        assert "export KARPENTER_NODEPOOLS=true" in env
        assert "export KARPENTER_NODE_CLASS=kwok" in env
        [kubeconfig] = [
            line.removeprefix("export KUBECONFIG=").strip()
            for line in env.splitlines()
            if line.startswith("export KUBECONFIG=")
        ]
        from kubernetes import config, dynamic

        dyn = dynamic.DynamicClient(config.new_client_from_config(config_file=kubeconfig))

        def api(obj):
            return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])

        # The portal's pools (what apply_nodepools applies), validated by Karpenter's CRDs.
        objects = manifests.render()
        for obj in objects:
            api(obj).server_side_apply(body=obj, field_manager="portal")
        pools = [o for o in objects if o["kind"] == "NodePool"]
        _wait(
            lambda: all(_ready(api(p).get(name=p["metadata"]["name"]).to_dict()) for p in pools),
            "the NodePools Ready (the devcluster marks the KWOKNodeClass Ready)",
            proc,
        )

        pod = _gpu_pod(gpu)
        api(pod).create(body=pod, namespace="default")

        def running():
            got = api(pod).get(name="wants-a-gpu", namespace="default").to_dict()
            return got["status"].get("phase") == "Running" and got

        got = _wait(running, "the pending GPU pod to run on a node Karpenter made", proc, 180)
        node = dyn.resources.get(api_version="v1", kind="Node").get(name=got["spec"]["nodeName"])
        labels = node.to_dict()["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == INSTANCE
        assert labels[manifests.NODEPOOL_LABEL] == manifests.pool_name("kt-g6e", "on-demand")
        claims = dyn.resources.get(api_version=manifests.NODECLAIM_API, kind="NodeClaim").get()
        assert [c["status"]["nodeName"] for c in claims.to_dict()["items"]] == [
            got["spec"]["nodeName"]
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
