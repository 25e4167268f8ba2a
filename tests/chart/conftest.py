"""The Helm chart (charts/modelport) rendered by the real helm CLI (tools/build-helm.sh builds
it from the Go module proxy, cached by version). Without helm the chart tests skip with
instructions, or fail under MODELPORT_REQUIRE_SERVICES=1 (CI)."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.fixtures import services_required

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "modelport"
CACHE = Path(os.environ.get("MODELPORT_CACHE", Path.home() / ".cache" / "modelport"))
RELEASE = "mp"
# Every option on: what the dry run and the RBAC test install.
ALL_ON = {
    "existingSecret": "modelport-env",
    "web.autoscaling.enabled": "true",
    "metrics.serviceMonitor.enabled": "true",
    "ingress.enabled": "true",
    "ingress.tlsSecretName": "modelport-tls",
}


def _missing(message: str):
    if services_required():
        pytest.fail(f"MODELPORT_REQUIRE_SERVICES=1 and {message}", pytrace=False)
    pytest.skip(message)


def find_helm() -> str | None:
    if os.environ.get("MODELPORT_HELM"):
        return os.environ["MODELPORT_HELM"]
    found = sorted(glob.glob(str(CACHE / "bin" / "helm-*" / "helm")))
    return found[-1] if found else None


def monitoring_crd_dir() -> Path | None:
    if os.environ.get("MODELPORT_MONITORING_CRD_DIR"):
        return Path(os.environ["MODELPORT_MONITORING_CRD_DIR"])
    found = sorted(glob.glob(str(CACHE / "crds-monitoring" / "*")))
    return Path(found[-1]) if found else None


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if not path or not os.access(path, os.X_OK):
        _missing("helm is not built: run `bash tools/build-helm.sh`")
    return path


def run_helm(helm: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [helm, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
        env={
            **os.environ,
            "HELM_CACHE_HOME": "/tmp/modelport-helm/cache",
            "HELM_CONFIG_HOME": "/tmp/modelport-helm/config",
            "HELM_DATA_HOME": "/tmp/modelport-helm/data",
        },
    )


def set_args(values: dict[str, str]) -> list[str]:
    args = []
    for key, value in values.items():
        args += [
            "--set" if value in ("true", "false") or value.isdigit() else "--set-string",
            f"{key}={value}",
        ]
    return args


@pytest.fixture(scope="session")
def render(helm):
    """render(values, namespace) -> the objects `helm template` prints (hooks included)."""

    def render_(
        values: dict[str, str] | None = None, namespace: str = "modelport", release: str = RELEASE
    ) -> list[dict]:
        values = {"existingSecret": "modelport-env", **(values or {})}
        out = run_helm(
            helm, "template", release, str(CHART), "--namespace", namespace, *set_args(values)
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return render_


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str, name_suffix: str = "") -> dict:
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"{kind} *{name_suffix}: {[o['metadata']['name'] for o in found]}"
    return found[0]


def containers(objects: list[dict]) -> dict[str, dict]:
    """component name -> its (only) container, for every workload the chart renders."""
    out = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            out[component] = container
    return out
