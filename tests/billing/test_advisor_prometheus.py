"""The advisor's DCGM input against a real Prometheus: the peak GPU memory of a replica
(deployments.endpoints.metrics.gpu_memory_peak_gib, both DCGM label styles) and a right-size suggestion made
from it. Times are derived from the clock's hour, never its day or hour of day."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.services import advisor
from deployments.endpoints import metrics
from portal.prometheus import PrometheusClient
from portal.timeutil import floor_hour
from tests.factories import EndpointFactory, TeamFactory

from .advisor_helpers import add_rows, existed_since, price_catalog

pytestmark = [pytest.mark.dates, pytest.mark.prometheus]

FAMILY = "# TYPE DCGM_FI_DEV_FB_USED gauge\n"


def _series(labels: dict, points: list[tuple[float, float]]) -> str:
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "".join(f"DCGM_FI_DEV_FB_USED{{{text}}} {v} {t:.3f}\n" for t, v in points)


@pytest.fixture
def slug():
    return f"adv{uuid.uuid4().hex[:8]}"  # its own namespace in the shared session server


def _backfill(prometheus_server, namespace: str, end: datetime) -> None:
    t0 = (end - timedelta(hours=2)).timestamp()
    at = [t0 + 60 * i for i in range(6)]
    exported = {
        "namespace": "gpu-operator",
        "pod": "dcgm-exporter-1",
        "exported_namespace": namespace,
    }
    text = FAMILY
    # reports, exported_* style, two GPUs: peaks 12000 and 11000 MiB at different times.
    text += _series(
        {**exported, "exported_pod": "reports-predictor-7d9-a", "gpu": "0"},
        list(zip(at, [9000, 12000, 10000, 9000, 9000, 9000], strict=True)),
    )
    text += _series(
        {**exported, "exported_pod": "reports-predictor-7d9-a", "gpu": "1"},
        list(zip(at, [8000, 8000, 8000, 11000, 8000, 8000], strict=True)),
    )
    # reports' second replica, honorLabels style (plain pod/namespace): 2 x 5000 MiB.
    for gpu in ("0", "1"):
        text += _series(
            {"namespace": namespace, "pod": "reports-predictor-7d9-b", "gpu": gpu},
            [(t, 5000) for t in at],
        )
    # chat: one GPU, 17408 MiB (17 GiB) at most.
    text += _series(
        {**exported, "exported_pod": "chat-predictor-5c4-a", "gpu": "0"},
        list(zip(at, [16000, 17408, 16000, 15000, 15000, 15000], strict=True)),
    )
    prometheus_server.backfill(text + "# EOF\n")


def test_peak_memory_of_one_replica_per_endpoint(prometheus_server, slug):
    end = floor_hour(datetime.now(UTC))
    namespace = f"mp-{slug}"
    _backfill(prometheus_server, namespace, end)
    client = PrometheusClient(prometheus_server.url, timeout=10)
    keys = [(namespace, "reports"), (namespace, "chat"), (namespace, "absent")]
    peaks = metrics.gpu_memory_peak_gib(client, keys, end, 14 * 86400)
    # reports: each GPU's peak summed over the pod (12000 + 11000), the larger replica.
    assert peaks == {
        (namespace, "reports"): pytest.approx(23000 / 1024),
        (namespace, "chat"): pytest.approx(17.0),
    }


def test_the_advisor_sizes_with_the_measured_peak(
    prometheus_server, slug, settings, time_machine, db, in_november
):
    end = floor_hour(datetime.now(UTC))
    now = end + timedelta(minutes=30)
    time_machine.move_to(now)
    settings.PROMETHEUS_URL = prometheus_server.url
    _backfill(prometheus_server, f"mp-{slug}", end)
    catalog = price_catalog()
    l40s = catalog["g6e.xlarge"]
    team = TeamFactory(slug=slug)
    chat = EndpointFactory(team=team, name="chat", gpu_type=l40s.gpu_type, offering=l40s)
    start = end - timedelta(days=14)
    existed_since(chat, start - timedelta(days=1))
    add_rows(chat, lambda h: (3600, "1.86", 50_000), start=start, end=end)
    advice = advisor.team_advice(team, now)
    assert advice.memory_measured
    sized = [s for s in advice.suggestions if s.kind == "right_size"]
    # 17 GiB held = bf16 weights + overhead + one sequence: one L4 fits, 720 x (1.86 - 0.80).
    assert sized and sized[0].proposal["gpu_type"] == "L4"
    assert sized[0].monthly_saving == Decimal("763.20")  # November: 720 h
