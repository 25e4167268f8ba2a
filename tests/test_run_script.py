"""`scripts/run.sh`: the README's run command serves the product as users see it (gunicorn,
DEBUG off, static files served, a generated secret key; all state under MODELPORT_VAR).

`scripts/run.sh --with-cluster` (MODELPORT_LOCAL_CLUSTER=1): the plumbing, not the build.

The script starts the local control plane (`manage.py devcluster`, here without the real
controllers to keep it short: MODELPORT_DEVCLUSTER_ARGS), exports its environment to the
portal and to a Celery worker with beat over the file broker, and stops everything on SIGTERM.
Proof that the environment arrived: the web server and the worker carry KUBECONFIG and the broker
in their environment, the catalog's fake GPU nodes exist, and the worker (beat ->
sync_statuses -> apply) puts the seeded demo endpoints into the cluster as InferenceServices.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.infra.kube import MissingBinaries, find_bin_dir

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _env_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(
        item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
    )


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait(check, what: str, timeout: float, proc, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        assert proc.poll() is None, f"run.sh exited:\n{log.read_text()[-3000:]}"
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def _get(url: str):
    """(status, headers, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode(errors="replace")


def test_run_serves_the_product_with_debug_off_and_all_state_under_modelport_var(tmp_path):
    port = _free_port()
    log = tmp_path / "run.log"
    var = tmp_path / "state"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))},
        "PORT": str(port),
        "MODELPORT_VENV": sys.prefix,
        "MODELPORT_SKIP_SETUP": "1",
        "MODELPORT_VAR": str(var),
        "GUNICORN_WORKERS": "1",
    }
    for name in ("DATABASE_URL", "SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "CELERY_BROKER_URL",
                 "KUBECONFIG", "PROMETHEUS_URL", "STATIC_ROOT", "STATIC_HASHED_NAMES"):  # fmt: skip
        env.pop(name, None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def login_page():
            try:
                return _get(f"{base}/accounts/login/")
            except OSError:
                return None

        status, _headers, body = _wait(login_page, "the portal to answer", 400, proc, log)
        assert status == 200
        procs = [_cmdline(p) for p in _descendants(proc.pid)] + [_cmdline(proc.pid)]
        assert any("gunicorn" in c for c in procs) and not any("runserver" in c for c in procs)
        # A 404 is the product's page: no URL list, no settings, no traceback (DEBUG off).
        status, _headers, missing = _get(f"{base}/no-such-page/")
        assert status == 404
        assert "Using the URLconf" not in missing and "DEBUG = True" not in missing
        assert "api/v1/" not in missing and "admin/" not in missing
        # Static files are served (collected, hashed names, by WhiteNoise).
        [css] = re.findall(r'href="(/static/[^"]+\.css)"', body)[:1]
        assert re.search(r"\.[0-9a-f]{12}\.css$", css), css
        status, headers, _css = _get(base + css)
        assert status == 200 and headers["Content-Type"].startswith("text/css")
        # Charts on the first run: a local Prometheus with sample history, said on the page.
        assert "Filling a local Prometheus with sample history" in log.read_text()
        env_file = var / "sample-metrics.env"
        _wait(env_file.exists, "the sample history", 300, proc, log)
        assert "MODELPORT_SAMPLE_METRICS=true" in env_file.read_text()
        # MODELPORT_VAR holds the database and the generated secret key.
        assert (var / "modelport.sqlite3").stat().st_size > 0
        key = var / "secret_key"
        assert len(key.read_text().strip()) >= 50 and key.stat().st_mode & 0o077 == 0
    finally:
        proc.send_signal(signal.SIGTERM)  # run.sh stops gunicorn and the sample Prometheus
        proc.wait(timeout=60)
        left = _wait_gone(proc.pid, timeout=30)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
        assert left == [], [_cmdline(p) for p in left]


@pytest.mark.cluster
def test_with_cluster_flag_exports_the_cluster_to_portal_and_worker(tmp_path):
    try:
        find_bin_dir()
    except MissingBinaries as exc:
        pytest.skip(str(exc))
    port = _free_port()
    log = tmp_path / "run.log"
    env = {
        **os.environ,
        "PORT": str(port),
        "MODELPORT_VENV": sys.prefix,
        "MODELPORT_SKIP_SETUP": "1",
        "MODELPORT_SKIP_BUILD": "1",
        "MODELPORT_VAR": str(tmp_path / "var"),
        "MODELPORT_DEVCLUSTER_ARGS": "--no-real-controllers --no-prometheus",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    for name in ("KUBECONFIG", "CELERY_BROKER_URL", "PROMETHEUS_URL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "scripts/run.sh", "--with-cluster"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    try:
        _wait(lambda: "is starting on" in log.read_text(), "the portal to start", 300, proc, log)

        def portal_answers():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/").status
            except OSError:
                return None

        assert _wait(portal_answers, "the web server to answer", 60, proc, log) == 200
        procs = {pid: _cmdline(pid) for pid in _descendants(proc.pid)}
        servers = {p for p, c in procs.items() if "gunicorn" in c}
        # the gunicorn arbiter; its worker processes carry the same command line
        [server] = [p for p in servers if _parent_of(p) not in servers]
        workers = {p for p, c in procs.items() if "celery" in c and " worker" in c}
        # the main worker process; its prefork pool children carry the same command line
        [worker] = [p for p in workers if _parent_of(p) not in workers]
        kubeconfig = (tmp_path / "var" / "devcluster.env").read_text().split("KUBECONFIG=")[1]
        kubeconfig = kubeconfig.splitlines()[0].strip()
        for pid in (server, worker):
            got = _env_of(pid)
            assert got["KUBECONFIG"] == kubeconfig
            assert got["CELERY_BROKER_URL"] == "filesystem://"
            assert got["CELERY_FILESYSTEM_DIR"] == str(tmp_path / "var" / "celery-broker")

        from kubernetes import client, config

        api = config.new_client_from_config(config_file=kubeconfig)
        nodes = client.CoreV1Api(api).list_node().items
        labels = [n.metadata.labels for n in nodes]
        assert any(
            lab.get("node.kubernetes.io/instance-type") == "g6.xlarge"
            and lab.get("karpenter.k8s.aws/instance-gpu-name") == "l4"
            and lab.get("karpenter.sh/capacity-type") == "on-demand"
            for lab in labels
        ), labels

        def applied():
            objs = client.CustomObjectsApi(api).list_cluster_custom_object(
                "serving.kserve.io", "v1beta1", "inferenceservices"
            )
            return objs["items"]

        isvcs = _wait(applied, "the worker to apply the demo endpoints", 180, proc, log)
        assert all(
            i["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "modelport" for i in isvcs
        )
    finally:
        proc.send_signal(signal.SIGTERM)  # the script stops what it started
        proc.wait(timeout=90)
        left = _wait_gone(proc.pid)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
        assert left == [], [_cmdline(p) for p in left]


def _session(pid: int) -> list[int]:
    """Processes of the session `pid` leads (run.sh was started with start_new_session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pid:
            found.append(int(stat.parent.name))
    return found


def _wait_gone(sid: int, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while _session(sid) and time.monotonic() < deadline:
        time.sleep(0.5)
    return _session(sid)
