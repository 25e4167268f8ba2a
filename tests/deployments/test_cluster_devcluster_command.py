"""`manage.py devcluster` starts a usable control plane and stops everything on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.infra.kube import MissingBinaries, find_bin_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.cluster
def test_devcluster_command_serves_the_crds_and_stops_cleanly(tmp_path):
    try:
        find_bin_dir()
    except MissingBinaries as exc:
        pytest.skip(str(exc))
    env_file = tmp_path / "dev.env"
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "devcluster",
            "--no-controllers",
            "--workdir",
            str(tmp_path / "state"),
            "--env-file",
            str(env_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "DATABASE_URL": "sqlite://:memory:"},
    )
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.5)
        time.sleep(0.5)  # the file is written whole; it holds the portal's whole environment
        [kubeconfig] = [
            line.removeprefix("export KUBECONFIG=").strip().strip("'\"")
            for line in env_file.read_text().splitlines()
            if line.startswith("export KUBECONFIG=")
        ]
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=kubeconfig)
        crds = client.ApiextensionsV1Api(api).list_custom_resource_definition()
        names = {c.metadata.name for c in crds.items}
        assert {"inferenceservices.serving.kserve.io", "scaledobjects.keda.sh"} <= names
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
