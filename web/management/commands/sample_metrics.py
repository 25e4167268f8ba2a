"""Sample history for the first run: a real Prometheus, filled with promtool from a scenario
seeded from the database (the demo endpoints), so every chart and cost page has something to
show without a cluster, and labelled as sample data everywhere it shows.

    manage.py sample_metrics --workdir var/sample-prometheus --env-file var/sample-metrics.env

1. Builds a tests.promdata scenario over the last --hours: per approved, wanted endpoint one
   GPU node of its offering and capacity type and one vLLM pod with a daily-looking load
   (DCGM, kube-state-metrics and vLLM series, the labels the portal selects by), plus one idle
   node so the platform view has idle cost.
2. Starts Prometheus (tests/infra/prom.py) in --workdir and backfills the scenario with
   `promtool tsdb create-blocks-from openmetrics`.
3. Collects GPU usage rows for the whole hours (billing: team costs, the savings advisor).
4. Writes --env-file (PROMETHEUS_URL, MODELPORT_SAMPLE_METRICS=true) for the portal, then keeps
   Prometheus running until it is stopped (SIGTERM / Ctrl-C).

Dev only: it uses the checkout's test generator (tests/), which production images do not ship.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing import services as billing_services
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from portal import timeutil
from portal.prometheus import PrometheusClient

HOUR = 3600
SERVING = (
    EndpointStatus.NOT_DEPLOYED,
    EndpointStatus.READY,
    EndpointStatus.SCALED_TO_ZERO,
    EndpointStatus.PROVISIONING,
)


def _generator():
    try:
        from tests.infra.prom import MissingPrometheus, PrometheusServer
        from tests.promdata import GPU_MODELS, Load, Node, Pod, Scenario
    except ImportError as exc:  # pragma: no cover - a production image has no tests/
        raise CommandError(f"Sample metrics need the checkout's tests/ package: {exc}") from exc
    return MissingPrometheus, PrometheusServer, GPU_MODELS, Load, Node, Pod, Scenario


def build_scenario(end: float, hours: int):
    """The scenario and the endpoints it plays (one pod each)."""
    _, _, gpu_models, load_cls, node_cls, pod_cls, scenario_cls = _generator()
    start = end - hours * HOUR
    s = scenario_cls(start, end, scrape_interval=60, seed=28)
    played = []
    endpoints = (
        Endpoint.objects.filter(desired_state=DesiredState.PRESENT, status__in=SERVING)
        .exclude(offering=None)
        .select_related("team", "offering", "gpu_type")
        .order_by("pk")
    )
    for i, ep in enumerate(endpoints):
        s.add_namespace(ep.namespace, labels={"modelport.io/team": ep.team.slug})
        gpu = next((k for k in gpu_models if ep.gpu_type.name.startswith(k)), "L4")
        node = f"sample-{ep.offering.instance_type}-{i}"
        s.add_node(
            node_cls(
                node,
                instance_type=ep.offering.instance_type,
                capacity_type=ep.capacity_type,
                gpus=ep.offering.gpus_per_node,
                gpu=gpu,
            )
        )
        peak = 1.0 + (i % 3)

        def rate(t, peak=peak):  # busier in the (UTC) working day, never quite idle
            hour = (t % 86400) / 3600
            return 0.2 + peak * max(0.0, math.sin(math.pi * (hour - 7) / 12))

        s.add_pod(
            pod_cls(
                f"{ep.isvc_name}-predictor-sample-{i}",
                ep.namespace,
                node=node,
                gpus=ep.gpu_count,
                start=start,
                team=ep.team.slug,
                endpoint=ep.name,
                isvc=ep.isvc_name,
                labels={"modelport.io/endpoint-uuid": str(ep.uuid)},
                load=load_cls(
                    ep.isvc_name,
                    requests_per_s=rate,
                    finish_reasons={"stop": 0.92, "length": 0.075, "abort": 0.005},
                ),
            )
        )
        played.append(ep)
    if played:  # an idle node: the platform's idle cost
        first = played[0]
        s.add_node(
            node_cls(
                "sample-idle-0",
                instance_type=first.offering.instance_type,
                capacity_type="on-demand",
                gpus=first.offering.gpus_per_node,
            )
        )
    return s, played


class Command(BaseCommand):
    help = "Start a Prometheus filled with labelled sample history for the first run (dev only)."

    def add_arguments(self, parser):
        parser.add_argument("--workdir", default="var/sample-prometheus")
        parser.add_argument("--env-file", default="", help="Write PROMETHEUS_URL=... here.")
        parser.add_argument("--hours", type=int, default=12, help="Hours of history (1-168).")
        parser.add_argument(
            "--no-wait", action="store_true", help="Stop Prometheus after filling (tests)."
        )

    def handle(self, *args, **options):
        hours = options["hours"]
        if not 1 <= hours <= 168:
            raise CommandError("--hours must be between 1 and 168.")
        missing, server_cls, *_ = _generator()
        t0 = time.monotonic()
        end = math.floor(time.time() / 60) * 60
        scenario, played = build_scenario(end, hours)
        if not played:
            raise CommandError("No approved endpoint to play: run `manage.py seed_demo` first.")
        data = Path(options["workdir"]) / "data"
        if data.is_dir():  # a previous run's sample: start afresh, never overlap two samples
            shutil.rmtree(data)
        if options["env_file"]:
            Path(options["env_file"]).unlink(missing_ok=True)
        try:
            prom = server_cls(workdir=options["workdir"])
        except missing as exc:
            raise CommandError(str(exc)) from exc
        prom.start()
        try:
            prom.backfill(scenario.openmetrics())
            client = PrometheusClient(
                prom.url, timeout=settings.BILLING_PROMETHEUS_TIMEOUT, cache_seconds=0
            )
            stop = timeutil.floor_hour(datetime.fromtimestamp(end, UTC))
            rows = 0
            t = stop - timedelta(hours=hours - 1)
            while t < stop:  # whole hours only, one day per round trip
                nxt = min(t + timedelta(hours=24), stop)
                rows += billing_services.collect_gpu_usage(t, nxt, client=client).rows
                t = nxt
            if options["env_file"]:
                Path(options["env_file"]).write_text(
                    f"export PROMETHEUS_URL={prom.url}\nexport MODELPORT_SAMPLE_METRICS=true\n"
                )
            self.stdout.write(
                f"Sample history ready in {time.monotonic() - t0:.1f} s: {len(played)} "
                f"endpoints over {hours} h, {rows} usage rows; PROMETHEUS_URL={prom.url}"
            )
            if options["no_wait"]:
                return
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        finally:
            prom.stop()
