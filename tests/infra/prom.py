"""A real Prometheus server (Debian's ``/usr/bin/prometheus``) on a temporary TSDB.

No Django imports. Two ways to feed it:

1. :meth:`PrometheusServer.backfill` – OpenMetrics text (see ``tests/promdata.py``) is turned
   into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics`` and written straight
   into the data dir. Prometheus only rescans its block dir about once a minute, so the
   server is restarted (same port, same data; ~1 s) to make the data queryable at once.
2. :meth:`PrometheusServer.add_scrape_target` – a scrape job for a live exporter (see
   ``tests/infra/exporter.py``) is added to the config and applied with ``POST /-/reload``.
3. :meth:`PrometheusServer.discover_pods` – as a cluster's Prometheus does: the scrape job of
   ``deploy/prometheus-predictors.yml`` (Kubernetes service discovery, role pod) pointed at the
   test apiserver with a bearer token; it finds the predictor pods and scrapes them at their
   pod IPs (real servers on engine nodes: ``tests/infra/engine.py``).

Query helpers (:meth:`query`, :meth:`query_range`, :meth:`raw_samples`) use the HTTP API.

Typical use::

    prom = PrometheusServer().start()
    prom.backfill(scenario.openmetrics())
    prom.query("sum(vllm:num_requests_waiting)", time=scenario.end)
    prom.stop()
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from . import stop_process_group

PROMETHEUS = os.environ.get("MODELPORT_PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("MODELPORT_PROMTOOL", "/usr/bin/promtool")
SCRAPE_JOB = Path(__file__).resolve().parents[2] / "deploy" / "prometheus-predictors.yml"
HOW_TO_GET = (
    "install it with `apt-get install -y prometheus` (Debian package: prometheus and promtool)"
)


class MissingPrometheus(RuntimeError):
    pass


def find_prometheus_k8s() -> str:
    """A Prometheus with Kubernetes service discovery (Debian's has none):
    tools/build-prometheus.sh, `$MODELPORT_PROMETHEUS_K8S`; or raise MissingPrometheus."""
    path = os.environ.get("MODELPORT_PROMETHEUS_K8S", "")
    if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
        raise MissingPrometheus(
            "no Prometheus with Kubernetes service discovery (Debian's is built without it): "
            "run `bash tools/build-prometheus.sh` and source ~/.cache/modelport/prometheus-env.sh"
        )
    return path


def find_prometheus() -> tuple[str, str]:
    """Paths of prometheus and promtool, or raise MissingPrometheus."""
    for path in (PROMETHEUS, PROMTOOL):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise MissingPrometheus(f"{path} not found: {HOW_TO_GET}")
    return PROMETHEUS, PROMTOOL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusError(RuntimeError):
    pass


class PrometheusServer:
    """One Prometheus process.

    Parameters:
        workdir: data/config/log directory (default: new temp dir, removed by :meth:`stop`).
        lookback_delta: ``--query.lookback-delta`` (Prometheus default ``5m``).
        retention: ``--storage.tsdb.retention.time``; large so backfilled weeks stay.
        scrape_interval / evaluation_interval: global defaults in the generated config.
        extra_args: more command line flags.
        binary: another prometheus binary (e.g. :func:`find_prometheus_k8s`).
    """

    def __init__(
        self,
        workdir=None,
        lookback_delta="5m",
        retention="100y",
        scrape_interval="15s",
        evaluation_interval="15s",
        extra_args=(),
        binary: str | None = None,
    ):
        self.prometheus, self.promtool = find_prometheus()
        self.prometheus = binary or self.prometheus
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="modelport-prom-"))
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        self.lookback_delta = lookback_delta
        self.retention = retention
        self.global_config = {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
        }
        self.extra_args = list(extra_args)
        self.port = 0
        self.targets: dict[str, dict] = {}
        self._popen: subprocess.Popen | None = None
        self._log = None
        self._backfills = 0
        self._started_once = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> PrometheusServer:
        for attempt in range(3):
            try:
                return self._start()
            except PrometheusError:
                # free-port race on the first start: pick another port
                if (
                    self._started_once
                    or attempt == 2
                    or "address already in use" not in self.logs(20)
                ):
                    raise
                self._stop_process()
                self.port = 0

    def _start(self) -> PrometheusServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.port = self.port or _free_port()
        self._log = open(self.log_path, "ab")
        args = [
            self.prometheus,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-admin-api",
            "--web.enable-lifecycle",
            f"--query.lookback-delta={self.lookback_delta}",
            "--log.level=warn",
            *self.extra_args,
        ]
        self._log.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(args)}\n".encode())
        self._log.flush()
        self._popen = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        atexit.register(self.stop)
        self._wait_ready()
        self._started_once = True
        return self

    def _wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                raise PrometheusError(f"prometheus exited early:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus not ready after {timeout} s:\n{self.logs()}")

    def _stop_process(self):
        stop_process_group(self._popen, 15)
        self._popen = None
        if self._log:
            self._log.close()
            self._log = None

    def restart(self):
        """Stop and start again on the same port and data dir (picks up new blocks)."""
        self._stop_process()
        self.start()

    def stop(self):
        self._stop_process()
        if self._own_workdir and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def logs(self, tail: int = 80) -> str:
        if not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(
            [f"----- prometheus.log (last {min(tail, len(lines))} lines) -----", *lines[-tail:]]
        )

    # ------------------------------------------------------------------ feeding data
    def backfill(self, openmetrics_text: str, restart: bool = True) -> list[str]:
        """Write OpenMetrics text (must end with ``# EOF``) into the TSDB as blocks.

        Returns the created block ULIDs. Restarts the server (if running) so the blocks are
        visible to queries at once. Blocks may overlap each other and the live head
        (Prometheus >= 2.39 merges overlapping blocks at query time), so several tests can
        backfill into one session server as long as their label values differ.
        """
        self._backfills += 1
        src = self.workdir / f"backfill-{self._backfills}.om"
        src.write_text(openmetrics_text)
        out = self.workdir / f"blocks-{self._backfills}"
        res = subprocess.run(
            [
                self.promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                str(src),
                str(out),
            ],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise PrometheusError(
                f"promtool failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        blocks = []
        for block in sorted(out.iterdir()):
            if block.is_dir():
                shutil.move(str(block), self.data_dir / block.name)
                blocks.append(block.name)
        shutil.rmtree(out, ignore_errors=True)
        src.unlink()
        if restart and self.running:
            self.restart()
        return blocks

    def add_scrape_target(
        self,
        url: str,
        interval: str = "1s",
        labels: dict | None = None,
        honor_labels: bool = False,
        job: str | None = None,
    ) -> str:
        """Scrape ``url`` (``http://host:port/path``) every ``interval``; returns the job name.

        ``labels`` become target labels (e.g. ``{"namespace": ..., "pod": ...}`` as the
        Kubernetes service discovery would add). With ``honor_labels=False`` (Prometheus'
        default, and the DCGM chart's) clashing exporter labels are renamed ``exported_*``.
        """
        u = urllib.parse.urlsplit(url)
        job = job or f"target-{len(self.targets) + 1}"
        self.targets[job] = {
            "job_name": job,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "metrics_path": u.path or "/metrics",
            "scheme": u.scheme or "http",
            "honor_labels": honor_labels,
            "static_configs": [{"targets": [u.netloc], "labels": dict(labels or {})}],
        }
        self.reload()
        return job

    def discover_pods(
        self,
        api_server: str,
        token: str,
        ca_file: str | Path,
        namespaces: list[str] | None = None,
        interval: str = "2s",
    ) -> str:
        """Add the documented predictor scrape job (``deploy/prometheus-predictors.yml``, every
        relabel rule unchanged) with Kubernetes service discovery through ``api_server``
        (``https://127.0.0.1:<port>``, ``token`` as bearer, ``ca_file`` its serving CA);
        ``namespaces`` limits the watch. Returns the job name."""
        job = yaml.safe_load(SCRAPE_JOB.read_text())
        [sd] = job["kubernetes_sd_configs"]
        sd.update(
            api_server=api_server,
            authorization={"credentials": token},
            tls_config={"ca_file": str(ca_file)},
        )
        if namespaces:
            sd["namespaces"] = {"names": list(namespaces)}
        job.update(scrape_interval=interval, scrape_timeout=interval)
        self.targets[job["job_name"]] = job
        self.reload()
        return job["job_name"]

    def active_targets(self, job: str | None = None) -> list[dict]:
        """``/api/v1/targets`` active targets (of ``job``): ``labels``, ``scrapeUrl``, ``health``,
        ``lastError``, ``discoveredLabels``."""
        targets = self.api("targets", state="active")["activeTargets"]
        return [t for t in targets if job is None or t["labels"].get("job") == job]

    def remove_scrape_target(self, job: str):
        self.targets.pop(job, None)
        self.reload()

    def _write_config(self):
        cfg = {"global": self.global_config, "scrape_configs": list(self.targets.values())}
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
        tmp.replace(self.config_path)

    def reload(self):
        self._write_config()
        if self.running:
            req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                if r.status != 200:
                    raise PrometheusError(f"reload failed: {r.status}")

    # ------------------------------------------------------------------ HTTP API
    def api(self, path: str, **params):
        """GET ``/api/v1/<path>`` and return ``data`` (raises PrometheusError on errors)."""
        qs = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{qs}", timeout=30) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str, time: float | None = None):
        """Instant query; returns the ``result`` list."""
        return self.api("query", query=promql, time=time)["result"]

    def query_range(self, promql: str, start: float, end: float, step: float | str):
        return self.api("query_range", query=promql, start=start, end=end, step=step)["result"]

    def raw_samples(
        self, selector: str, start: float, end: float
    ) -> dict[tuple, list[tuple[float, float]]]:
        """Stored samples of ``selector`` with ``start <= t <= end`` exactly as in the TSDB.

        Returns ``{frozenset(labels.items()): [(t_seconds, value), ...]}``.
        """
        rng = int(end - start) + 1
        result = self.query(f"{selector}[{rng}s]", time=end)
        out = {}
        for s in result:
            key = frozenset(s["metric"].items())
            out[key] = [(float(t), float(v)) for t, v in s["values"] if float(t) >= start]
        return out

    def series(
        self, match: str, start: float | None = None, end: float | None = None
    ) -> list[dict]:
        return self.api("series", **{"match[]": match, "start": start, "end": end})

    def wait_for(self, promql: str, predicate=bool, timeout: float = 30.0, interval: float = 0.25):
        """Poll an instant query until ``predicate(result)`` is true; return the result."""
        deadline = time.monotonic() + timeout
        result = None
        while time.monotonic() < deadline:
            result = self.query(promql)
            if predicate(result):
                return result
            time.sleep(interval)
        raise TimeoutError(f"{promql!r} did not satisfy predicate in {timeout} s; last: {result}")
